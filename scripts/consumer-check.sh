#!/usr/bin/env bash
# Consumer-setup check: installs berth the way a user gets it from the registry, and uses it.
#   1. A FRESH clone of this repository's committed HEAD (uncommitted edits are not part of the check),
#      `npm ci` there, and `npm pack`, whose prepack script must build dist/.
#   2. The tarball installed into four fresh consumer projects: Express 4 and Express 5, each from
#      JavaScript (ESM) and from TypeScript (strict, module NodeNext, `tsc --noEmit` over the shipped .d.ts).
#      Each must have a clean `npm ls --all` (no ERESOLVE, no missing or invalid peer), and each mounts
#      createRegistry({ storage: memoryStorage(), authorize: allowAll }) next to a host route, listens on
#      an ephemeral port and does a real round trip over HTTP: ping, blob push (POST + PUT), manifest push,
#      pull back, host route.
# Needs git and the npm registry (pinned express, typescript, @types/*); one npm cache is shared by every
# install (set BERTH_NPM_CACHE to choose it). One line per check; the last line is "N passed, N failed".
# BERTH_CONSUMER_KEEP=1 keeps the temp dir for a look afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

EXPRESS4=express@4.21.2 # the floor of the declared peer range ^4.21.0 || ^5.0.0
EXPRESS5=express@5.3.0
TYPESCRIPT=typescript@5.9.3
TYPES_EXPRESS4=@types/express@4.17.25
TYPES_EXPRESS5=@types/express@5.0.6
TYPES_NODE=@types/node@20.19.25

started=$EPOCHREALTIME
work=$(mktemp -d "${TMPDIR:-/tmp}/berth-consumer-XXXXXX")
if [ "${BERTH_CONSUMER_KEEP:-}" = 1 ]; then
  trap 'echo "kept $work"' EXIT
else
  trap 'rm -rf "$work"' EXIT
fi
trap 'exit 130' INT TERM # so that an interrupted run still cleans up

# every npm call below, in the clone and in the consumers, shares one cache, so --prefer-offline pays off
export npm_config_cache="${BERTH_NPM_CACHE:-$(npm config get cache)}"
export npm_config_update_notifier=false npm_config_audit=false npm_config_fund=false
NPM_INSTALL=(--no-audit --no-fund --prefer-offline)

passed=0
failed=0
seq=0

elapsed() { # seconds since $1 (an $EPOCHREALTIME), one decimal
  awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'
}

# `check NAME FUNCTION ARGS...`: runs the function in a subshell with errexit in force (a function called
# from `if` would run without it), its output to a log. Prints one line; on failure, the log's tail after it.
# A check may leave a short remark for its line with `note`.
check() {
  local name=$1
  shift
  seq=$((seq + 1))
  local log="$work/logs/$seq.log" t0=$EPOCHREALTIME
  mkdir -p "$work/logs"
  : >"$work/note"
  set +e
  (
    set -euo pipefail
    "$@"
  ) >"$log" 2>&1 </dev/null
  local rc=$?
  set -e
  local remark
  remark=$(cat "$work/note")
  if [ "$rc" -eq 0 ]; then
    passed=$((passed + 1))
    echo "ok - $name ($(elapsed "$t0")s)${remark:+: $remark}"
  else
    failed=$((failed + 1))
    echo "not ok - $name (exit $rc, $(elapsed "$t0")s)${remark:+: $remark}"
    tail -n 40 "$log" | sed 's/^/    | /'
  fi
  return 0
}

note() { printf '%s' "$*" >"$work/note"; }

summary() {
  echo "consumer check: wall time $(elapsed "$started")s"
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}

# --- the package, from a fresh clone of the committed HEAD ------------------------------------------------
clone="$work/clone"
head=$(git -C "$repo" rev-parse HEAD)
dirty=$(git -C "$repo" status --porcelain --untracked-files=no | wc -l)
if [ "$dirty" -gt 0 ]; then
  echo "# note: $dirty uncommitted change(s) in $repo are NOT checked; this checks the committed HEAD ${head:0:12}"
fi

fresh_clone() {
  git clone --quiet --no-hardlinks "$repo" "$clone"
  git -C "$clone" checkout --quiet --detach "$head"
  [ ! -e "$clone/dist" ] || {
    echo "dist/ is committed: a fresh clone already has it, so prepack is not what builds it"
    return 1
  }
  note "$(git -C "$clone" log -1 --format='%h %s' | cut -c1-80)"
}

npm_ci() {
  cd "$clone"
  npm ci "${NPM_INSTALL[@]}"
}

pack() {
  cd "$clone"
  mkdir -p "$work/pack"
  # no explicit build: `npm pack` must run prepack, which builds dist/
  npm pack --loglevel=warn --pack-destination "$work/pack"
  local tarballs=("$work"/pack/berth-*.tgz)
  [ -f "${tarballs[0]}" ] || {
    echo "npm pack produced no berth-*.tgz"
    return 1
  }
  local listing
  listing=$(tar -tzf "${tarballs[0]}")
  # everything package.json "exports" names is in the tarball
  tar -xzf "${tarballs[0]}" -C "$work/pack" package/package.json
  local target
  for target in $(node -e '
      const walk = (v) => (typeof v === "string" ? [v] : Object.values(v ?? {}).flatMap(walk));
      console.log(walk(require(process.argv[1]).exports).join("\n"));
    ' "$work/pack/package/package.json"); do
    grep -qx "package/${target#./}" <<<"$listing" || {
      echo "package.json exports $target, which the tarball lacks"
      return 1
    }
  done
  # no tests, scripts, examples or local data; lib/ ships on purpose, as the source maps in dist/ point at it
  local extra
  extra=$(grep -E '^package/(test|scripts|example-app|data|results|node_modules|\.cache|\.ci)/' <<<"$listing" || true)
  if [ -n "$extra" ]; then
    printf 'the tarball ships files a consumer does not need:\n%s\n' "$extra"
    return 1
  fi
  note "$(basename "${tarballs[0]}"), $(wc -l <<<"$listing") files, $(du -k "${tarballs[0]}" | cut -f1) KiB"
}

# Source and declaration maps are shipped; each must point at sources the package holds, or debuggers,
# `node --enable-source-maps`, bundlers' source-map loaders and editors' go-to-definition find nothing.
source_maps() {
  local dir="$work/extract"
  mkdir -p "$dir"
  tar -xzf "$tarball" -C "$dir"
  cd "$dir/package"
  local out
  out=$(node --input-type=module -e '
    import { existsSync, readFileSync, readdirSync } from "node:fs";
    import { dirname, join, resolve } from "node:path";
    const maps = readdirSync(".", { recursive: true }).filter((f) => f.endsWith(".map"));
    const missing = new Set();
    for (const map of maps) {
      const { sources = [], sourceRoot = "", sourcesContent } = JSON.parse(readFileSync(map, "utf8"));
      sources.forEach((src, i) => {
        if (sourcesContent?.[i] != null) return;
        if (!existsSync(resolve(dirname(map), sourceRoot, src))) missing.add(join(dirname(map), sourceRoot, src));
      });
    }
    if (maps.length === 0) {
      console.log("no source maps in the package");
      process.exit(1);
    }
    if (missing.size > 0) {
      console.log(`${missing.size} sources the maps name are not in the package, e.g.:`);
      for (const m of [...missing].slice(0, 5)) console.log(`  ${m}`);
      process.exit(1);
    }
    console.log(`${maps.length} map files, every source they name is in the package`);
  ')
  echo "$out"
  note "$(tail -n 1 <<<"$out")"
}

check "fresh clone of the committed HEAD" fresh_clone
check "npm ci in the clone" npm_ci
check "npm pack in the clone (prepack builds dist/; the tarball holds the exports, no tests or scripts)" pack
tarball=
for f in "$work"/pack/berth-*.tgz; do [ -f "$f" ] && tarball=$f; done
check "shipped source maps point at files inside the package" source_maps

# --- the consumers -----------------------------------------------------------------------------------------
# The HTTP round trip every consumer runs against its own app; it knows nothing of berth's API.
cat >"$work/roundtrip.mjs" <<'EOF'
import { createHash } from 'node:crypto';

const sha256 = (bytes) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const expect = (cond, message) => {
  if (!cond) throw new Error(message);
};

/** Talks to a registry mounted at the root of `origin`, next to a host route GET /host/hello. Throws on any surprise. */
export async function roundTrip(origin) {
  const repo = 'consumer/demo';
  const req = async (method, path, init = {}) => {
    const res = await fetch(new URL(path, origin), { method, redirect: 'manual', ...init });
    const body = Buffer.from(await res.arrayBuffer());
    return { status: res.status, headers: res.headers, body, text: () => body.toString('utf8') };
  };

  const ping = await req('GET', '/v2/');
  expect(ping.status === 200, `GET /v2/ → ${ping.status} ${ping.text()}`);
  expect(ping.headers.get('docker-distribution-api-version') === 'registry/2.0', 'GET /v2/ lacks Docker-Distribution-API-Version');

  // a blob push the way clients do it: POST opens an upload, PUT ?digest= closes it with the bytes
  async function pushBlob(bytes) {
    const digest = sha256(bytes);
    const start = await req('POST', `/v2/${repo}/blobs/uploads/`);
    expect(start.status === 202, `POST /v2/${repo}/blobs/uploads/ → ${start.status} ${start.text()}`);
    const location = start.headers.get('location');
    expect(location, 'POST answered without a Location');
    const url = new URL(location, origin);
    url.searchParams.set('digest', digest);
    const put = await req('PUT', url.pathname + url.search, { body: bytes, headers: { 'Content-Type': 'application/octet-stream' } });
    expect(put.status === 201, `PUT ${url.pathname}?digest= → ${put.status} ${put.text()}`);
    expect(put.headers.get('docker-content-digest') === digest, `PUT answered Docker-Content-Digest ${put.headers.get('docker-content-digest')}`);
    const head = await req('HEAD', `/v2/${repo}/blobs/${digest}`);
    expect(head.status === 200 && head.headers.get('content-length') === String(bytes.length), `HEAD blob → ${head.status}`);
    return { digest, size: bytes.length };
  }
  const configBytes = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
  const layerBytes = Buffer.from(`a layer pushed by a consumer at ${new Date().toISOString()}\n`);
  const config = await pushBlob(configBytes);
  const layer = await pushBlob(layerBytes);

  const mediaType = 'application/vnd.oci.image.manifest.v1+json';
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
    }),
  );
  const pushed = await req('PUT', `/v2/${repo}/manifests/v1`, { body: manifest, headers: { 'Content-Type': mediaType } });
  expect(pushed.status === 201, `PUT manifest → ${pushed.status} ${pushed.text()}`);
  expect(pushed.headers.get('docker-content-digest') === sha256(manifest), 'PUT manifest answered the wrong Docker-Content-Digest');

  // pull it back: manifest by tag and by digest, then the layer
  for (const ref of ['v1', sha256(manifest)]) {
    const got = await req('GET', `/v2/${repo}/manifests/${ref}`, { headers: { Accept: mediaType } });
    expect(got.status === 200, `GET manifest ${ref} → ${got.status} ${got.text()}`);
    expect(got.body.equals(manifest), `GET manifest ${ref}: other bytes than pushed`);
    expect(got.headers.get('content-type') === mediaType, `GET manifest ${ref}: Content-Type ${got.headers.get('content-type')}`);
  }
  const blob = await req('GET', `/v2/${repo}/blobs/${layer.digest}`);
  expect(blob.status === 200 && blob.body.equals(layerBytes), `GET blob → ${blob.status}, other bytes than pushed`);
  const tags = await req('GET', `/v2/${repo}/tags/list`);
  expect(tags.status === 200 && JSON.stringify(JSON.parse(tags.text()).tags) === '["v1"]', `tags/list → ${tags.status} ${tags.text()}`);

  // the host app's own route, next to the registry, is still served
  const host = await req('GET', '/host/hello');
  expect(host.status === 200 && host.text() === 'hello from the host app', `GET /host/hello → ${host.status} ${host.text()}`);

  return `ping 200, 2 blobs pushed (POST+PUT), manifest ${sha256(manifest).slice(0, 19)}… pushed and pulled, host route 200`;
}
EOF

# The consumer apps: as little as a user writes to mount berth in an Express app.
write_js_app() {
  cat >server.js <<'EOF'
import { once } from 'node:events';
import express from 'express';
import { allowAll, createRegistry, memoryStorage } from 'berth';

const app = express();
app.use(createRegistry({ storage: memoryStorage(), authorize: allowAll }));
app.get('/host/hello', (_req, res) => {
  res.type('text/plain').send('hello from the host app');
});

const server = app.listen(0, '127.0.0.1');
await once(server, 'listening');
try {
  const { roundTrip } = await import(process.env.BERTH_ROUNDTRIP);
  console.log(await roundTrip(`http://127.0.0.1:${server.address().port}`));
} finally {
  server.closeAllConnections();
  server.close();
}
EOF
}

write_ts_app() {
  cat >tsconfig.json <<'EOF'
{
  "compilerOptions": {
    "target": "ES2022",
    "module": "NodeNext",
    "moduleResolution": "NodeNext",
    "strict": true,
    "skipLibCheck": false,
    "types": ["node"],
    "outDir": "out"
  },
  "files": ["server.ts"]
}
EOF
  cat >server.ts <<'EOF'
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { allowAll, createRegistry, memoryStorage } from 'berth';

const app = express();
app.use(createRegistry({ storage: memoryStorage(), authorize: allowAll }));
app.get('/host/hello', (_req: express.Request, res: express.Response) => {
  res.type('text/plain').send('hello from the host app');
});

const server = app.listen(0, '127.0.0.1');
await once(server, 'listening');
try {
  const { roundTrip } = await import(process.env.BERTH_ROUNDTRIP ?? 'BERTH_ROUNDTRIP is not set');
  console.log(await roundTrip(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
} finally {
  server.closeAllConnections();
  server.close();
}
EOF
}

# `consumer_install DIR LANG EXPRESS_SPEC [TYPES_EXPRESS_SPEC]`
consumer_install() {
  local dir=$1 lang=$2 express=$3 types_express=${4:-}
  [ -n "$tarball" ] || {
    echo "no tarball: npm pack failed above"
    return 1
  }
  mkdir -p "$dir"
  cd "$dir"
  printf '{ "name": "%s", "version": "0.0.0", "private": true, "type": "module" }\n' "$(basename "$dir")" >package.json
  local deps=("$tarball" "$express")
  if [ "$lang" = ts ]; then
    deps+=("$TYPESCRIPT" "$types_express" "$TYPES_NODE")
    write_ts_app
  else
    write_js_app
  fi
  local out rc=0
  out=$(npm install "${NPM_INSTALL[@]}" --save-exact "${deps[@]}" 2>&1) || rc=$?
  echo "$out"
  [ "$rc" -eq 0 ] || {
    echo "npm install exited $rc"
    return 1
  }
  if grep -qiE 'ERESOLVE|peer dep|conflicting peer' <<<"$out"; then
    echo "npm install warned about peer dependencies"
    return 1
  fi
  local want=${express#express@} got
  got=$(node -p 'require("express/package.json").version')
  [ "$got" = "$want" ] || {
    echo "express $got installed, $want wanted"
    return 1
  }
  # berth's "exports" does not expose ./package.json, so read the installed file itself
  note "berth $(node -p 'require("./node_modules/berth/package.json").version'), express $got$([ "$lang" = ts ] && echo ", typescript $(node -p 'require("typescript/package.json").version'), $types_express")"
}

consumer_ls() {
  cd "$1"
  local out rc=0
  out=$(npm ls --all 2>&1) || rc=$?
  echo "$out"
  [ "$rc" -eq 0 ] || {
    echo "npm ls --all exited $rc"
    return 1
  }
  # an optional (peer) dependency nobody installed is fine (mongodb for apps without the GridFS store, and the
  # platform-specific optionals of transitive packages); anything else unmet is not
  if grep -v 'UNMET OPTIONAL DEPENDENCY' <<<"$out" | grep -qiE 'ERESOLVE|UNMET|missing|invalid|extraneous|npm (error|ERR)'; then
    echo "npm ls --all reports a problem"
    return 1
  fi
  if ! grep -qE '^[├└]─[─┬] berth@' <<<"$out" || ! grep -qE '^[├└]─[─┬] express@' <<<"$out"; then
    echo "berth and express are not both installed at the top level"
    return 1
  fi
  note "$(grep -cE '[├└]' <<<"$out") entries"
}

consumer_typecheck() {
  cd "$1"
  ./node_modules/.bin/tsc --version
  ./node_modules/.bin/tsc --noEmit -p .
}

consumer_run() {
  local dir=$1 lang=$2 entry=server.js
  cd "$dir"
  if [ "$lang" = ts ]; then
    # emit, to run the compiled program (Node 20 does not run .ts); the check above has type-checked it
    ./node_modules/.bin/tsc -p . --noCheck
    entry=out/server.js
  fi
  local out
  out=$(BERTH_ROUNDTRIP="file://$work/roundtrip.mjs" timeout 60 node "$entry")
  echo "$out"
  note "$(tail -n 1 <<<"$out")"
}

# `consumer LABEL js|ts EXPRESS_SPEC [TYPES_EXPRESS_SPEC]`: a fresh project and its checks
consumer() {
  local label=$1 lang=$2 express=$3 types_express=${4:-}
  local dir="$work/consumer-$lang-express${express#express@}"
  check "$label: npm install of the tarball" consumer_install "$dir" "$lang" "$express" "$types_express"
  check "$label: npm ls --all is clean" consumer_ls "$dir"
  if [ "$lang" = ts ]; then
    check "$label: tsc --noEmit (strict, NodeNext, no skipLibCheck)" consumer_typecheck "$dir"
  fi
  check "$label: app with the registry mounted, HTTP round trip" consumer_run "$dir" "$lang"
}

consumer "Express 4 + JavaScript" js "$EXPRESS4"
consumer "Express 5 + JavaScript" js "$EXPRESS5"
consumer "Express 4 + TypeScript" ts "$EXPRESS4" "$TYPES_EXPRESS4"
consumer "Express 5 + TypeScript" ts "$EXPRESS5" "$TYPES_EXPRESS5"

summary
