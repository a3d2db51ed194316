# shellcheck shell=bash
# Helm scenarios, for helm v3 and v4: charts packaged offline, pushed, pulled byte-identical, shown, templated from
# oci://, versions resolved from the tag list; the other major version pulls the same chart.

# helm_flow HELM OTHER REPO: the whole scenario with the helm function HELM (helm3 or helm4)
helm_flow() {
  local helm=$1 other=$2 repo=$3 v digest
  "$helm" create demo > /dev/null   # offline: helm's built-in starter chart
  mkdir exact build latest tilde range devel other   # helm pull -d wants existing directories
  for v in 0.1.0 0.2.0 0.3.0+build.1 1.0.0-rc.1; do
    "$helm" package demo --version "$v" > /dev/null
    "$helm" push "demo-$v.tgz" "oci://$R/$repo" --plain-http 2>&1 | tee push.out
    # the chart is stored under its version as tag (`+` becomes `_`), with Helm's media types
    digest=$(reg_digest "$repo/demo" "${v/+/_}")
    grep -q "Digest: $digest" push.out || fail "helm push reported another digest than $digest"
    reg_manifest "$repo/demo" "${v/+/_}" > manifest.json
    expect_eq "$(jq -r '.config.mediaType, .layers[0].mediaType, .layers[0].digest' manifest.json | paste -sd' ')" \
      "application/vnd.cncf.helm.config.v1+json application/vnd.cncf.helm.chart.content.v1.tar+gzip $(sha256_of "demo-$v.tgz")" \
      "manifest of chart $v"
  done
  expect_eq "$(reg_tags "$repo/demo" | paste -sd' ')" "0.1.0 0.2.0 0.3.0_build.1 1.0.0-rc.1" "tags"

  # pull exact versions: the .tgz is the pushed one, byte for byte
  "$helm" pull "oci://$R/$repo/demo" --version 0.2.0 --plain-http -d exact
  expect_same_file exact/demo-0.2.0.tgz demo-0.2.0.tgz "pulled chart 0.2.0"
  "$helm" pull "oci://$R/$repo/demo" --version 0.3.0+build.1 --plain-http -d build
  expect_same_file build/demo-0.3.0+build.1.tgz demo-0.3.0+build.1.tgz "pulled chart 0.3.0+build.1"
  # version resolution from the tag list
  "$helm" pull "oci://$R/$repo/demo" --plain-http -d latest
  expect_eq "$(ls latest)" "demo-0.3.0+build.1.tgz" "no --version: the newest stable version"
  "$helm" pull "oci://$R/$repo/demo" --version '~0.1' --plain-http -d tilde
  expect_eq "$(ls tilde)" "demo-0.1.0.tgz" "--version ~0.1"
  "$helm" pull "oci://$R/$repo/demo" --version '>=0.2.0 <0.3.0' --plain-http -d range
  expect_eq "$(ls range)" "demo-0.2.0.tgz" "--version '>=0.2.0 <0.3.0'"
  "$helm" pull "oci://$R/$repo/demo" --devel --plain-http -d devel
  expect_eq "$(ls devel)" "demo-1.0.0-rc.1.tgz" "--devel: the prerelease"
  expect_same_file devel/demo-1.0.0-rc.1.tgz demo-1.0.0-rc.1.tgz "pulled chart 1.0.0-rc.1"

  # show and template straight from oci://: the same output as from the local .tgz
  "$helm" show chart "oci://$R/$repo/demo" --version 0.2.0 --plain-http > show-oci.yaml
  "$helm" show chart demo-0.2.0.tgz > show-local.yaml
  expect_same_file show-oci.yaml show-local.yaml "helm show chart"
  grep -qx 'version: 0.2.0' show-oci.yaml || fail "helm show chart: no 'version: 0.2.0'"
  "$helm" template rel "oci://$R/$repo/demo" --version 0.2.0 --plain-http > template-oci.yaml
  "$helm" template rel demo-0.2.0.tgz > template-local.yaml
  expect_same_file template-oci.yaml template-local.yaml "helm template"
  grep -q '^kind: Deployment' template-oci.yaml || fail "helm template rendered no Deployment"

  # the other major version reads the same chart
  "$other" pull "oci://$R/$repo/demo" --version 0.2.0 --plain-http -d other
  expect_same_file other/demo-0.2.0.tgz demo-0.2.0.tgz "chart 0.2.0 pulled by $other"
}

scenario helm_v3 "helm v3: package, push, pull byte-identical, show chart, template from oci://, version resolution"
helm_v3() { helm_flow helm3 helm4 charts/helm3; }

scenario helm_v4 "helm v4: package, push, pull byte-identical, show chart, template from oci://, version resolution"
helm_v4() { helm_flow helm4 helm3 charts/helm4; }
