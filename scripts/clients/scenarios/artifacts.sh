# shellcheck shell=bash
# Artifact scenarios: oras push/pull, attach/discover through the Referrers API and the referrers tag schema, cp.

# make_files: three files of different kinds in the current directory
make_files() {
  printf 'hello from oras %s\n' "$RANDOM" > a.txt
  printf '{"berth":%s}\n' "$RANDOM" > b.json
  head -c 300000 /dev/urandom > c.bin
}
# discover_digests JSON: the digests of the direct referrers in `oras discover --format json` output
discover_digests() { jq -r '.referrers[]?.digest' "$1" | sort; }

scenario artifacts_push_pull "oras: push several files with an artifact type, pull them back byte-identical"
artifacts_push_pull() {
  make_files
  oras push --plain-http --artifact-type application/vnd.berth.test.v1 --export-manifest pushed.json \
    "$R/artifacts/files:v1" a.txt:text/plain b.json:application/json c.bin
  expect_eq "$(oras resolve --plain-http "$R/artifacts/files:v1")" "$(sha256_of pushed.json)" "digest of the pushed manifest"
  reg_manifest artifacts/files v1 > served.json
  expect_same_file served.json pushed.json "served manifest bytes"
  expect_eq "$(jq -r '.artifactType' served.json)" application/vnd.berth.test.v1 "artifactType"
  expect_eq "$(jq -r '[.layers[] | "\(.annotations["org.opencontainers.image.title"])=\(.mediaType)"] | sort | join(" ")' served.json)" \
    "a.txt=text/plain b.json=application/json c.bin=application/vnd.oci.image.layer.v1.tar" "layers"
  oras pull --plain-http -o out "$R/artifacts/files:v1"
  local f
  for f in a.txt b.json c.bin; do expect_same_file "out/$f" "$f" "pulled $f"; done
}

scenario artifacts_referrers_api "oras: attach and discover through the Referrers API (access log: referrers/ used, no tag written)"
artifacts_referrers_api() {
  local subject mark ref
  echo subject > s.txt
  oras push --plain-http "$R/artifacts/refapi:v1" s.txt
  subject=$(oras resolve --plain-http "$R/artifacts/refapi:v1")
  echo "signature $RANDOM" > sig.txt
  mark=$(log_mark)
  oras attach --plain-http --distribution-spec v1.1-referrers-api --artifact-type application/vnd.berth.sig.v1 \
    --export-manifest attached.json "$RL/artifacts/refapi:v1" sig.txt
  ref=$(sha256_of attached.json)
  expect_eq "$(jq -r '.subject.digest' attached.json)" "$subject" "subject of the attached manifest"
  oras discover --plain-http --distribution-spec v1.1-referrers-api --format json "$RL/artifacts/refapi:v1" > discovered.json
  log_since "$mark" > requests.log
  cat discovered.json
  expect_eq "$(discover_digests discovered.json)" "$ref" "referrers oras discovers"
  expect_referrers_get artifacts/refapi "$subject" "oras attach/discover" < requests.log
  expect_eq "$(reg_tags artifacts/refapi | paste -sd' ')" "v1" "tags (no referrers tag was written)"
  expect_eq "$(reg_referrers artifacts/refapi "$subject")" "$ref" "Referrers API listing"
  expect_eq "$(reg_referrers artifacts/refapi "$subject" application/vnd.berth.sig.v1)" "$ref" "Referrers API, filtered"
  expect_eq "$(reg_referrers artifacts/refapi "$subject" application/vnd.other)" "" "Referrers API, filtered out"
}

scenario artifacts_referrers_tag "oras: attach and discover through the referrers tag schema (sha256-<hex> index)"
artifacts_referrers_tag() {
  local subject mark ref
  echo subject > s.txt
  oras push --plain-http "$R/artifacts/reftag:v1" s.txt
  subject=$(oras resolve --plain-http "$R/artifacts/reftag:v1")
  echo "signature $RANDOM" > sig.txt
  mark=$(log_mark)
  oras attach --plain-http --distribution-spec v1.1-referrers-tag --artifact-type application/vnd.berth.sig.v1 \
    --export-manifest attached.json "$RL/artifacts/reftag:v1" sig.txt
  ref=$(sha256_of attached.json)
  oras discover --plain-http --distribution-spec v1.1-referrers-tag --format json "$RL/artifacts/reftag:v1" > discovered.json
  log_since "$mark" > requests.log
  expect_eq "$(discover_digests discovered.json)" "$ref" "referrers oras discovers"
  ! jq -e -s 'map(select(.path | contains("/referrers/"))) | length > 0' requests.log > /dev/null \
    || fail "oras used the Referrers API in tag-schema mode"
  expect_eq "$(reg_tags artifacts/reftag | sort | paste -sd' ')" "sha256-${subject#sha256:} v1" "tags (the referrers tag and v1)"
  reg_manifest artifacts/reftag "sha256-${subject#sha256:}" > tag-index.json
  expect_eq "$(jq -r '.mediaType, (.manifests | length), .manifests[0].digest, .manifests[0].artifactType' tag-index.json | paste -sd' ')" \
    "application/vnd.oci.image.index.v1+json 1 $ref application/vnd.berth.sig.v1" "the referrers tag's index"
  # berth indexes the subject too, so the Referrers API agrees
  expect_eq "$(reg_referrers artifacts/reftag "$subject")" "$ref" "Referrers API listing"
}

scenario artifacts_copy "oras: cp -r across repositories (artifact and its referrer), pulled back from the copy"
artifacts_copy() {
  local subject ref mark
  make_files
  oras push --plain-http --artifact-type application/vnd.berth.test.v1 "$R/artifacts/cp-src:v1" a.txt b.json c.bin
  subject=$(oras resolve --plain-http "$R/artifacts/cp-src:v1")
  echo "signature $RANDOM" > sig.txt
  oras attach --plain-http --artifact-type application/vnd.berth.sig.v1 --export-manifest attached.json "$R/artifacts/cp-src:v1" sig.txt
  ref=$(sha256_of attached.json)
  mark=$(log_mark)
  oras cp -r --from-plain-http --to-plain-http "$RL/artifacts/cp-src:v1" "$RL/artifacts/cp-dst:v1"
  log_since "$mark" > requests.log
  # same registry: oras mounts every blob instead of uploading it
  jq -e -s 'map(select(.method == "POST" and (.path | startswith("/v2/artifacts/cp-dst/blobs/uploads/?mount="))
      and (.path | contains("from=artifacts/cp-src")) and .status == 201)) | length >= 3' requests.log \
    || fail "oras cp did not mount the blobs from artifacts/cp-src"
  expect_eq "$(jq -s 'map(select(.path | startswith("/v2/artifacts/cp-dst/blobs/")) | .bytes) | add // 0' requests.log)" 0 \
    "blob bytes uploaded to the copy"
  expect_eq "$(oras resolve --plain-http "$R/artifacts/cp-dst:v1")" "$subject" "digest of the copy"
  expect_eq "$(reg_referrers artifacts/cp-dst "$subject")" "$ref" "referrers of the copy"
  oras discover --plain-http --format json "$R/artifacts/cp-dst:v1" > discovered.json
  expect_eq "$(discover_digests discovered.json)" "$ref" "referrers oras discovers on the copy"
  oras pull --plain-http -o out "$R/artifacts/cp-dst:v1"
  local f
  for f in a.txt b.json c.bin; do expect_same_file "out/$f" "$f" "$f pulled from the copy"; done
}
