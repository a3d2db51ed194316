#!/usr/bin/env bash
# The portal in a real browser and Helm's classic repository, for CI (docs/portal.md, "Tests").
#   - Debian's chromium (apt-get when missing), driven by playwright-core with a fresh profile per run;
#   - helm 3 as scripts/clients/install.sh builds and caches it ($BERTH_CLIENTS_CACHE or .cache/clients/helm3-<version>/):
#     when it is not cached yet, only helm is built, with install.sh's recipe and into its cache (Go >= 1.25 needed);
#   - test/portal/browser.e2e.ts: browse, search, open a chart, upload a chart and see it listed, pull it with
#     `helm repo add` / `helm search repo` / `helm pull` / `helm template` (and oci://), delete a tag, upload refused
#     to a reader, pages without script, axe-core accessibility checks on every page.
# Screenshots of every page land in results/portal-screenshots/ (listed at the end). The last line is
# "N passed, N failed, N skipped"; the script fails on any failure or skip.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
source scripts/clients/common.sh

echo "== chromium"
if ! command -v chromium >/dev/null; then
  echo "installing Debian's chromium with apt-get"
  apt-get update -q > /tmp/ci-portal-apt.log 2>&1 || { cat /tmp/ci-portal-apt.log; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-dejavu-core >> /tmp/ci-portal-apt.log 2>&1 \
    || { tail -40 /tmp/ci-portal-apt.log; echo "!! apt-get install chromium failed" >&2; exit 1; }
fi
chromium_bin=$(command -v chromium)
dpkg-query -W -f 'chromium ${Version}\n' chromium 2>/dev/null || "$chromium_bin" --version 2>/dev/null || true

echo "== helm"
helm_bin=$(client_bin helm3)
if [ ! -x "$helm_bin" ]; then
  command -v go >/dev/null || { echo "!! helm is not cached ($helm_bin) and go is not installed to build it" >&2; exit 1; }
  version=$(client_version helm3)
  echo "building helm $version (not cached yet), as scripts/clients/install.sh does"
  export GOMODCACHE=$CACHE/go/mod GOCACHE=$CACHE/go/build CGO_ENABLED=0 GOFLAGS=-buildvcs=false
  rm -rf "$CACHE/helm3-$version.partial"
  GOBIN=$CACHE/helm3-$version.partial/bin go install -trimpath -ldflags "-X helm.sh/helm/v3/internal/version.version=$version" \
    "helm.sh/helm/v3/cmd/helm@$version" > "$CACHE/helm3-$version.build.log" 2>&1 \
    || { tail -40 "$CACHE/helm3-$version.build.log"; echo "!! building helm failed" >&2; exit 1; }
  rm -rf "$CACHE/helm3-$version" && mv "$CACHE/helm3-$version.partial" "$CACHE/helm3-$version"
fi
"$helm_bin" version --short

[ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund

echo "== browser tests and the helm round trip"
rm -rf results/portal-screenshots
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
CHROMIUM=$chromium_bin HELM_BIN=$helm_bin npx tsx --test --test-concurrency=1 test/portal/browser.e2e.ts 2>&1 | tee "$log" || status=$?

echo "== screenshots: results/portal-screenshots/"
ls -1 results/portal-screenshots/*.png 2>/dev/null | sed 's/^/  /' || echo "  (none)"

count() { grep -E "^# $1 [0-9]+$" "$log" | awk '{s += $3} END {print s + 0}'; }
passed=$(count pass); failed=$(count fail); skipped=$(( $(count skipped) + $(count todo) + $(count cancelled) ))
[ "$status" -eq 0 ] || [ "$failed" -gt 0 ] || failed=1
echo "== portal: $(( $(date +%s) - started )) s"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$skipped" -eq 0 ] && [ "$passed" -gt 0 ]
