# shellcheck shell=bash
# Interrupted pushes: a client killed (SIGKILL) in the middle of a layer upload, through a proxy that slows bodies
# down so the kill lands mid-transfer. Nothing partial may become visible; the layers finished before the kill stay;
# the push is then completed, by re-running the client, or by resuming the upload session the client left.

scenario resume_skopeo "skopeo: a push killed mid-layer leaves nothing partial visible; the re-run skips the finished layer and completes"
resume_skopeo() {
  local digest small big big_size pid aborted mark
  start_slow_proxy $((16 * 1048576))   # 16 MiB/s: the 64 MiB layer takes 4 s
  digest=$(make_layout src v1 1048576,$((64 * 1048576)))
  small=$(layout_layer src 0) big=$(layout_layer src 1)
  big_size=$(stat -c %s "$(layout_blob src "$big")")
  skopeo copy --dest-tls-verify=false oci:src:v1 "docker://$SLOW/resume/skopeo:v1" &
  pid=$!
  wait_for_log "$SLOW_LOG" ".method == \"PUT\" and (.path | contains(\"digest=$small\")) and .status == 201" 20
  sleep 1
  kill -9 "$pid"
  wait "$pid" && fail "skopeo finished before it was killed"
  sleep 1
  cat "$SLOW_LOG"
  # the big layer's upload was cut off: some bytes, not all of them
  aborted=$(jq -s 'map(select(.aborted and .method == "PATCH" and (.path | startswith("/v2/resume/skopeo/blobs/uploads/"))) | .bytes) | max // 0' "$SLOW_LOG")
  [ "$aborted" -gt 0 ] && [ "$aborted" -lt "$big_size" ] || fail "expected a PATCH cut off mid-layer, got $aborted of $big_size bytes"
  expect_eq "$(reg_status HEAD "resume/skopeo/blobs/$big")" 404 "the interrupted layer"
  expect_eq "$(reg_status HEAD resume/skopeo/manifests/v1)" 404 "the tag"
  expect_eq "$(reg_status HEAD "resume/skopeo/blobs/$small")" 200 "the layer finished before the kill"
  mark=$(log_mark)
  skopeo copy --dest-tls-verify=false oci:src:v1 "docker://$RL/resume/skopeo:v1"
  log_since "$mark" > rerun.log
  jq -e -s --arg d "$small" 'map(select(.method == "HEAD" and .path == "/v2/resume/skopeo/blobs/\($d)" and .status == 200)) | length == 1' rerun.log \
    || fail "the re-run did not find the finished layer"
  ! jq -e -s --arg d "$small" 'map(select(.path | contains("digest=\($d)"))) | length > 0' rerun.log > /dev/null \
    || fail "the re-run uploaded the finished layer again"
  expect_eq "$(reg_digest resume/skopeo v1)" "$digest" "manifest digest after the re-run"
  crane blob "$R/resume/skopeo@$big" > big.out
  expect_same_file big.out "$(layout_blob src "$big")" "the interrupted layer, pulled after the re-run"
}

scenario resume_session "regctl (1 MiB chunks) killed mid-layer; curl resumes its upload session (GET Range, PATCH, PUT); regctl completes the image"
resume_session() {
  local digest layer size pid acked location range offset mark put_url
  cp "$REGCTL_CONFIG" regctl.json && export REGCTL_CONFIG=$PWD/regctl.json   # regctl's chunk settings, for this scenario only
  start_slow_proxy $((4 * 1048576))   # 4 MiB/s: the 24 MiB layer takes 6 s
  regctl registry set "$SLOW" --tls disabled --blob-max 1048576 --blob-chunk 1048576
  regctl registry set "$RL" --tls disabled
  regctl registry set "$R" --tls disabled
  digest=$(make_layout src v1 $((24 * 1048576)))
  layer=$(layout_layer src)
  size=$(stat -c %s "$(layout_blob src "$layer")")
  "$REGCTL" image copy ocidir://src:v1 "$SLOW/resume/session:v1" &   # the binary itself, so $! is its pid
  pid=$!
  wait_for_log "$SLOW_LOG" '.method == "PATCH" and .status == 202 and (.range // "" | startswith("4194304-"))' 30
  kill -9 "$pid"
  wait "$pid" && fail "regctl finished before it was killed"
  sleep 1
  jq -c 'select(.path | startswith("/v2/resume/session/blobs/uploads/"))' "$SLOW_LOG"
  expect_eq "$(reg_status HEAD "resume/session/blobs/$layer")" 404 "the interrupted layer"
  expect_eq "$(reg_status HEAD resume/session/manifests/v1)" 404 "the tag"

  # the session regctl left: its Location, and the bytes the registry acknowledged (202) before the kill
  acked=$(jq -s 'map(select(.method == "PATCH" and .status == 202 and (.path | startswith("/v2/resume/session/blobs/uploads/"))) | .bytes) | add // 0' "$SLOW_LOG")
  location=$(jq -r -s 'map(select(.method == "PATCH" and .status == 202 and (.path | startswith("/v2/resume/session/blobs/uploads/")))) | last | .location' "$SLOW_LOG")
  [[ $location == http* ]] || location=http://$R$location
  curl_reg -D status.headers -o /dev/null "$location"
  cat status.headers
  expect_eq "$(awk 'NR == 1 { print $2 }' status.headers)" 204 "upload status"
  range=$(tr -d '\r' < status.headers | awk -F': ' 'tolower($1) == "range" { print $2 }')
  offset=$(( ${range#*-} + 1 ))
  [ "$offset" -ge "$acked" ] && [ "$offset" -lt "$size" ] || fail "upload status Range $range: acknowledged $acked of $size bytes"
  # resume: the rest in one chunk from the offset, then close with the digest
  tail -c +$((offset + 1)) "$(layout_blob src "$layer")" > rest
  curl_reg -D patch.headers -o /dev/null -X PATCH -H 'Expect:' -H 'Content-Type: application/octet-stream' \
    -H "Content-Range: $offset-$((size - 1))" --data-binary @rest "$location"
  cat patch.headers
  expect_eq "$(awk 'NR == 1 { print $2 }' patch.headers)" 202 "the resuming PATCH"
  location=$(tr -d '\r' < patch.headers | awk -F': ' 'tolower($1) == "location" { print $2 }')
  [[ $location == http* ]] || location=http://$R$location
  [[ $location == *\?* ]] && put_url="$location&digest=$layer" || put_url="$location?digest=$layer"
  expect_eq "$(curl_reg -o /dev/null -w '%{http_code}' -X PUT "$put_url")" 201 "the closing PUT"
  regctl blob get "$R/resume/session" "$layer" > layer.out
  expect_same_file layer.out "$(layout_blob src "$layer")" "the resumed layer"

  # regctl again: the layer is there now, so only the manifest (and config) go up
  mark=$(log_mark)
  regctl image copy ocidir://src:v1 "$RL/resume/session:v1"
  log_since "$mark" > rerun.log
  [ "$(jq -s 'map(select(.path | startswith("/v2/resume/session/blobs/uploads/")) | .bytes) | add // 0' rerun.log)" -lt 1048576 ] \
    || fail "the re-run uploaded the layer again"
  expect_eq "$(reg_digest resume/session v1)" "$digest" "manifest digest"
}
