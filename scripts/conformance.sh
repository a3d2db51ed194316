#!/usr/bin/env bash
# Runs the OCI conformance checks against example-app, once per store (memory, fs), with all four
# workflows and automatic cross-mount on:
#   1. the official suite (opencontainers/distribution-spec conformance, v1.1.1 commit a139cc4),
#      built from the Go module proxy and cached in .cache/, when the proxy serves it;
#   2. always, berth's own port of the suite's checks (scripts/conformance.ts).
# Exits non-zero if any run has a failure. Set BERTH_CONFORMANCE_BIN to use an official binary built elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."

MOD=github.com/opencontainers/distribution-spec/conformance
REV=a139cc423184af6078077b9b7ee336eddbd03f8f
CACHE=.cache/conformance
PORT=${BERTH_CONFORMANCE_PORT:-5080}
mkdir -p "$CACHE"

official=${BERTH_CONFORMANCE_BIN:-}
if [ -z "$official" ] && [ -x "$CACHE/conformance-$REV.test" ]; then official="$CACHE/conformance-$REV.test"; fi
if [ -z "$official" ] && command -v go >/dev/null; then
  echo "== building the official conformance suite $MOD@$REV from the Go module proxy"
  if answer=$(go mod download -json "$MOD@$REV" 2>&1) && dir=$(printf '%s' "$answer" | grep -o '"Dir": *"[^"]*"' | cut -d'"' -f4) && [ -n "$dir" ]; then
    work=$(mktemp -d)
    cp -r "$dir"/. "$work" && chmod -R u+w "$work"
    if (cd "$work" && CGO_ENABLED=0 go test -c -o conformance.test -ldflags "-X $MOD.Version=v1.1.1"); then
      mv "$work/conformance.test" "$CACHE/conformance-$REV.test"
      official="$CACHE/conformance-$REV.test"
    else
      echo "!! building the official suite failed (output above); running berth's port of its checks only"
    fi
    rm -rf "$work"
  else
    echo "!! the Go module proxy did not serve the official suite; it answered:"
    printf '%s\n' "$answer" | sed 's/^/!!   /'
    echo "!! running berth's port of the suite's checks only (scripts/conformance.ts)"
  fi
fi

[ -n "$official" ] && official=$(realpath "$official")
status=0
summary=()
server_pid=
stop_server() { if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; server_pid=; fi; }
trap stop_server EXIT

for store in memory fs; do
  data=$(mktemp -d)
  PORT=$PORT BERTH_STORE=$store BERTH_DATA_DIR="$data/data" node --import tsx example-app/server.ts > "$data/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 100); do grep -q 'berth example app on' "$data/server.log" && break; sleep 0.1; done
  # the server must be ours and alive: a taken port would otherwise test whatever holds it
  if ! kill -0 "$server_pid" 2>/dev/null || ! curl -sf "http://127.0.0.1:$PORT/v2/" >/dev/null; then
    echo "!! example app ($store store) did not start on port $PORT:"; cat "$data/server.log"; exit 1
  fi
  export OCI_ROOT_URL="http://127.0.0.1:$PORT" OCI_NAMESPACE=myorg/myrepo OCI_CROSSMOUNT_NAMESPACE=myorg/other \
    OCI_TEST_PULL=1 OCI_TEST_PUSH=1 OCI_TEST_CONTENT_DISCOVERY=1 OCI_TEST_CONTENT_MANAGEMENT=1 OCI_AUTOMATIC_CROSSMOUNT=1

  echo "== berth's port of the conformance checks, $store store"
  if out=$(node --import tsx scripts/conformance.ts 2>&1); then :; else status=1; fi
  printf '%s\n' "$out"
  summary+=("port, $store store: $(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -1)")

  if [ -n "$official" ]; then
    echo "== official conformance suite v1.1.1, $store store"
    mkdir -p "$data/results"
    if (cd "$data" && OCI_REPORT_DIR=results "$official" -ginkgo.no-color > suite.log 2>&1); then :; else status=1; fi
    tail -4 "$data/suite.log"
    counts=$(for s in passed failed skipped; do n=$(grep -o "status=\"$s\"" "$data/results/junit.xml" | wc -l); [ "$s" = passed ] && n=$((n - 1)); printf '%s %s, ' "$n" "$s"; done)
    summary+=("official, $store store: ${counts%, } (junit.xml, HTML reporter node not counted)")
  fi
  stop_server
  rm -rf "$data"
done

echo "== conformance summary"
printf '%s\n' "${summary[@]}"
exit $status
