#!/usr/bin/env bash
# CI for the GridFS store (issue 7): starts a SecantusDB server (scripts/mongo-server.sh, installed from PyPI and
# cached in .cache/secantusdb/), runs the storage contract suite and the GridFS tests on it, the multi-instance
# test (two example-app processes on one database), and the official conformance suite on the mongo store; stops
# the server; and closes with one line `mongo: N passed, N failed, N skipped`. A test that skips for want of a
# server fails here (BERTH_REQUIRE_MONGODB=1). Exits non-zero on any failure.
#
# Settings: BERTH_CI_MONGO_PORT (default 27217) for the database; the conformance suite's own settings
# (BERTH_CONFORMANCE_PORT, BERTH_CONFORMANCE_BIN, …) pass through to scripts/conformance.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
port=${BERTH_CI_MONGO_PORT:-27217}
logs=$(mktemp -d)
started=$SECONDS

cleanup() {
  bash scripts/mongo-server.sh stop "$port" || true
  rm -rf "$logs"
}
trap cleanup EXIT

echo "== MongoDB-wire server (SecantusDB) on port $port"
server=$(bash scripts/mongo-server.sh start "$port")
eval "$server"
export MONGODB_URI BERTH_REQUIRE_MONGODB=1

status=0
echo "== GridFS store: storage contract suite, GridFS tests and the multi-instance test"
npx tsx --test --test-concurrency=1 test/storage/mongo.test.ts test/multi-instance/multi-instance.test.ts 2>&1 | tee "$logs/test.log" || status=1

echo "== the store-parametrised API tests on the GridFS store: racing writers, online garbage collection"
BERTH_TEST_STORES=mongo npx tsx --test --test-concurrency=1 test/api/races.test.ts test/api/gc.test.ts 2>&1 | tee -a "$logs/test.log" || status=1

echo "== official conformance suite on the mongo store"
BERTH_CONFORMANCE_RUNS="mongo mongo:basic mongo:token" bash scripts/conformance.sh 2>&1 | tee "$logs/conformance.log" || status=1

count() { grep -E "^# $1 [0-9]+$" "$logs/test.log" | awk '{s += $3} END {print s + 0}'; }
read -r conf_pass conf_fail conf_skip < <(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$logs/conformance.log" \
  | awk '{p += $1; f += $3; s += $5} END {print p + 0, f + 0, s + 0}')
passed=$(($(count pass) + conf_pass))
failed=$(($(count fail) + $(count cancelled) + conf_fail))
skipped=$(($(count skipped) + conf_skip))
# a run that reported nothing failed, whatever the exit codes said
if [ "$passed" -eq 0 ]; then failed=$((failed + 1)); status=1; fi
if [ "$failed" -gt 0 ]; then status=1; fi
echo "== GridFS store CI took $((SECONDS - started)) s (tests: $(count pass) passed; conformance: $conf_pass passed, $conf_skip skipped)"
echo "mongo: $passed passed, $failed failed, $skipped skipped"
exit $status
