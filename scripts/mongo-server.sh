#!/usr/bin/env bash
# A local MongoDB-wire server for development and CI: SecantusDB from PyPI (test-infrastructure.md §4), installed
# into a venv cached under .cache/secantusdb/ and run with its data in a fresh directory.
#
#   bash scripts/mongo-server.sh start [PORT]   installs if needed, starts on 127.0.0.1:PORT (default 27117), waits
#                                                until it answers, and prints three lines:
#                                                  MONGODB_PID=<pid>
#                                                  MONGODB_URI=mongodb://127.0.0.1:<port>/?directConnection=true
#                                                  MONGODB_DATA=<data dir>
#                                                so `eval "$(bash scripts/mongo-server.sh start)"` sets them.
#   bash scripts/mongo-server.sh stop [PORT]    stops the server started on PORT (SIGTERM, then SIGKILL after 10 s)
#                                                and removes its data directory.
#   bash scripts/mongo-server.sh install        only installs (for a CI cache step).
#
# Settings: BERTH_SECANTUS_VERSION (default 0.7.0b3), BERTH_MONGO_DATA (data directory; default a new temp dir),
# PYTHON (default python3; SecantusDB ships wheels for Python 3.10–3.13).
# The server's own log is in <data dir>.log. Its state (pid, data dir) is kept in .cache/secantusdb/run-<port>.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=${BERTH_SECANTUS_VERSION:-0.7.0b3}
CACHE=.cache/secantusdb
VENV=$CACHE/venv-$VERSION
PYTHON=${PYTHON:-python3}
command=${1:-start}
PORT=${2:-27117}
STATE=$CACHE/run-$PORT

die() { printf '!! %s\n' "$@" >&2; exit 1; }
log() { printf '%s\n' "$@" >&2; }

install() {
  # the marker is written last, so an interrupted install is redone rather than trusted
  if [ -f "$VENV/.installed" ] && [ -x "$VENV/bin/secantusd-py" ]; then return; fi
  command -v "$PYTHON" >/dev/null || die "$PYTHON is not installed: SecantusDB needs Python 3.10-3.13"
  log "== installing SecantusDB $VERSION from PyPI into $VENV"
  local started=$SECONDS
  rm -rf "$VENV"
  mkdir -p "$CACHE"
  if ! "$PYTHON" -m venv "$VENV" >&2; then
    # Debian's python3 ships venv separately; CI runs as root, so bring it in once
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      log "python3 -m venv failed; installing Debian's python3-venv"
      rm -rf "$VENV"
      { apt-get update && apt-get install -y python3-venv; } >&2 || die "could not install python3-venv"
      "$PYTHON" -m venv "$VENV" >&2 || die "could not create a venv with $PYTHON"
    else
      die "could not create a venv with $PYTHON (on Debian: apt-get install -y python3-venv)"
    fi
  fi
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "SecantusDB==$VERSION" >&2 \
    || die "pip could not install SecantusDB==$VERSION"
  [ -x "$VENV/bin/secantusd-py" ] || die "SecantusDB installed, but $VENV/bin/secantusd-py is missing"
  touch "$VENV/.installed"
  log "installed in $((SECONDS - started)) s"
}

start() {
  install
  if [ -f "$STATE" ]; then
    read -r old_pid _ < "$STATE" || true
    if [ -n "${old_pid:-}" ] && kill -0 "$old_pid" 2>/dev/null; then die "a server started by this script already runs on port $PORT (pid $old_pid); stop it with: $0 stop $PORT"; fi
    rm -f "$STATE"
  fi
  # a taken port would make us talk to someone else's server
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then die "port $PORT is taken; pick another: $0 start PORT"; fi
  local data=${BERTH_MONGO_DATA:-$(mktemp -d "${TMPDIR:-/tmp}/berth-mongo-XXXXXX")}
  mkdir -p "$data"
  "$VENV/bin/secantusd-py" --host 127.0.0.1 --port "$PORT" --storage-path "$data" --log-level WARNING --cache-size 256M \
    > "$data.log" 2>&1 < /dev/null &
  local pid=$!
  echo "$pid $data" > "$STATE"
  local started=$SECONDS
  # ready = answers a ping on the wire, not just an open port
  until node -e '
    const { MongoClient } = require("mongodb");
    const c = new MongoClient(process.argv[1], { serverSelectionTimeoutMS: 500 });
    c.db("admin").command({ ping: 1 }).then(() => c.close().then(() => process.exit(0)), () => c.close().then(() => process.exit(1)));
  ' "mongodb://127.0.0.1:$PORT/?directConnection=true" 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null; then cat "$data.log" >&2; rm -f "$STATE"; die "SecantusDB exited during start-up (log above)"; fi
    if [ $((SECONDS - started)) -ge 60 ]; then cat "$data.log" >&2; stop; die "SecantusDB did not answer on port $PORT within 60 s"; fi
    sleep 0.2
  done
  log "SecantusDB $VERSION on 127.0.0.1:$PORT (pid $pid, data $data, ready in $((SECONDS - started)) s); stop it with: bash scripts/mongo-server.sh stop $PORT"
  echo "MONGODB_PID=$pid"
  echo "MONGODB_URI=mongodb://127.0.0.1:$PORT/?directConnection=true"
  echo "MONGODB_DATA=$data"
}

stop() {
  [ -f "$STATE" ] || { log "no server started by this script on port $PORT"; return 0; }
  local pid data
  read -r pid data < "$STATE"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then log "SecantusDB (pid $pid) ignored SIGTERM for 10 s; killing it"; kill -9 "$pid" 2>/dev/null || true; fi
  fi
  # only a directory this script made (BERTH_MONGO_DATA is the caller's)
  if [ -z "${BERTH_MONGO_DATA:-}" ] && [ -n "$data" ]; then rm -rf "$data" "$data.log"; fi
  rm -f "$STATE"
  log "SecantusDB on port $PORT stopped"
}

case $command in
  install) install ;;
  start) start ;;
  stop) stop ;;
  *) die "usage: $0 start|stop|install [PORT]" ;;
esac
