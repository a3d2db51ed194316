# shellcheck shell=bash
# Helpers for the scenarios (sourced by run.sh). $R is the example app's host:port, $RL the same server through the
# access-log proxy (access-log.ts), whose JSON lines are in $ACCESS_LOG. Scenarios run with `set -euo pipefail` in
# a subshell inside their own empty directory, so any failing command fails the scenario.

# ---- assertions
fail() { echo "!! $*" >&2; exit 1; }
# expect_eq ACTUAL EXPECTED WHAT
expect_eq() { [ "$1" = "$2" ] || fail "$3: expected [$2], got [$1]"; }
# expect_same_file A B WHAT: byte-identical
expect_same_file() { cmp "$1" "$2" || fail "$3: $1 and $2 differ"; }
# expect_refused PATTERN WHAT COMMAND...: the command must fail *and* say PATTERN (a refusal for another reason, such
# as a connection error, is not the refusal we want)
expect_refused() {
  local pattern=$1 what=$2 out; shift 2
  if out=$("$@" 2>&1); then echo "$out"; fail "$what: the command succeeded"; fi
  echo "$out"
  grep -Eq -- "$pattern" <<< "$out" || fail "$what: the command failed, but did not say /$pattern/"
}
sha256_of() { local sum; sum=$(sha256sum < "$1"); echo "sha256:${sum%% *}"; }

# ---- the clients, with their plain-HTTP flags and private state (test-infrastructure.md §1.2)
regctl() { "$REGCTL" "$@"; }
crane() { "$CRANE" --insecure "$@"; }
oras() { "$ORAS" "$@"; }
helm3() { "$HELM3" "$@"; }
helm4() { "$HELM4" "$@"; }
cosign() { "$COSIGN" "$@"; }
notation() { "$NOTATION" "$@"; }
podman_() {
  podman --root "$WORK/containers/storage" --runroot "$WORK/containers/run" --tmpdir "$WORK/containers/tmp" \
    --storage-driver vfs --events-backend file --cgroup-manager cgroupfs "$@"
}
buildah_() { buildah --root "$WORK/containers/storage" --runroot "$WORK/containers/run" --storage-driver vfs "$@"; }

# ---- the registry seen through curl, independently of the clients
# auth_args SCOPE...: curl's credentials for the run's auth mode, one argument a line: none; Basic; or a Bearer token
# from the token endpoint for the scopes (`repository:<name>:pull,push,delete`, `registry:catalog:*`)
auth_args() {
  case $AUTH in
    none) ;;
    basic) printf '%s\n' -u "$CLIENT_USER:$CLIENT_PASSWORD" ;;
    token)
      local query=(--data-urlencode "service=$TOKEN_SERVICE") scope token
      for scope in "$@"; do query+=(--data-urlencode "scope=$scope"); done
      token=$(curl -sS --fail -u "$CLIENT_USER:$CLIENT_PASSWORD" --get "${query[@]}" "http://$R/token" | jq -r '.token // .access_token')
      [ -n "$token" ] && [ "$token" != null ] || fail "the token endpoint gave no token for $*"
      printf '%s\n' -H "Authorization: Bearer $token" ;;
  esac
}
# scopes_of URL: the token scopes a request to URL needs (all actions on its repository; pull on a mount's source)
scopes_of() {
  local path=${1#http://*/}
  path=/${path}
  if [[ $path == /v2/_catalog* ]]; then echo 'registry:catalog:*'
  elif [[ $path =~ ^/v2/(.+)/(manifests|blobs|tags|referrers)/ ]]; then
    echo "repository:${BASH_REMATCH[1]}:pull,push,delete"
    [[ $path =~ [?\&]from=([^\&]+) ]] && echo "repository:${BASH_REMATCH[1]}:pull"
  fi
  return 0
}
# curl_reg CURL_ARGS... URL: curl with the run's credentials for the URL (its last argument)
curl_reg() {
  local auth=()
  # shellcheck disable=SC2046 # one scope a word
  [ "$AUTH" = none ] || mapfile -t auth < <(auth_args $(scopes_of "${@: -1}"))
  curl -sS "${auth[@]}" "$@"
}
ACCEPT_MANIFESTS=application/vnd.oci.image.manifest.v1+json,application/vnd.oci.image.index.v1+json,application/vnd.docker.distribution.manifest.v2+json,application/vnd.docker.distribution.manifest.list.v2+json
# reg_digest REPO REF: the manifest digest the registry answers for a tag or digest (fails if it has none)
reg_digest() {
  local headers digest
  headers=$(curl_reg -I -H "Accept: $ACCEPT_MANIFESTS" "http://$R/v2/$1/manifests/$2" | tr -d '\r')
  digest=$(awk -F': ' 'tolower($1) == "docker-content-digest" { print $2 }' <<< "$headers")
  [ -n "$digest" ] || fail "no manifest $1:$2 in the registry: $headers"
  echo "$digest"
}
# reg_manifest REPO REF: the manifest bytes exactly as served
reg_manifest() { curl_reg --fail -H "Accept: $ACCEPT_MANIFESTS" "http://$R/v2/$1/manifests/$2"; }
# reg_status METHOD PATH: the HTTP status of a request (PATH after /v2/)
reg_status() {
  local method=(-X "$1"); [ "$1" != HEAD ] || method=(-I)
  curl_reg -o /dev/null -w '%{http_code}' "${method[@]}" -H "Accept: $ACCEPT_MANIFESTS" "http://$R/v2/$2"
}
# reg_tags REPO: every tag, one a line (a single unpaged request)
reg_tags() { curl_reg --fail "http://$R/v2/$1/tags/list" | jq -r '.tags // [] | .[]'; }
# reg_referrers REPO DIGEST [ARTIFACT_TYPE]: the digests of the referrers the Referrers API lists (filtered by
# artifactType, URL-encoded: `+` is common in media types), one a line
reg_referrers() {
  local filter=()
  [ -z "${3:-}" ] || filter=(--get --data-urlencode "artifactType=$3")
  curl_reg --fail "${filter[@]}" "http://$R/v2/$1/referrers/$2" | jq -r '.manifests[].digest'
}

# ---- OCI image layouts built offline, and images pushed from them
make_layout() { bash "$CLIENTS_DIR/make-oci-layout.sh" "$@"; }
# layout_layer DIR [N]: the digest of the image's layer N (default 0); layout_blob DIR DIGEST: the path of a blob
layout_layer() { jq -r ".layers[${2:-0}].digest" "$(layout_blob "$1" "$(jq -r '.manifests[0].digest' "$1/index.json")")"; }
layout_blob() { echo "$1/blobs/sha256/${2#sha256:}"; }
# push_image REPO TAG [BYTES]: builds a fresh one-layer image, pushes it with skopeo, prints its manifest digest
push_image() {
  local dir digest
  dir=img-${1//\//-}-$2
  digest=$(make_layout "$dir" "$2" "${3:-1024}")
  skopeo copy -q --dest-tls-verify=false "oci:$dir:$2" "docker://$R/$1:$2" >&2
  echo "$digest"
}

# ---- the access log
# log_mark: a position in the access log; log_since MARK: the JSON lines of the requests after it
log_mark() { wc -l < "$ACCESS_LOG"; }
log_since() { sleep 0.3; tail -n +$(($1 + 1)) "$ACCESS_LOG"; }
# expect_referrers_get REPO DIGEST WHO < ACCESS_LOG_LINES: WHO asked the Referrers API about DIGEST (and got 200)
expect_referrers_get() {
  jq -e -s --arg p "/v2/$1/referrers/$2" 'map(select(.method == "GET" and (.path | startswith($p)) and .status == 200)) | length >= 1' \
    > /dev/null || fail "$3 did not GET /v2/$1/referrers/$2"
}

# start_slow_proxy RATE: a second access-log proxy whose request bodies pass at RATE bytes/s, so a client can be
# interrupted mid-upload; sets SLOW (its host:port) and SLOW_LOG, and stops it when the scenario ends
start_slow_proxy() {
  SLOW_LOG=$PWD/slow.log
  env -C "$APP_DIR" node --import tsx "$CLIENTS_DIR/access-log.ts" "${R##*:}" "$SLOW_LOG" "$1" > slow.out 2>&1 &
  SLOW_PID=$!
  trap 'kill "$SLOW_PID" 2>/dev/null; wait "$SLOW_PID" 2>/dev/null || true' EXIT
  for _ in $(seq 1 100); do grep -q '^listening on' slow.out && break; sleep 0.1; done
  SLOW=127.0.0.1:$(awk '/^listening on/ {print $3}' slow.out)
  [ "$SLOW" != 127.0.0.1: ] || fail "the slow proxy did not start: $(cat slow.out)"
  # a new host:port for the clients: the two that use it log in there too
  if [ "$AUTH" != none ]; then
    skopeo login --tls-verify=false -u "$CLIENT_USER" -p "$CLIENT_PASSWORD" "$SLOW"
    regctl registry set "$SLOW" --tls disabled --skip-check
    regctl registry login "$SLOW" -u "$CLIENT_USER" -p "$CLIENT_PASSWORD"
  fi
}
# wait_for_log FILE JQ_CONDITION SECONDS: waits until FILE has a line matching the jq condition
wait_for_log() {
  local deadline=$((SECONDS + $3))
  until [ -s "$1" ] && jq -e -s "map(select($2)) | length > 0" "$1" > /dev/null; do
    [ $SECONDS -lt $deadline ] || fail "no request matching $2 within $3 s"
    sleep 0.1
  done
}
