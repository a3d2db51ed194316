#!/usr/bin/env bash
# The pull-through cache (docs/mirror.md, "Tests") for CI, against local upstreams only:
#   - CNCF Distribution v3.1.1 (`go install github.com/distribution/distribution/v3/cmd/registry@v3.1.1`), built once
#     and cached in $BERTH_DISTRIBUTION_CACHE (default .cache/distribution/; its GOMODCACHE and GOCACHE live there too);
#   - crane as scripts/clients/install.sh builds and caches it ($BERTH_CLIENTS_CACHE or .cache/clients/crane-<version>/):
#     when it is not cached yet, only crane is built, with install.sh's recipe and into its cache;
#   - Debian's skopeo (apt-get when missing).
# Then test/mirror/*.test.ts (berth as upstream, in process, with token and Basic auth) and test/mirror/upstreams.e2e.ts
# (the same fault scenarios against Distribution with htpasswd, Distribution killed mid-blob, crane, skopeo, a
# registries.conf mirror entry as podman and CRI-O read it, containerd's ns= requests). With BERTH_MIRROR_ONLY_E2E=1
# only the latter run (for a CI whose `npm test` ran test/mirror/*.test.ts already). The last line is
# "N passed, N failed, N skipped"; the script fails on any failure or skip.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
source scripts/clients/common.sh

DISTRIBUTION_VERSION=v3.1.1
dist_cache=${BERTH_DISTRIBUTION_CACHE:-$REPO_DIR/.cache/distribution}
mkdir -p "$dist_cache"
dist_cache=$(cd "$dist_cache" && pwd)
dist_bin=$dist_cache/registry-$DISTRIBUTION_VERSION/bin/registry

echo "== CNCF Distribution $DISTRIBUTION_VERSION"
if [ ! -x "$dist_bin" ]; then
  command -v go >/dev/null || { echo "!! Distribution is not cached ($dist_bin) and go is not installed to build it (Go >= 1.25)" >&2; exit 1; }
  t=$(date +%s)
  echo "building it (not cached yet) with $(go version)"
  rm -rf "$dist_cache/registry-$DISTRIBUTION_VERSION.partial"
  GOMODCACHE=$dist_cache/go/mod GOCACHE=$dist_cache/go/build CGO_ENABLED=0 GOFLAGS=-buildvcs=false \
    GOBIN=$dist_cache/registry-$DISTRIBUTION_VERSION.partial/bin \
    go install "github.com/distribution/distribution/v3/cmd/registry@$DISTRIBUTION_VERSION" > "$dist_cache/build.log" 2>&1 \
    || { tail -40 "$dist_cache/build.log"; echo "!! building Distribution failed" >&2; exit 1; }
  rm -rf "$dist_cache/registry-$DISTRIBUTION_VERSION"
  mv "$dist_cache/registry-$DISTRIBUTION_VERSION.partial" "$dist_cache/registry-$DISTRIBUTION_VERSION"
  echo "built in $(( $(date +%s) - t )) s"
fi
"$dist_bin" --version

echo "== crane"
crane_bin=$(client_bin crane)
if [ ! -x "$crane_bin" ]; then
  command -v go >/dev/null || { echo "!! crane is not cached ($crane_bin) and go is not installed to build it" >&2; exit 1; }
  version=$(client_version crane)
  echo "building crane $version (not cached yet), as scripts/clients/install.sh does"
  rm -rf "$CACHE/crane-$version.partial"
  GOMODCACHE=$CACHE/go/mod GOCACHE=$CACHE/go/build CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOBIN=$CACHE/crane-$version.partial/bin \
    go install -trimpath "github.com/google/go-containerregistry/cmd/crane@$version" > "$CACHE/crane-$version.build.log" 2>&1 \
    || { tail -40 "$CACHE/crane-$version.build.log"; echo "!! building crane failed" >&2; exit 1; }
  rm -rf "$CACHE/crane-$version" && mv "$CACHE/crane-$version.partial" "$CACHE/crane-$version"
fi
echo "crane $("$crane_bin" version)"

echo "== skopeo"
if ! command -v skopeo >/dev/null; then
  echo "installing Debian's skopeo with apt-get"
  apt-get update -q > /tmp/ci-mirror-apt.log 2>&1 || { cat /tmp/ci-mirror-apt.log; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q skopeo >> /tmp/ci-mirror-apt.log 2>&1 \
    || { tail -40 /tmp/ci-mirror-apt.log; echo "!! apt-get install skopeo failed" >&2; exit 1; }
fi
skopeo --version
command -v openssl >/dev/null || { echo "!! openssl is needed for the https upstream test" >&2; exit 1; }

[ -d node_modules/express ] || npm ci --no-audit --no-fund

echo "== mirror tests: berth upstreams in process, Distribution, real clients"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
t=$(date +%s)
files=(test/mirror/upstreams.e2e.ts)
[ "${BERTH_MIRROR_ONLY_E2E:-0}" = 1 ] || files=(test/mirror/*.test.ts "${files[@]}")
DISTRIBUTION_BIN=$dist_bin CRANE_BIN=$crane_bin SKOPEO_BIN=$(command -v skopeo) \
  npx tsx --test --test-concurrency=1 "${files[@]}" 2>&1 | tee "$log" || status=$?
echo "tests: $(( $(date +%s) - t )) s"

count() { grep -E "^# $1 [0-9]+$" "$log" | awk '{s += $3} END {print s + 0}'; }
passed=$(count pass); failed=$(count fail); skipped=$(( $(count skipped) + $(count todo) + $(count cancelled) ))
[ "$status" -eq 0 ] || [ "$failed" -gt 0 ] || failed=1
echo "== mirror: $(( $(date +%s) - started )) s"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$skipped" -eq 0 ] && [ "$passed" -gt 0 ]
