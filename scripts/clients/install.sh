#!/usr/bin/env bash
# Installs every client the interoperability suite runs, and fails loudly if any of them cannot be installed.
#   - Debian: skopeo, podman, buildah (and jq, which the scenarios use), with apt-get when one is missing.
#   - Go module proxy: the clients and versions pinned in scripts/clients/versions, built with CGO_ENABLED=0 one at
#     a time and cached by version in $CACHE/<name>-<version>/bin/ (default .cache/clients/, see common.sh).
#     GOMODCACHE and GOCACHE live in $CACHE/go/ so a CI cache of that one directory makes the next run warm.
#     notation v1.3.2 cannot be `go install`ed (the proxy refuses the module's version list, which go install
#     reads for deprecation notices), so it is `go mod download`ed, copied to a writable directory and built there.
# Prints one line per client (cached, or built in N s), the total time, and the versions it provides; writes
# the same report to $CACHE/installed.txt.
#   install.sh --check-newer   lists releases newer than the pinned ones (reads the module proxy; installs nothing)
set -euo pipefail
source "$(dirname "$0")/common.sh"

die() { printf '!! %s\n' "$@" >&2; exit 1; }

export GOMODCACHE=$CACHE/go/mod GOCACHE=$CACHE/go/build CGO_ENABLED=0 GOFLAGS=-buildvcs=false

if [ "${1:-}" = --check-newer ]; then
  command -v go >/dev/null || die "go is not installed"
  while read -r name pkg version; do
    module=${pkg%/cmd/*}
    newest=$(cd /tmp && go list -m -versions "$module" 2>/dev/null | tr ' ' '\n' | grep -E '^v[0-9]+\.[0-9]+\.[0-9]+$' \
      | sort -V | tail -1 || true)
    if [ -z "$newest" ]; then echo "$name: pinned $version; the proxy does not list $module"
    elif [ "$newest" = "$version" ]; then echo "$name: pinned $version is the newest"
    else echo "$name: pinned $version; newer: $newest"; fi
  done < <(go_clients)
  exit 0
fi

started_all=$(now)
report=()

# ---- Debian clients
echo "== Debian clients: ${DEBIAN_CLIENTS[*]}"
started=$(now)
missing=()
for tool in "${DEBIAN_CLIENTS[@]}" jq curl; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing with apt-get: ${missing[*]}"
  apt-get update -q > "$CACHE/apt.log" 2>&1 || { cat "$CACHE/apt.log"; die "apt-get update failed"; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >> "$CACHE/apt.log" 2>&1 \
    || { tail -40 "$CACHE/apt.log"; die "apt-get install ${missing[*]} failed"; }
  for tool in "${missing[@]}"; do command -v "$tool" >/dev/null || die "apt-get installed no $tool command"; done
  line="debian (${missing[*]}): installed in $(since "$started") s"
else
  line="debian: already installed"
fi
echo "$line"; report+=("$line")
for pkg in "${DEBIAN_CLIENTS[@]}"; do
  report+=("  $pkg $(dpkg-query -W -f '${Version}' "$pkg" 2>/dev/null || echo '(not from a Debian package)')")
done

# ---- Go clients
command -v go >/dev/null || die "go is not installed: the Go clients need Go >= 1.25 (see scripts/clients/versions)"
echo "== Go clients ($(go version)), GOMODCACHE and GOCACHE under $CACHE/go/"
mkdir -p "$GOMODCACHE" "$GOCACHE"

# build_one NAME PKG VERSION OUTDIR LOG: builds NAME into OUTDIR/bin
build_one() {
  local name=$1 pkg=$2 version=$3 out=$4 log=$5 ldflags=
  case $name in
    # version strings the official release builds set, so `<tool> version` tells the truth
    helm3) ldflags="-X helm.sh/helm/v3/internal/version.version=$version" ;;
    helm4) ldflags="-X helm.sh/helm/v4/internal/version.version=$version" ;;
    cosign) ldflags="-X sigs.k8s.io/release-utils/version.gitVersion=$version" ;;
    notation) ldflags="-X github.com/notaryproject/notation/internal/version.BuildMetadata=" ;;
  esac
  mkdir -p "$out/bin"
  if [ "$name" = notation ]; then
    local module=${pkg%/cmd/*} work dir
    work=$(mktemp -d)
    # from an empty directory, so no go.mod around here takes part
    (cd "$work" && go mod download -json "$module@$version") > "$work/download.json" 2>> "$log" \
      || { cat "$work/download.json" >> "$log"; rm -rf "$work"; return 1; }
    dir=$(jq -r '.Dir // empty' "$work/download.json")
    [ -n "$dir" ] && [ -d "$dir" ] || { cat "$work/download.json" >> "$log"; rm -rf "$work"; return 1; }
    cp -r "$dir" "$work/src" && chmod -R u+w "$work/src"
    (cd "$work/src" && go build -trimpath -ldflags "$ldflags" -o "$out/bin/notation" "./${pkg#"$module"/}") >> "$log" 2>&1 \
      || { rm -rf "$work"; return 1; }
    rm -rf "$work"
  else
    GOBIN=$out/bin go install -trimpath -ldflags "$ldflags" "$pkg@$version" >> "$log" 2>&1
  fi
}

while read -r name pkg version; do
  dest=$CACHE/$name-$version
  bin=$(client_bin "$name")
  if [ -x "$bin" ]; then
    line="$name $version: cached"
  else
    started=$(now)
    partial=$dest.partial
    log=$CACHE/$name-$version.build.log
    rm -rf "$partial"
    echo "building $name $version ($pkg)"
    if ! build_one "$name" "$pkg" "$version" "$partial" "$log"; then
      tail -40 "$log" | sed 's/^/!!   /' >&2
      die "building $name $version failed after $(since "$started") s (log: $log)"
    fi
    [ -x "$partial/bin/$(basename "$bin")" ] || die "building $name $version produced no $(basename "$bin") binary"
    rm -rf "$dest" && mv "$partial" "$dest"
    line="$name $version: built in $(since "$started") s"
  fi
  echo "$line"; report+=("$line")
done < <(go_clients)

# ---- every client answers
versions=()
while read -r name _ _; do
  bin=$(client_bin "$name")
  case $name in
    regctl) v=$("$bin" version --format '{{.VCSTag}}') ;;
    crane) v=$("$bin" version) ;;
    oras) v=$("$bin" version | sed -n 's/^Version: *//p') ;;
    helm3|helm4) v=$("$bin" version --short) ;;
    cosign) v=$("$bin" version 2>&1 | sed -n 's/^GitVersion: *//p') ;;
    notation) v=$("$bin" version | sed -n 's/^Version: *//p') ;;
  esac || die "$name does not run: $bin"
  versions+=("$name ${v:-?}")
done < <(go_clients)
versions+=("skopeo $(skopeo --version | awk '{print $3}')" "podman $(podman --version | awk '{print $3}')"
  "buildah $(buildah --version | awk '{print $3}')")

total="clients install: $(since "$started_all") s"
echo "$total"
joined=$(printf '%s, ' "${versions[@]}"); joined=${joined%, }
echo "clients: $joined"
printf '%s\n' "${report[@]}" "$total" "clients: $joined" > "$CACHE/installed.txt"
