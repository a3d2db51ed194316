# shellcheck shell=bash
# Pagination scenarios: tag lists and the catalog longer than one page. berth pages only when a client asks (`n`),
# so: crane asks for pages of 1000 and follows `Link` (checked in the access log), regctl asks for explicit pages
# (--limit, --last), oras asks for everything at once (and --last), and curl follows `Link` through pages of 50 and 100.

# curl_pages PATH N: follows rel="next" Links from PATH?n=N to the end; prints the listing's entries, one a line
curl_pages() {
  local url="http://$R$1?n=$2" pages=0 link key=${3:-tags}
  while [ -n "$url" ]; do
    pages=$((pages + 1))
    [ "$pages" -le 2000 ] || fail "more than 2000 pages: the Links loop"
    curl_reg --fail -D headers "$url" | jq -r --arg k "$key" '.[$k] // [] | .[]'
    link=$(tr -d '\r' < headers | sed -n 's/^[Ll]ink: *<\([^>]*\)>; *rel="next".*/\1/p')
    case $link in
      '') url= ;;
      http*) url=$link ;;
      *) url="http://$R$link" ;;
    esac
  done
  echo "$pages pages" >&2
}

# curl_many SCOPES CURL_ARGS...: one curl (keep-alive) over the `url =` lines of ./many.curl, with credentials for the
# space-separated token SCOPES; prints each answer's status, one a line
curl_many() {
  local auth=() scopes=$1; shift
  [ "$AUTH" = none ] || mapfile -t auth < <(auth_args $scopes)
  curl -sS "${auth[@]}" -w '%{http_code}\n' "$@" -K many.curl
}
# urls_to_many URL...: writes ./many.curl, every answer's body to /dev/null
urls_to_many() { local url; for url in "$@"; do printf 'url = "%s"\noutput = "/dev/null"\n' "$url"; done > many.curl; }

scenario pagination_tags "crane, regctl, oras, curl: a 1101-tag list across pages, followed through Link (access log)"
pagination_tags() {
  local i urls=() mark
  push_image paging/tags t0000 > /dev/null
  reg_manifest paging/tags t0000 > manifest.json
  for i in $(seq 1 1100); do urls+=("$(printf 'http://%s/v2/paging/tags/manifests/t%04d' "$R" "$i")"); done
  urls_to_many "${urls[@]}"
  curl_many repository:paging/tags:pull,push -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
    --data-binary @manifest.json | sort | uniq -c > puts.status
  expect_eq "$(awk '{print $1, $2}' puts.status)" "1100 201" "answers to the manifest PUTs"
  for i in $(seq 0 1100); do printf 't%04d\n' "$i"; done > expected

  curl_pages /v2/paging/tags/tags/list 50 > curl.list
  expect_same_file curl.list expected "curl, pages of 50"
  mark=$(log_mark)
  crane ls "$RL/paging/tags" > crane.list
  log_since "$mark" > crane.log
  expect_same_file crane.list expected "crane ls"
  expect_eq "$(jq -r 'select(.path | startswith("/v2/paging/tags/tags/list")) | "\(.path) \(.status)"' crane.log | paste -sd' ')" \
    "/v2/paging/tags/tags/list?n=1000 200 /v2/paging/tags/tags/list?n=1000&last=t0999 200" "crane's requests (the second from Link)"
  regctl tag ls --limit 50 "$R/paging/tags" > regctl.page1
  expect_eq "$(paste -sd' ' regctl.page1)" "$(head -50 expected | paste -sd' ')" "regctl tag ls --limit 50"
  regctl tag ls --limit 50 --last t0050 "$R/paging/tags" > regctl.page2
  expect_eq "$(paste -sd' ' regctl.page2)" "$(sed -n 52,101p expected | paste -sd' ')" "regctl tag ls --limit 50 --last t0050"
  oras repo tags --plain-http "$R/paging/tags" > oras.list
  expect_same_file oras.list expected "oras repo tags"
  oras repo tags --plain-http --last t1000 "$R/paging/tags" > oras.last
  expect_eq "$(paste -sd' ' oras.last)" "$(tail -100 expected | paste -sd' ')" "oras repo tags --last t1000"
}

scenario pagination_catalog "crane, regctl, oras, curl: a catalog of 1000+ repositories across pages, followed through Link (access log)"
pagination_catalog() {
  local empty=sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a i repo repos=() urls=() mark
  printf '{}' > empty.json
  expect_eq "$(curl_reg -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/octet-stream' \
    --data-binary @empty.json "http://$R/v2/paging/catseed/blobs/uploads/?digest=$empty")" 201 "seed blob upload"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.berth.paging","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2},"layers":[{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2}]}' \
    "$empty" "$empty" > manifest.json
  for i in $(seq 0 1009); do repos+=("$(printf 'paging/cat/r%04d' "$i")"); done
  # every repository gets the blob by a mount from paging/catseed, then the manifest; in batches of 101, so that a
  # token for the batch's repositories stays short
  local batch scopes
  for ((i = 0; i < ${#repos[@]}; i += 101)); do
    batch=("${repos[@]:i:101}") scopes=repository:paging/catseed:pull urls=()
    for repo in "${batch[@]}"; do scopes+=" repository:$repo:pull,push"; urls+=("http://$R/v2/$repo/blobs/uploads/?mount=$empty&from=paging/catseed"); done
    urls_to_many "${urls[@]}"
    curl_many "$scopes" -X POST --data-binary '' >> mounts.status
    urls=()
    for repo in "${batch[@]}"; do urls+=("http://$R/v2/$repo/manifests/v1"); done
    urls_to_many "${urls[@]}"
    curl_many "$scopes" -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary @manifest.json >> puts.status
  done
  expect_eq "$(sort mounts.status | uniq -c | awk '{print $1, $2}')" "1010 201" "answers to the mounts"
  expect_eq "$(sort puts.status | uniq -c | awk '{print $1, $2}')" "1010 201" "answers to the manifest PUTs"
  curl_pages /v2/_catalog 100 repositories > expected
  LC_ALL=C sort -u expected | cmp - expected || fail "the catalog is not sorted and unique"
  printf '%s\n' "${repos[@]}" | LC_ALL=C comm -13 expected - | grep . && fail "seeded repositories missing from the catalog"
  [ "$(wc -l < expected)" -gt 1010 ] || fail "the catalog has $(wc -l < expected) entries"

  mark=$(log_mark)
  crane catalog "$RL" > crane.list
  log_since "$mark" > crane.log
  expect_same_file crane.list expected "crane catalog"
  expect_eq "$(jq -r 'select(.path | startswith("/v2/_catalog")) | .path' crane.log | sed 's/last=.*/last=…/' | paste -sd' ')" \
    "/v2/_catalog?n=1000 /v2/_catalog?n=1000&last=…" "crane's requests (the second from Link)"
  oras repo ls --plain-http "$R" > oras.list
  expect_same_file oras.list expected "oras repo ls"
  regctl repo ls --limit 100 "$R" > regctl.page1
  expect_eq "$(paste -sd' ' regctl.page1)" "$(head -100 expected | paste -sd' ')" "regctl repo ls --limit 100"
  regctl repo ls --limit 100 --last "$(sed -n 100p expected)" "$R" > regctl.page2
  expect_eq "$(paste -sd' ' regctl.page2)" "$(sed -n 101,200p expected | paste -sd' ')" "regctl repo ls --limit 100 --last"
}
