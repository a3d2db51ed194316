# shellcheck shell=bash
# Shared by scripts/clients/*.sh (sourced): where the clients live and how to find them.
# BERTH_CLIENTS_CACHE moves the cache (default .cache/clients in the repo, gitignored). CI clones the repo afresh
# for every run, so point it at a directory outside the clone to reuse builds between CI runs.

CLIENTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$CLIENTS_DIR/../.." && pwd)
CACHE=${BERTH_CLIENTS_CACHE:-$REPO_DIR/.cache/clients}
mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd)
VERSIONS_FILE=$CLIENTS_DIR/versions
DEBIAN_CLIENTS=(skopeo podman buildah)

# the Go clients of the versions file, one "name package version" line each
go_clients() { grep -Ev '^[[:space:]]*(#|$)' "$VERSIONS_FILE"; }

# client_version NAME: the pinned version of a Go client
client_version() {
  local name pkg version
  while read -r name pkg version; do
    if [ "$name" = "$1" ]; then echo "$version"; return 0; fi
  done < <(go_clients)
  echo "unknown client $1" >&2; return 1
}

# client_bin NAME: the path of a Go client's cached binary (helm3 and helm4 are both called helm)
client_bin() {
  local version; version=$(client_version "$1") || return 1
  echo "$CACHE/$1-$version/bin/${1%[0-9]}"
}

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
