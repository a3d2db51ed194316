# shellcheck shell=bash
# Signature scenarios: cosign v2 (keys generated offline, no transparency log) and notation (test certificates),
# each through the referrers tag schema and the Referrers API, and refusals of a wrong key and of an unsigned image.
# Keys, certificates and trust policies live in the scenario's own directory.

# cosign_keys PREFIX: a key pair PREFIX.key / PREFIX.pub with an empty password
cosign_keys() { COSIGN_PASSWORD='' cosign generate-key-pair --output-key-prefix "$1"; }
cosign_sign() { COSIGN_PASSWORD='' cosign sign -y --tlog-upload=false --allow-http-registry "$@"; }
cosign_verify() { cosign verify --insecure-ignore-tlog=true --allow-http-registry "$@"; }

scenario cosign_tag "cosign: sign and verify through the tag schema (sha256-<hex>.sig)"
cosign_tag() {
  local digest
  cosign_keys k
  digest=$(push_image sig/cosign-tag v1)
  cosign_sign --key k.key "$R/sig/cosign-tag@$digest"
  expect_eq "$(reg_tags sig/cosign-tag | sort | paste -sd' ')" "sha256-${digest#sha256:}.sig v1" "tags (the signature tag and v1)"
  cosign_verify --key k.pub "$R/sig/cosign-tag@$digest" > verified.json
  expect_eq "$(jq -r '.[0].critical.image["docker-manifest-digest"]' verified.json)" "$digest" "the verified payload's digest"
  cosign_verify --key k.pub "$R/sig/cosign-tag:v1" > /dev/null   # by tag too
}

scenario cosign_referrers "cosign: sign and verify through the Referrers API (--registry-referrers-mode=oci-1-1)"
cosign_referrers() {
  local digest sig mark
  cosign_keys k
  digest=$(push_image sig/cosign-api v1)
  COSIGN_EXPERIMENTAL=1 cosign_sign --key k.key --registry-referrers-mode=oci-1-1 "$R/sig/cosign-api@$digest"
  expect_eq "$(reg_tags sig/cosign-api | paste -sd' ')" "v1" "tags (no signature tag)"
  sig=$(reg_referrers sig/cosign-api "$digest" application/vnd.dev.cosign.artifact.sig.v1+json)
  [ -n "$sig" ] && [ "$(wc -l <<< "$sig")" -eq 1 ] || fail "Referrers API: expected one cosign signature, got [$sig]"
  mark=$(log_mark)
  COSIGN_EXPERIMENTAL=1 cosign_verify --experimental-oci11 --key k.pub "$RL/sig/cosign-api@$digest" > verified.json
  expect_eq "$(jq -r '.[0].critical.image["docker-manifest-digest"]' verified.json)" "$digest" "the verified payload's digest"
  log_since "$mark" | expect_referrers_get sig/cosign-api "$digest" "cosign verify"
}

scenario cosign_refused "cosign: a wrong key and an unsigned image are refused"
cosign_refused() {
  local signed unsigned
  cosign_keys k
  cosign_keys wrong
  signed=$(push_image sig/cosign-refused signed)
  unsigned=$(push_image sig/cosign-refused unsigned)
  cosign_sign --key k.key "$R/sig/cosign-refused@$signed"
  cosign_verify --key k.pub "$R/sig/cosign-refused@$signed" > /dev/null   # the control: the right key verifies
  expect_refused 'no matching signatures' "verify with the wrong key" cosign_verify --key wrong.pub "$R/sig/cosign-refused@$signed"
  expect_refused 'no signatures found' "verify an unsigned image" cosign_verify --key k.pub "$R/sig/cosign-refused@$unsigned"
}

# notation_setup: notation's config in ./notation-config, a test key and certificate `test.local` (the default
# signing key, in the trust store ca:test.local), and a trust policy that trusts ca:test.local for every repository
notation_setup() {
  export XDG_CONFIG_HOME=$PWD/notation-config
  notation cert generate-test --default test.local
  notation_trust test.local
}
# notation_trust NAME: the trust policy, trusting only the trust store ca:NAME
notation_trust() {
  cat > policy.json <<EOF
{"version":"1.0","trustPolicies":[{"name":"berth-ci","registryScopes":["*"],
 "signatureVerification":{"level":"strict"},"trustStores":["ca:$1"],"trustedIdentities":["*"]}]}
EOF
  notation policy import --force policy.json
}

scenario notation_tag "notation: sign and verify through the referrers tag schema"
notation_tag() {
  local digest
  notation_setup
  digest=$(push_image sig/notation-tag v1)
  notation sign --insecure-registry "$R/sig/notation-tag@$digest"
  expect_eq "$(reg_tags sig/notation-tag | sort | paste -sd' ')" "sha256-${digest#sha256:} v1" "tags (the referrers tag and v1)"
  reg_manifest sig/notation-tag "sha256-${digest#sha256:}" > tag-index.json
  expect_eq "$(jq -r '[.manifests[].artifactType] | join(" ")' tag-index.json)" application/vnd.cncf.notary.signature \
    "the referrers tag's index"
  notation verify --insecure-registry "$R/sig/notation-tag@$digest" | tee verify.out
  grep -q "Successfully verified signature" verify.out || fail "notation verify did not say it verified"
}

scenario notation_referrers "notation: sign and verify through the Referrers API (--force-referrers-tag=false)"
notation_referrers() {
  local digest mark
  notation_setup
  digest=$(push_image sig/notation-api v1)
  notation sign --insecure-registry --force-referrers-tag=false "$R/sig/notation-api@$digest"
  expect_eq "$(reg_tags sig/notation-api | paste -sd' ')" "v1" "tags (no referrers tag)"
  expect_eq "$(reg_referrers sig/notation-api "$digest" application/vnd.cncf.notary.signature | wc -l)" 1 \
    "signatures the Referrers API lists"
  notation ls --insecure-registry "$R/sig/notation-api@$digest" | tee ls.out
  grep -q "$(reg_referrers sig/notation-api "$digest")" ls.out || fail "notation ls does not list the signature"
  mark=$(log_mark)
  notation verify --insecure-registry "$RL/sig/notation-api@$digest" | tee verify.out
  grep -q "Successfully verified signature" verify.out || fail "notation verify did not say it verified"
  log_since "$mark" | expect_referrers_get sig/notation-api "$digest" "notation verify"
}

scenario notation_refused "notation: an untrusted key and an unsigned image are refused"
notation_refused() {
  local signed unsigned
  notation_setup
  notation cert generate-test other.local   # a second key and trust store, not the signing one
  signed=$(push_image sig/notation-refused signed)
  unsigned=$(push_image sig/notation-refused unsigned)
  notation sign --insecure-registry "$R/sig/notation-refused@$signed"
  notation verify --insecure-registry "$R/sig/notation-refused@$signed"   # the control: trusted, it verifies
  expect_refused 'no signature is associated' "verify an unsigned image" \
    notation verify --insecure-registry "$R/sig/notation-refused@$unsigned"
  notation_trust other.local   # now only the other key is trusted
  expect_refused 'signature verification failed' "verify a signature by an untrusted key" \
    notation verify --insecure-registry "$R/sig/notation-refused@$signed"
}
