#!/usr/bin/env bash
# Runs the official OCI Distribution conformance suite (opencontainers/distribution-spec `conformance/`, the
# rewritten suite pinned below) against example-app, once per store, with every API and content option on except
# sparse manifests (OCI_DATA_SPARSE: berth refuses an index whose children were not pushed).
#
# The suite is built from the Go module proxy (needs Go >= 1.24) and cached in .cache/conformance/ by version; a
# failed download or build fails the run. For each store it prints the skipped tests, every failure with the
# suite's message, and one line `N passed, N failed, N skipped` counted from the suite's junit.xml. The full output
# and the suite's reports (results.yaml, junit.xml, report.html) are kept in results/conformance/<store>/.
# Exits non-zero if a store has a failure, no results, or a skip other than BERTH_CONFORMANCE_ALLOWED_SKIPS.
#
# Settings:
#   BERTH_CONFORMANCE_RUNS    runs, in order, each `<store>` or `<store>:<auth>` (default "memory fs fs:basic fs:token").
#                             Each run starts example-app with BERTH_STORE=<store> and BERTH_DATA_DIR=<fresh temp
#                             dir>; the server inherits this script's environment, so settings a new store needs are
#                             passed as env variables. `mongo` (the GridFS store) needs MONGODB_URI
#                             (scripts/mongo-server.sh starts a local server); each run uses a fresh database,
#                             dropped afterwards. `<auth>` is `basic` or `token`: the app runs with BERTH_AUTH=<auth>
#                             and one generated user, and the suite logs in with OCI_USERNAME/OCI_PASSWORD.
#   BERTH_CONFORMANCE_STORES  the older spelling: stores to test anonymously (used when BERTH_CONFORMANCE_RUNS is unset)
#   BERTH_CONFORMANCE_PORT    port for example-app (default 5080)
#   BERTH_CONFORMANCE_BIN     a suite binary built elsewhere (skips the build)
#   BERTH_CONFORMANCE_ALLOWED_SKIPS
#                             extended regex of test names allowed to skip (default: the two `Range: bytes=500-0`
#                             cases, where answering 200 with the whole blob is correct). The suite turns several
#                             missing features into skips rather than failures, so any other skip fails the run.
#   OCI_LOG, OCI_FILTER_TEST  passed to the suite (debug logging; run one branch of tests only). Every other OCI_*
#                             variable is set here.
set -euo pipefail
cd "$(dirname "$0")/.."

MOD=github.com/opencontainers/distribution-spec/conformance
VERSION=v0.0.0-20260831232431-97274622c111
CACHE=.cache/conformance
PORT=${BERTH_CONFORMANCE_PORT:-5080}
RUNS=${BERTH_CONFORMANCE_RUNS:-${BERTH_CONFORMANCE_STORES:-memory fs fs:basic fs:token}}
ALLOWED_SKIPS=${BERTH_CONFORMANCE_ALLOWED_SKIPS:-/range requests/range 500-0$}
# With token auth the suite mounts with the token it already holds, which grants push on the target but not pull on
# the source; berth then answers 202 and a plain upload (the spec's fallback) instead of widening what the token
# grants, and the suite records the anonymous-mount case as a skip. Every other skip still fails the run.
TOKEN_SKIPS='/blob-mount-anonymous$'
RESULTS=results/conformance

# only the settings below reach the suite
keep_log=${OCI_LOG:-}
keep_filter=${OCI_FILTER_TEST:-}
while read -r var; do unset "$var"; done < <(compgen -e | grep '^OCI_' || true)

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
die() { printf '!! %s\n' "$@" >&2; exit 1; }

# ---- the suite binary: given, cached, or built now (any failure stops the run)
if [ -n "${BERTH_CONFORMANCE_BIN:-}" ]; then
  suite=$BERTH_CONFORMANCE_BIN
  [ -x "$suite" ] || die "BERTH_CONFORMANCE_BIN=$suite is not an executable file"
  echo "== official conformance suite: $suite (BERTH_CONFORMANCE_BIN)"
elif [ -x "$CACHE/oci-conformance-$VERSION" ]; then
  suite=$CACHE/oci-conformance-$VERSION
  echo "== official conformance suite $MOD@$VERSION: cached in $suite"
else
  command -v go >/dev/null || die "go is not installed: building the official conformance suite needs Go >= 1.24"
  echo "== building the official conformance suite $MOD@$VERSION ($(go version))"
  started=$(now)
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  # from an empty directory, so no go.mod around here takes part
  if ! answer=$(cd "$work" && go mod download -json "$MOD@$VERSION" 2>&1); then
    printf '%s\n' "$answer" | sed 's/^/!!   /' >&2
    die "the Go module proxy did not serve $MOD@$VERSION (its answer is above)"
  fi
  dir=$(printf '%s' "$answer" | grep -o '"Dir": *"[^"]*"' | cut -d'"' -f4 || true)
  if [ -z "$dir" ] || [ ! -d "$dir" ]; then die "go mod download named no module directory; it answered:" "$answer"; fi
  mkdir -p "$work/src" "$CACHE"
  cp -r "$dir"/. "$work/src" && chmod -R u+w "$work/src"
  # Version ends up in the reports as the conformance commit (a module zip has no VCS data)
  if ! (cd "$work/src" && CGO_ENABLED=0 go build -trimpath -ldflags "-X main.Version=$VERSION" -o "$work/oci-conformance" .); then
    die "building the official conformance suite failed (output above; it needs Go >= 1.24, this is $(go version))"
  fi
  mv "$work/oci-conformance" "$CACHE/oci-conformance-$VERSION.partial"
  mv -f "$CACHE/oci-conformance-$VERSION.partial" "$CACHE/oci-conformance-$VERSION"
  rm -rf "$work"
  trap - EXIT
  suite=$CACHE/oci-conformance-$VERSION
  echo "== built $suite in $(since "$started") s"
fi
suite=$(realpath "$suite")

# ---- one run per store
status=0
summary=()
server_pid=
data=
stop_server() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$server_pid" 2>/dev/null; then
      echo "!! example app (pid $server_pid) ignored SIGTERM for 10 s; killing it"
      kill -9 "$server_pid" 2>/dev/null || true
    fi
    wait "$server_pid" 2>/dev/null || true
    server_pid=
  fi
  if [ -n "$data" ]; then rm -rf "$data"; data=; fi
  if [ -n "$mongo_db" ]; then drop_mongo_db "$mongo_db" || echo "!! could not drop database $mongo_db"; mongo_db=; fi
}
mongo_db=
drop_mongo_db() {
  node --input-type=module -e '
    import { MongoClient } from "mongodb";
    const client = new MongoClient(process.argv[1], { serverSelectionTimeoutMS: 5000 });
    try { await client.db(process.argv[2]).dropDatabase(); } finally { await client.close(); }
  ' "$MONGODB_URI" "$1"
}
trap stop_server EXIT

# counts and test names from the suite's junit.xml: the <testsuite> totals (what the suite itself reports), then
# one "skipped<TAB>name<TAB>reason" or "failed<TAB>name<TAB>message" line per test case that did not pass
read_junit() {
  node --input-type=module - "$1" <<'EOF'
import { readFileSync } from 'node:fs';
const xml = readFileSync(process.argv[2], 'utf8');
const text = (s) => s.replace(/&#x([0-9a-f]+);|&#(\d+);|&(lt|gt|amp|quot|apos);/gi, (_, hex, dec, name) =>
  hex ? String.fromCodePoint(parseInt(hex, 16)) : dec ? String.fromCodePoint(Number(dec))
    : { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" }[name.toLowerCase()]);
const attrs = (tag) => Object.fromEntries([...tag.matchAll(/([\w:-]+)="([^"]*)"/g)].map(([, k, v]) => [k, text(v)]));
const suite = /<testsuite\s[^>]*>/.exec(xml);
if (!suite) throw new Error('no <testsuite> element');
const n = (a, k) => Number(a[k] ?? 0);
const s = attrs(suite[0]);
const failed = n(s, 'failures') + n(s, 'errors');
const skipped = n(s, 'skipped') + n(s, 'disabled');
console.log(`${n(s, 'tests') - failed - skipped} ${failed} ${skipped}`);
for (const [, open, body] of xml.matchAll(/<testcase\s([^>]*)>([\s\S]*?)<\/testcase>/g)) {
  const t = attrs(open);
  if (t.status === 'passed') continue;
  const out = /<system-out>([\s\S]*?)<\/system-out>/.exec(body);
  const why = out ? text(out[1]).trim().replace(/\s*\n\s*/g, ' | ') : '';
  console.log([t.status === 'skipped' ? 'skipped' : 'failed', t.name, why].join('\t'));
}
EOF
}

for run in $RUNS; do
  store=${run%%:*}
  auth=
  [ "$run" != "$store" ] && auth=${run#*:}
  label="$store store${auth:+, $auth auth}"
  echo
  echo "== official conformance suite, $label"
  started=$(now)
  data=$(mktemp -d)
  password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
  case $auth in
    '') auth_env=(BERTH_AUTH=open) ;;
    basic | token) auth_env=(BERTH_AUTH="$auth" BERTH_USERS="conformance:$password" BERTH_READERS= BERTH_ANONYMOUS_PULL=) ;;
    *) die "unknown auth \"$auth\" in run \"$run\": use basic or token" ;;
  esac
  if [ "$store" = mongo ]; then
    [ -n "${MONGODB_URI:-}" ] || die "the mongo store needs MONGODB_URI (start a server: eval \"\$(bash scripts/mongo-server.sh start)\")"
    mongo_db=berth_conformance_$(date +%s)_$$
    export BERTH_MONGO_DB=$mongo_db
  fi
  env "${auth_env[@]}" PORT="$PORT" BERTH_STORE="$store" BERTH_DATA_DIR="$data/data" node --import tsx example-app/server.ts > "$data/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 300); do
    grep -q 'berth example app on' "$data/server.log" && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  # the server must be ours and alive: a taken port would otherwise test whatever holds it
  # (with auth, an anonymous GET /v2/ answers 401 and its challenge)
  ping=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/v2/" || true)
  if ! kill -0 "$server_pid" 2>/dev/null || ! grep -q 'berth example app on' "$data/server.log" || { [ "$ping" != 200 ] && [ "$ping" != 401 ]; }; then
    echo "!! example app ($label) did not start on port $PORT:"; cat "$data/server.log"; exit 1
  fi
  echo "example app up in $(since "$started") s (pid $server_pid)"

  out="$RESULTS/$store${auth:+-$auth}"
  rm -rf "$out" && mkdir -p "$out"
  out=$(realpath "$out")
  [ -n "$keep_filter" ] && echo "!! OCI_FILTER_TEST=$keep_filter: only that branch of the suite runs"
  suite_started=$(now)
  rc=0
  # run from the (empty) results directory so no stray oci-conformance.yaml is read
  (
    cd "$out"
    export OCI_REGISTRY="127.0.0.1:$PORT" OCI_TLS=disabled OCI_REPO1=conformance/repo1 OCI_REPO2=conformance/repo2 \
      OCI_RESULTS_DIR="$out" OCI_VERSION=dev OCI_CACHE_AUTH=true OCI_LOG="${keep_log:-warn}" \
      OCI_API_PING=true OCI_API_PULL=true OCI_API_PUSH=true \
      OCI_API_BLOBS_ATOMIC=true OCI_API_BLOBS_DELETE=true OCI_API_BLOBS_DIGEST_HEADER=true \
      OCI_API_BLOBS_MOUNT_ANONYMOUS=true OCI_API_BLOBS_UPLOAD_CANCEL=true \
      OCI_API_MANIFESTS_ATOMIC=true OCI_API_MANIFESTS_DELETE=true OCI_API_MANIFESTS_DIGEST_HEADER=true \
      OCI_API_MANIFESTS_TAG_PARAM=true \
      OCI_API_TAGS_ATOMIC=true OCI_API_TAGS_DELETE=true OCI_API_TAGS_LIST=true OCI_API_REFERRER=true \
      OCI_DATA_IMAGE=true OCI_DATA_INDEX=true OCI_DATA_INDEX_LIST=true OCI_DATA_SPARSE=false \
      OCI_DATA_ARTIFACT=true OCI_DATA_SUBJECT=true OCI_DATA_SUBJECT_MISSING=true OCI_DATA_ARTIFACT_LIST=true \
      OCI_DATA_SUBJECT_LIST=true OCI_DATA_DATA_FIELD=true OCI_DATA_NONDISTRIBUTABLE=true \
      OCI_DATA_CUSTOM_FIELDS=true OCI_DATA_NO_LAYERS=true OCI_DATA_EMPTY_BLOB=true OCI_DATA_SHA512=true
    [ -n "$keep_filter" ] && export OCI_FILTER_TEST="$keep_filter"
    if [ -n "$auth" ]; then export OCI_USERNAME=conformance OCI_PASSWORD="$password"; fi
    # with tokens: a fresh token per request, as reggie-style clients do, so a mount asks for the source's pull too
    if [ "$auth" = token ]; then export OCI_CACHE_AUTH=false; fi
    exec "$suite" > suite.log 2>&1
  ) || rc=$?
  suite_time=$(since "$suite_started")
  stop_server
  echo "suite ran in $suite_time s (exit code $rc); the $label run took $(since "$started") s in all"
  sed -n '/^OCI Conformance Result:/,/^ *Total/p' "$out/suite.log"

  # the suite exits 0 without writing reports when its settings or setup fail: no junit.xml is a failure
  if [ ! -s "$out/junit.xml" ]; then
    echo "!! the suite wrote no junit.xml; its output:"; cat "$out/suite.log"
    status=1
    summary+=("$label: no results (see above)")
    continue
  fi
  if ! report=$(read_junit "$out/junit.xml"); then
    echo "!! could not read $out/junit.xml"; status=1; summary+=("$label: unreadable junit.xml"); continue
  fi
  read -r passed failed skipped <<< "$(head -1 <<< "$report")"
  unexpected=0
  while IFS=$'\t' read -r kind name why; do
    case $kind in
      skipped)
        if grep -Eq -- "$ALLOWED_SKIPS" <<< "$name" || { [ "$auth" = token ] && grep -Eq -- "$TOKEN_SKIPS" <<< "$name"; }; then
          echo "skipped: $name ($why)"
        else
          echo "!! unexpected skip: $name ($why)"; unexpected=$((unexpected + 1))
        fi ;;
      failed) echo "!! FAILED: $name"; echo "!!   $why" ;;
    esac
  done < <(tail -n +2 <<< "$report")
  if [ "$failed" -gt 0 ] || [ "$rc" -ne 0 ] || [ "$unexpected" -gt 0 ] || [ $((passed + failed + skipped)) -eq 0 ]; then
    status=1
    [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ] && echo "!! the suite exited with code $rc; its output is in $out/suite.log"
    [ "$unexpected" -gt 0 ] && echo "!! $unexpected skip(s) not allowed by BERTH_CONFORMANCE_ALLOWED_SKIPS: the suite skips a test when the registry seems to lack a feature"
    echo "!! details: $out/suite.log and $out/report.html"
  fi
  echo "$passed passed, $failed failed, $skipped skipped"
  summary+=("$label: $passed passed, $failed failed, $skipped skipped (suite $suite_time s)")
done

echo
echo "== conformance summary ($(basename "$suite"), reports in $RESULTS/)"
printf '%s\n' "${summary[@]}"
exit $status
