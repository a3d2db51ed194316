#!/usr/bin/env bash
# make-oci-layout.sh OUT [TAG] [BYTES] [ARCH]: writes an OCI image layout to OUT (offline: coreutils, tar and gzip
# only) and prints the image manifest's digest. The layer holds BYTES (default 1024) fresh random bytes, so every
# image is new to the registry; BYTES may be a comma-separated list, one layer each ("1024,1048576"). ARCH (default
# amd64) goes into the config and the index, for multi-platform indexes. OUT must not exist yet.
# (test-infrastructure.md §1.5, with gzip -1: random bytes do not compress anyway.)
set -euo pipefail
out=$1 tag=${2:-latest} bytes=${3:-1024} arch=${4:-amd64}
[ ! -e "$out" ] || { echo "make-oci-layout.sh: $out exists" >&2; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out/blobs/sha256"
# store FILE: moves FILE into the layout's blobs and prints "sha256:<hex> <size>"
store() { local sum size; sum=$(sha256sum "$1"); sum=${sum%% *}; size=$(stat -c %s "$1"); mv "$1" "$out/blobs/sha256/$sum"; echo "sha256:$sum $size"; }

layers='' diff_ids='' n=0
IFS=, read -ra sizes <<< "$bytes"
for size in "${sizes[@]}"; do
  n=$((n + 1))
  rm -rf "$tmp/rootfs" && mkdir "$tmp/rootfs"
  head -c "$size" /dev/urandom > "$tmp/rootfs/payload-$n.bin"
  tar -C "$tmp/rootfs" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$tmp/layer.tar" .
  diff_id=$(sha256sum < "$tmp/layer.tar"); diff_id=sha256:${diff_id%% *}   # the uncompressed tar's digest
  gzip -1 -n -c "$tmp/layer.tar" > "$tmp/layer.tgz"
  read -r layer_digest layer_size < <(store "$tmp/layer.tgz")
  diff_ids+="${diff_ids:+,}\"$diff_id\""
  layers+="${layers:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"$layer_digest\",\"size\":$layer_size}"
done
rm -f "$tmp/layer.tar"
printf '{"architecture":"%s","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[%s]}}' \
  "$arch" "$diff_ids" > "$tmp/config.json"
read -r config_digest config_size < <(store "$tmp/config.json")
cat > "$tmp/manifest.json" <<EOF
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
 "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"$config_digest","size":$config_size},
 "layers":[$layers]}
EOF
read -r manifest_digest manifest_size < <(store "$tmp/manifest.json")
echo '{"imageLayoutVersion":"1.0.0"}' > "$out/oci-layout"
cat > "$out/index.json" <<EOF
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
 {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"$manifest_digest","size":$manifest_size,
  "platform":{"architecture":"$arch","os":"linux"},"annotations":{"org.opencontainers.image.ref.name":"$tag"}}]}
EOF
echo "$manifest_digest"
