# shellcheck shell=bash
# Image scenarios: skopeo, crane, regctl, podman, buildah. (Sourced by run.sh; see lib.sh for the helpers.)

scenario images_layout_roundtrip "skopeo: an offline OCI layout pushed, then pulled back byte-identical"
images_layout_roundtrip() {
  local digest
  digest=$(make_layout src v1 1048576)
  skopeo copy --dest-tls-verify=false oci:src:v1 "docker://$R/images/layout:v1"
  expect_eq "$(reg_digest images/layout v1)" "$digest" "manifest digest in the registry"
  expect_eq "$(crane digest "$R/images/layout:v1")" "$digest" "manifest digest seen by crane"
  reg_manifest images/layout v1 > served.json
  expect_same_file served.json "$(layout_blob src "$digest")" "served manifest bytes"
  skopeo copy --src-tls-verify=false "docker://$R/images/layout:v1" oci:pulled:v1
  expect_eq "$(jq -r '.manifests[0].digest' pulled/index.json)" "$digest" "digest of the pulled image"
  local blob count=0
  for blob in src/blobs/sha256/*; do
    expect_same_file "$blob" "pulled/blobs/sha256/${blob##*/}" "pulled blob"; count=$((count + 1))
  done
  expect_eq "$count" 3 "blobs compared (manifest, config, layer)"
}

scenario images_mount "skopeo, crane: copies between repositories are cross-repository mounts (access log)"
images_mount() {
  local digest layer size mark
  digest=$(make_layout src v1 2097152)
  layer=$(layout_layer src)
  size=$(stat -c %s "$(layout_blob src "$layer")")
  skopeo copy --dest-tls-verify=false oci:src:v1 "docker://$RL/images/mount-src:v1"
  # mounted means: a POST ?mount=<layer>&from=<source> answered 201, and no layer bytes were sent to the target
  check_mounted() {  # check_mounted TARGET_REPO LOG
    jq -e -s --arg repo "$1" --arg layer "$layer" 'map(select(.method == "POST"
        and (.path | startswith("/v2/\($repo)/blobs/uploads/")) and (.path | contains("mount=\($layer)"))
        and (.path | contains("from=images/mount-src")) and .status == 201)) | length == 1' "$2" \
      || fail "$1: no POST ?mount=$layer&from=images/mount-src answered 201"
    local sent
    sent=$(jq -s --arg repo "$1" 'map(select(.url | startswith("/v2/\($repo)/blobs/")) | .bytes) | add // 0' "$2")
    [ "$sent" -lt "$size" ] || fail "$1: $sent bytes were uploaded, the layer has $size: it was not mounted"
    jq -c --arg repo "$1" 'select(.url | startswith("/v2/\($repo)/"))' "$2"
  }
  mark=$(log_mark)
  skopeo copy --src-tls-verify=false --dest-tls-verify=false "docker://$RL/images/mount-src:v1" "docker://$RL/images/mount-skopeo:v1"
  log_since "$mark" > skopeo.log
  check_mounted images/mount-skopeo skopeo.log
  expect_eq "$(reg_digest images/mount-skopeo v1)" "$digest" "digest of the skopeo copy"
  mark=$(log_mark)
  crane copy "$RL/images/mount-src:v1" "$RL/images/mount-crane:v1"
  log_since "$mark" > crane.log
  check_mounted images/mount-crane crane.log
  expect_eq "$(reg_digest images/mount-crane v1)" "$digest" "digest of the crane copy"
  crane blob "$R/images/mount-crane@$layer" > layer.out
  expect_same_file layer.out "$(layout_blob src "$layer")" "the mounted layer's bytes"
}

scenario images_index "podman: a 2-platform index (manifest create/add/push --all), resolved per platform by crane and regctl"
images_index() {
  local amd arm idx
  amd=$(make_layout amd amd64 4096 amd64)
  arm=$(make_layout arm arm64 4096 arm64)
  skopeo copy --dest-tls-verify=false oci:amd:amd64 "docker://$R/images/multi:amd64"
  skopeo copy --dest-tls-verify=false oci:arm:arm64 "docker://$R/images/multi:arm64"
  podman_ manifest create localhost/multi:v1
  podman_ manifest add --tls-verify=false localhost/multi:v1 "docker://$R/images/multi@$amd"
  podman_ manifest add --tls-verify=false localhost/multi:v1 "docker://$R/images/multi@$arm"
  podman_ manifest push --all --tls-verify=false --digestfile pushed.digest localhost/multi:v1 "docker://$R/images/multi:v1"
  idx=$(reg_digest images/multi v1)
  expect_eq "$idx" "$(cat pushed.digest)" "index digest (registry vs podman's --digestfile)"
  reg_manifest images/multi v1 > index.json
  expect_eq "$(sha256_of index.json)" "$idx" "digest of the served index bytes"
  jq . index.json
  expect_eq "$(jq -r '[.manifests[] | "\(.platform.os)/\(.platform.architecture)=\(.digest)"] | sort | join(" ")' index.json)" \
    "linux/amd64=$amd linux/arm64=$arm" "the index's children"
  expect_eq "$(crane digest --platform linux/arm64 "$R/images/multi:v1")" "$arm" "crane: linux/arm64 child"
  expect_eq "$(regctl image digest --platform linux/amd64 "$R/images/multi:v1")" "$amd" "regctl: linux/amd64 child"
}

scenario images_docker_v2s2 "skopeo: Docker schema 2 (--format v2s2) pushed, served with its media type, pulled back"
images_docker_v2s2() {
  local layer digest ctype
  make_layout src v1 65536 > /dev/null
  layer=$(layout_layer src)
  skopeo copy --format v2s2 --dest-tls-verify=false oci:src:v1 "docker://$R/images/v2s2:v1"
  ctype=$(curl_reg -o /dev/null -w '%{content_type}' -H "Accept: $ACCEPT_MANIFESTS" "http://$R/v2/images/v2s2/manifests/v1")
  expect_eq "$ctype" application/vnd.docker.distribution.manifest.v2+json "Content-Type of the manifest"
  reg_manifest images/v2s2 v1 > served.json
  digest=$(reg_digest images/v2s2 v1)
  expect_eq "$(sha256_of served.json)" "$digest" "digest of the served bytes"
  expect_eq "$(jq -r '.mediaType, .config.mediaType, .layers[0].mediaType, .layers[0].digest' served.json | paste -sd' ')" \
    "application/vnd.docker.distribution.manifest.v2+json application/vnd.docker.container.image.v1+json application/vnd.docker.image.rootfs.diff.tar.gzip $layer" \
    "media types and layer"
  skopeo copy --src-tls-verify=false "docker://$R/images/v2s2:v1" dir:pulled
  expect_same_file pulled/manifest.json served.json "manifest pulled by skopeo"
  expect_same_file "pulled/${layer#sha256:}" "$(layout_blob src "$layer")" "layer pulled by skopeo"
  expect_eq "$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$R/images/v2s2:v1")" "$digest" "skopeo inspect"
}

scenario images_chunked "regctl: chunked upload in 1 MiB PATCHes with Content-Range (access log), pulled back"
images_chunked() {
  local digest layer size mark chunks
  # regctl keeps the chunk settings in its config file: a copy (with the run's logins) for this scenario only
  cp "$REGCTL_CONFIG" regctl.json && export REGCTL_CONFIG=$PWD/regctl.json
  regctl registry set "$RL" --tls disabled --blob-max 1048576 --blob-chunk 1048576
  regctl registry set "$R" --tls disabled
  digest=$(make_layout src v1 $((5 * 1048576 + 12345)))
  layer=$(layout_layer src)
  size=$(stat -c %s "$(layout_blob src "$layer")")
  mark=$(log_mark)
  regctl image copy ocidir://src:v1 "$RL/images/chunked:v1"
  log_since "$mark" > push.log
  # the layer's PATCHes: every one 1 MiB (the last one the rest), Content-Range contiguous from 0, each 202
  jq -r 'select(.method == "PATCH" and (.url | startswith("/v2/images/chunked/blobs/uploads/"))) | "\(.range) \(.bytes) \(.status)"' push.log > patches
  cat patches
  chunks=$(( (size + 1048575) / 1048576 ))
  expect_eq "$(awk -v size="$size" 'BEGIN { at = 0 } $1 ~ /^[0-9]+-[0-9]+$/ && $3 == 202 {
      split($1, r, "-"); if (r[1] != at || r[2] - r[1] + 1 != $2 || ($2 != 1048576 && r[2] != size - 1)) { print "bad " $0; exit }
      at = r[2] + 1; n++ } END { print n " chunks up to " at }' patches)" "$chunks chunks up to $size" "the layer's chunks"
  jq -e -s --arg layer "$layer" 'map(select(.method == "PUT" and (.path | contains("digest=\($layer)")) and .status == 201)) | length == 1' push.log \
    || fail "no closing PUT ?digest=$layer answered 201"
  expect_eq "$(reg_digest images/chunked v1)" "$digest" "manifest digest"
  regctl blob get "$R/images/chunked" "$layer" > layer.out
  expect_same_file layer.out "$(layout_blob src "$layer")" "layer pulled back"
}

scenario images_large_layer "skopeo, crane: a 300 MiB layer pushed and pulled back byte-identical"
images_large_layer() {
  local digest layer started
  digest=$(make_layout src v1 $((300 * 1048576)))
  layer=$(layout_layer src)
  started=$(date +%s.%N)
  skopeo copy --dest-tls-verify=false oci:src:v1 "docker://$R/images/large:v1"
  echo "push: $(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
  expect_eq "$(reg_digest images/large v1)" "$digest" "manifest digest"
  crane blob "$R/images/large@$layer" > layer.out
  expect_same_file layer.out "$(layout_blob src "$layer")" "layer pulled by crane"
  rm layer.out
  skopeo copy --src-tls-verify=false "docker://$R/images/large:v1" oci:pulled:v1
  expect_same_file "$(layout_blob pulled "$layer")" "$(layout_blob src "$layer")" "layer pulled by skopeo"
}

scenario images_buildah "buildah: build (FROM scratch + COPY) and push; the registry serves the same image"
images_buildah() {
  mkdir ctx
  echo "hello from buildah $RANDOM$RANDOM" > ctx/hi.txt
  printf 'FROM scratch\nCOPY hi.txt /hi.txt\n' > ctx/Containerfile
  buildah_ build --format oci -f ctx/Containerfile -t localhost/bh:v1 ctx
  buildah_ push --tls-verify=false --digestfile pushed.digest localhost/bh:v1 "docker://$R/images/buildah:v1"
  expect_eq "$(reg_digest images/buildah v1)" "$(cat pushed.digest)" "manifest digest (registry vs buildah's --digestfile)"
  crane export "$R/images/buildah:v1" fs.tar
  tar -xOf fs.tar hi.txt > hi.out
  expect_same_file hi.out ctx/hi.txt "the built file, as crane exports the image"
}

scenario images_podman "podman: pull from a layout, push, remove, pull back: same image and digest"
images_podman() {
  local config id
  make_layout src v1 8192 > /dev/null
  config=$(jq -r '.config.digest' "$(layout_blob src "$(jq -r '.manifests[0].digest' src/index.json)")")
  podman_ pull oci:src:v1
  podman_ tag "${config#sha256:}" "$R/images/podman:v1"
  podman_ push --tls-verify=false --digestfile pushed.digest "$R/images/podman:v1"
  expect_eq "$(reg_digest images/podman v1)" "$(cat pushed.digest)" "manifest digest (registry vs podman's --digestfile)"
  podman_ rmi -f "${config#sha256:}"
  podman_ pull --tls-verify=false "$R/images/podman:v1"
  id=$(podman_ image inspect --format '{{.Id}}' "$R/images/podman:v1")
  expect_eq "$id" "${config#sha256:}" "image ID (config digest) after the round trip"
  expect_eq "$(podman_ image inspect --format '{{.Digest}}' "$R/images/podman:v1")" "$(cat pushed.digest)" "pulled digest"
}
