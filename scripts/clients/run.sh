#!/usr/bin/env bash
# The interoperability suite: real clients (skopeo, podman, buildah, crane, regctl, oras, helm 3 and 4, cosign,
# notation) against the example app, one scenario at a time. Each scenario asserts an outcome (digests equal, bytes
# identical, listings exact, what the server saw in its access log) and prints `ok - …` or `not ok - …` (then the
# tail of its log); the run ends with exactly one line `N passed, N failed, N skipped` and exits non-zero on any
# failure or skip. Install the clients first: scripts/clients/install.sh. What each scenario checks: docs/clients.md.
#
# Settings (environment):
#   BERTH_CLIENTS_STORE    fs (default), memory or mongo: the example app's BERTH_STORE. mongo uses MONGODB_URI when
#                          set, otherwise starts a SecantusDB with the served checkout's scripts/mongo-server.sh; each
#                          run uses a fresh database (BERTH_MONGO_DB=berth_clients_<random>), dropped at the end.
#   BERTH_CLIENTS_AUTH     none (default: BERTH_AUTH=open), basic or token: the example app runs with BERTH_AUTH=basic
#                          or token and one user (BERTH_CLIENTS_USER / BERTH_CLIENTS_PASSWORD, default a random
#                          password), every client logs in before the scenarios, and anonymous requests are refused.
#   BERTH_CLIENTS_APP_DIR  the berth checkout to serve (default: this repository); it needs `npm ci` done.
#   BERTH_CLIENTS_PORT     the example app's port (default: a free port; a new one each run keeps skopeo's
#                          system-wide blob-info cache from matching blobs of earlier runs)
#   BERTH_CLIENTS_ONLY     extended regex over "function description": run only matching scenarios; the others count
#                          as skipped (so the run fails: for local debugging only)
#   BERTH_CLIENTS_RESULTS  where logs go (default results/clients/<store>-<auth>/): the server and access logs, and the
#                          log of every failed scenario (`set -x` trace plus client output)
#   BERTH_CLIENTS_KEEP=1   keep the temporary work directory (client homes, layouts, data)
set -euo pipefail
source "$(dirname "$0")/common.sh"

STORE=${BERTH_CLIENTS_STORE:-fs}
AUTH=${BERTH_CLIENTS_AUTH:-none}
APP_DIR=$(cd "${BERTH_CLIENTS_APP_DIR:-$REPO_DIR}" && pwd)
ONLY=${BERTH_CLIENTS_ONLY:-}
RESULTS=${BERTH_CLIENTS_RESULTS:-$REPO_DIR/results/clients/$STORE-$AUTH}

die() { printf '!! %s\n' "$@" >&2; exit 1; }

# ---- the clients (built by install.sh; a missing one fails the run)
for tool in "${DEBIAN_CLIENTS[@]}" jq curl; do
  command -v "$tool" >/dev/null || die "$tool is not installed: run scripts/clients/install.sh"
done
REGCTL=$(client_bin regctl) CRANE=$(client_bin crane) ORAS=$(client_bin oras) HELM3=$(client_bin helm3)
HELM4=$(client_bin helm4) COSIGN=$(client_bin cosign) NOTATION=$(client_bin notation)
for bin in "$REGCTL" "$CRANE" "$ORAS" "$HELM3" "$HELM4" "$COSIGN" "$NOTATION"; do
  [ -x "$bin" ] || die "$bin is missing: run scripts/clients/install.sh"
done
[ -d "$APP_DIR/node_modules/tsx" ] || die "$APP_DIR has no node_modules/tsx: run npm ci there"

# ---- a private world: every client keeps its state (auth files, regctl/helm/notation config, keys, podman and
# buildah storage) under the work directory, so runs are independent of each other and of the machine's user
WORK=$(mktemp -d "${TMPDIR:-/tmp}/berth-clients-XXXXXX")
export HOME=$WORK/home
export XDG_CONFIG_HOME=$HOME/.config XDG_CACHE_HOME=$HOME/.cache XDG_DATA_HOME=$HOME/.local/share
export XDG_RUNTIME_DIR=$WORK/run DOCKER_CONFIG=$HOME/.docker REGISTRY_AUTH_FILE=$HOME/containers-auth.json
export HELM_REGISTRY_CONFIG=$HOME/.config/helm/registry/config.json REGCTL_CONFIG=$HOME/.regctl/config.json
mkdir -p "$HOME" "$XDG_RUNTIME_DIR" "$WORK/containers" "$WORK/scenarios" && chmod 700 "$XDG_RUNTIME_DIR"
echo '{"auths":{}}' > "$REGISTRY_AUTH_FILE"
rm -rf "$RESULTS" && mkdir -p "$RESULTS" && RESULTS=$(cd "$RESULTS" && pwd)

server_pid='' proxy_pid='' mongo_port='' mongo_db=''
cleanup() {
  local pid
  for pid in "$proxy_pid" "$server_pid"; do
    [ -n "$pid" ] || continue
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ -n "$mongo_port" ]; then
    bash "$APP_DIR/scripts/mongo-server.sh" stop "$mongo_port" >/dev/null 2>&1 || true
  elif [ -n "$mongo_db" ]; then
    # someone else's server (MONGODB_URI): drop this run's database
    env -C "$APP_DIR" node --input-type=module -e '
      import { MongoClient } from "mongodb";
      const client = new MongoClient(process.argv[1]);
      await client.connect();
      await client.db(process.argv[2]).dropDatabase();
      await client.close();' "$MONGODB_URI" "$mongo_db" || echo "!! could not drop database $mongo_db"
  fi
  cp "$WORK"/server.log "$WORK"/access.log "$RESULTS"/ 2>/dev/null || true
  if [ -n "${BERTH_CLIENTS_KEEP:-}" ]; then
    echo "work directory kept: $WORK"
  else
    chmod -R u+w "$WORK" 2>/dev/null || true
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT

free_port() {
  node -e 'const s = require("node:net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })'
}

# ---- the example app (started directly, so `kill $server_pid` stops it), and the access-log proxy in front of it
start_server() {
  local started port env=()
  started=$(now)
  port=${BERTH_CLIENTS_PORT:-$(free_port)}
  case $STORE in
    fs) env+=(BERTH_STORE=fs "BERTH_DATA_DIR=$WORK/data") ;;
    memory) env+=(BERTH_STORE=memory) ;;
    mongo)
      if [ -z "${MONGODB_URI:-}" ]; then
        mongo_port=$(free_port)
        eval "$(bash "$APP_DIR/scripts/mongo-server.sh" start "$mongo_port")" || die "could not start a MongoDB server"
        echo "started SecantusDB on port $mongo_port"
      fi
      mongo_db=berth_clients_$(date +%s)_$RANDOM
      env+=(BERTH_STORE=mongo "MONGODB_URI=$MONGODB_URI" "BERTH_MONGO_DB=$mongo_db") ;;
    *) die "BERTH_CLIENTS_STORE must be fs, memory or mongo (got $STORE)" ;;
  esac
  case $AUTH in
    none) env+=(BERTH_AUTH=open) ;;
    # one user who may pull, push and delete everywhere; nothing for anonymous callers
    basic|token) env+=(BERTH_AUTH="$AUTH" "BERTH_USERS=$CLIENT_USER:$CLIENT_PASSWORD" BERTH_READERS= BERTH_ANONYMOUS_PULL=) ;;
    *) die "BERTH_CLIENTS_AUTH must be none, basic or token (got $AUTH)" ;;
  esac
  env -C "$APP_DIR" PORT="$port" "${env[@]}" node --import tsx example-app/server.ts > "$WORK/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 300); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v2/")" != 000 ] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  # the server must be ours and alive: a taken port would otherwise test whatever holds it
  if ! kill -0 "$server_pid" 2>/dev/null || ! grep -q 'berth example app on' "$WORK/server.log"; then
    cat "$WORK/server.log"; die "the example app did not start on port $port"
  fi
  R=127.0.0.1:$port
  : > "$WORK/access.log"
  env -C "$APP_DIR" node --import tsx "$CLIENTS_DIR/access-log.ts" "$port" "$WORK/access.log" > "$WORK/proxy.out" 2>&1 &
  proxy_pid=$!
  for _ in $(seq 1 100); do grep -q '^listening on' "$WORK/proxy.out" && break; sleep 0.1; done
  grep -q '^listening on' "$WORK/proxy.out" || { cat "$WORK/proxy.out"; die "the access-log proxy did not start"; }
  RL=127.0.0.1:$(awk '/^listening on/ {print $3}' "$WORK/proxy.out")
  ACCESS_LOG=$WORK/access.log
  echo "example app ($STORE store, auth $AUTH) on $R (pid $server_pid), logged through $RL, up in $(since "$started") s"
}

# ---- logins, before the scenarios (both addresses: clients key credentials by host:port)
CLIENT_USER=${BERTH_CLIENTS_USER:-berth-ci}
CLIENT_PASSWORD=${BERTH_CLIENTS_PASSWORD:-$(head -c 18 /dev/urandom | base64 | tr -d '/+=')}
login_all() {
  [ "$AUTH" != none ] || return 0
  local host challenge
  # anonymous callers are refused, with the challenge of the mode
  challenge=$(curl -sS -D - -o /dev/null "http://$R/v2/" | tr -d '\r' | awk -F': ' 'tolower($1) == "www-authenticate" { print $2 }')
  echo "anonymous GET /v2/: WWW-Authenticate: $challenge"
  case $AUTH in
    basic) [[ $challenge == Basic* ]] || die "BERTH_CLIENTS_AUTH=basic, but the challenge is [$challenge]" ;;
    token)
      [[ $challenge == Bearer* ]] || die "BERTH_CLIENTS_AUTH=token, but the challenge is [$challenge]"
      TOKEN_SERVICE=$(sed -n 's/.*service="\([^"]*\)".*/\1/p' <<< "$challenge")
      [ -n "$TOKEN_SERVICE" ] || die "no service in the Bearer challenge" ;;
  esac
  for host in "$R" "$RL"; do
    skopeo login --tls-verify=false -u "$CLIENT_USER" -p "$CLIENT_PASSWORD" "$host"   # also podman's and buildah's
    podman_ login --tls-verify=false -u "$CLIENT_USER" -p "$CLIENT_PASSWORD" "$host"
    "$CRANE" auth login "$host" -u "$CLIENT_USER" -p "$CLIENT_PASSWORD"             # ~/.docker: also cosign's, notation's
    "$REGCTL" registry login "$host" -u "$CLIENT_USER" -p "$CLIENT_PASSWORD"
    "$ORAS" login --plain-http -u "$CLIENT_USER" -p "$CLIENT_PASSWORD" "$host"
    "$HELM3" registry login --plain-http -u "$CLIENT_USER" -p "$CLIENT_PASSWORD" "$host"
    "$HELM4" registry login --plain-http -u "$CLIENT_USER" -p "$CLIENT_PASSWORD" "$host"
    "$NOTATION" login --insecure-registry -u "$CLIENT_USER" -p "$CLIENT_PASSWORD" "$host"
  done > "$WORK/login.log" 2>&1 || { cat "$WORK/login.log"; die "a client could not log in"; }
  echo "every client logged in as $CLIENT_USER on $R and $RL"
}

# ---- scenarios: each file registers `scenario FUNCTION "description"`; each runs in a subshell in its own directory
SCENARIOS=()
scenario() { SCENARIOS+=("$1|$2"); }
source "$CLIENTS_DIR/lib.sh"
for file in images artifacts helm signatures pagination resume; do source "$CLIENTS_DIR/scenarios/$file.sh"; done

start_server
for host in "$R" "$RL"; do
  "$REGCTL" registry set "$host" --tls disabled --skip-check > "$WORK/regctl-set.log" 2>&1 || { cat "$WORK/regctl-set.log"; die "regctl registry set $host failed"; }
done
login_all
echo "clients: $(tail -1 "$CACHE/installed.txt" 2>/dev/null | sed 's/^clients: //')"

passed=0 failed=0 skipped=0 n=0
run_started=$(now)
for entry in "${SCENARIOS[@]}"; do
  fn=${entry%%|*} desc=${entry#*|}
  n=$((n + 1))
  if [ -n "$ONLY" ] && ! grep -Eq -- "$ONLY" <<< "$fn $desc"; then
    echo "skip - $desc (not selected by BERTH_CLIENTS_ONLY)"; skipped=$((skipped + 1)); continue
  fi
  dir=$WORK/scenarios/$n-$fn
  mkdir -p "$dir"
  started=$(now)
  # a plain command, not an `if` condition: bash ignores `set -e` inside a condition
  set +e
  ( cd "$dir" && set -euo pipefail && PS4='+ ' && set -x && "$fn" ) > "$dir.log" 2>&1
  rc=$?
  set -e
  if [ $rc -eq 0 ]; then
    echo "ok - $desc ($(since "$started") s)"; passed=$((passed + 1))
  else
    echo "not ok - $desc ($(since "$started") s, exit $rc; log: $RESULTS/$n-$fn.log)"; failed=$((failed + 1))
    cp "$dir.log" "$RESULTS/$n-$fn.log"
    grep -v '^+' "$dir.log" | tail -15 | sed 's/^/#   /'
    echo "#   last commands:"; grep '^+' "$dir.log" | tail -4 | cut -c1-300 | sed 's/^/#   /'
  fi
  # scenario data is large (layouts of up to 300 MiB); the logs stay until the end of the run
  [ -n "${BERTH_CLIENTS_KEEP:-}" ] || { chmod -R u+w "$dir" 2>/dev/null; rm -rf "$dir"; }
done

echo "scenarios ($STORE store, auth $AUTH) ran in $(since "$run_started") s; logs in $RESULTS/"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$skipped" -eq 0 ]
