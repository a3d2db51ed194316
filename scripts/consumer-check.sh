#!/usr/bin/env bash
# Consumer-setup check: builds berth, packs it as npm would publish it, and installs the tarball into two
# throwaway projects, the way a user would:
#   1. an ESM JavaScript app that mounts the registry in Express 5 and pushes a blob over HTTP;
#   2. a TypeScript app (module NodeNext, strict) that uses the public types and must pass `tsc --noEmit`.
# Needs the npm registry (express, typescript, @types/*). Cleans up its temp dirs; closes with "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

EXPRESS=express@5.3.0
TYPESCRIPT=typescript@5.9.3
TYPES_EXPRESS=@types/express@5.0.6
TYPES_NODE=@types/node@20.19.25

work=$(mktemp -d "${TMPDIR:-/tmp}/berth-consumer-XXXXXX")
trap 'rm -rf "$work"' EXIT

passed=0
failed=0

# Runs one check in a subshell with errexit in force (a function called from `if` would run without it).
check() {
  local name=$1
  shift
  echo "== $name"
  set +e
  (
    set -euo pipefail
    "$@"
  )
  local rc=$?
  set -e
  if [ "$rc" -eq 0 ]; then
    passed=$((passed + 1))
    echo "ok - $name"
  else
    failed=$((failed + 1))
    echo "not ok - $name (exit $rc)"
  fi
  return 0
}

summary() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}

npm_install() {
  npm install --no-audit --no-fund --loglevel=error "$@"
}

# ---------------------------------------------------------------------------------------------------------
build_and_pack() {
  rm -rf dist # a fresh build: stale files of renamed modules must not reach the tarball
  npm run build
  mkdir -p "$work/pack"
  npm pack --loglevel=warn --pack-destination "$work/pack" >/dev/null
  local tarballs=("$work"/pack/berth-*.tgz)
  [ -f "${tarballs[0]}" ] || {
    echo "npm pack produced no berth-*.tgz"
    return 1
  }
  local listing
  listing=$(tar -tzf "${tarballs[0]}")
  echo "packed $(basename "${tarballs[0]}"): $(wc -l <<<"$listing") files, $(du -k "${tarballs[0]}" | cut -f1) KiB"
  # what a consumer needs: the entry point and its types, as package.json "exports" names them
  for file in package/package.json package/dist/index.js package/dist/index.d.ts; do
    if ! grep -qx "$file" <<<"$listing"; then
      echo "the tarball lacks $file"
      return 1
    fi
  done
  # no tests, scripts or local data
  # lib/ ships on purpose: the source maps in dist/ point at it
  local extra
  extra=$(grep -E '^package/(test|scripts|example-app|data|node_modules|\.cache)/' <<<"$listing" || true)
  if [ -n "$extra" ]; then
    printf 'the tarball ships files a consumer does not need:\n%s\n' "$extra"
    return 1
  fi
}

check "build and pack" build_and_pack
tarball=$(ls "$work"/pack/berth-*.tgz 2>/dev/null | head -n 1 || true)
if [ -z "$tarball" ]; then
  echo "!! no tarball: the consumer projects cannot be set up"
  failed=$((failed + 3))
  summary
  exit 1
fi

# ---------------------------------------------------------------------------------------------------------
esm_consumer() {
  local dir="$work/esm"
  mkdir -p "$dir"
  cd "$dir"
  cat >package.json <<'EOF'
{ "name": "berth-consumer-esm", "version": "0.0.0", "private": true, "type": "module" }
EOF
  npm_install "$tarball" "$EXPRESS"
  cat >index.js <<'EOF'
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { createRegistry, memoryStorage, fsStorage, allowAll, RegistryError } from 'berth';

const fail = (message) => {
  console.error(`FAIL: ${message}`);
  process.exitCode = 1;
};
const expect = (cond, message) => {
  if (!cond) throw new Error(message);
};

for (const [name, value] of Object.entries({ createRegistry, memoryStorage, fsStorage, allowAll })) {
  expect(typeof value === 'function', `export ${name} is a function (got ${typeof value})`);
}
const err = new RegistryError('BLOB_UNKNOWN');
expect(err instanceof Error && err.code === 'BLOB_UNKNOWN' && err.status === 404, 'RegistryError works');

const root = await mkdtemp(join(tmpdir(), 'berth-consumer-data-'));
const app = express();
app.use('/fs', createRegistry({ storage: fsStorage({ root }), authorize: allowAll }));
app.use(createRegistry({ storage: memoryStorage(), authorize: allowAll }));
app.get('/', (_req, res) => res.send('host app'));

const server = app.listen(0, '127.0.0.1');
await new Promise((resolve, reject) => {
  server.once('listening', resolve);
  server.once('error', reject);
});
const origin = `http://127.0.0.1:${server.address().port}`;
try {
  for (const prefix of ['', '/fs']) {
    const ping = await fetch(`${origin}${prefix}/v2/`);
    expect(ping.status === 200, `GET ${prefix}/v2/ → ${ping.status}`);
    expect(ping.headers.get('docker-distribution-api-version') === 'registry/2.0', 'Docker-Distribution-API-Version');
    await ping.arrayBuffer();

    const blob = Buffer.from(`hello from a consumer ${prefix}`);
    const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
    const push = await fetch(`${origin}${prefix}/v2/consumer/demo/blobs/uploads/?digest=${digest}`, {
      method: 'POST',
      body: blob,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    expect(push.status === 201, `POST ${prefix} ?digest= → ${push.status}: ${await push.text()}`);
    expect(push.headers.get('location') === `${prefix}/v2/consumer/demo/blobs/${digest}`, `Location ${push.headers.get('location')}`);

    const get = await fetch(`${origin}${prefix}/v2/consumer/demo/blobs/${digest}`);
    expect(get.status === 200, `GET blob → ${get.status}`);
    expect(Buffer.from(await get.arrayBuffer()).equals(blob), 'blob bytes round-trip');
  }
  const host = await fetch(`${origin}/`);
  expect((await host.text()) === 'host app', 'host routes still served');
  console.log('OK');
} catch (e) {
  fail(e instanceof Error ? e.message : String(e));
} finally {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await rm(root, { recursive: true, force: true });
}
EOF
  local out
  out=$(node index.js)
  echo "$out"
  [ "$(printf '%s\n' "$out" | tail -n 1)" = OK ]
}

# ---------------------------------------------------------------------------------------------------------
ts_consumer() {
  local dir="$work/ts"
  mkdir -p "$dir"
  cd "$dir"
  cat >package.json <<'EOF'
{ "name": "berth-consumer-ts", "version": "0.0.0", "private": true, "type": "module" }
EOF
  npm_install "$tarball" "$EXPRESS" "$TYPESCRIPT" "$TYPES_EXPRESS" "$TYPES_NODE"
  cat >tsconfig.json <<'EOF'
{
  "compilerOptions": {
    "target": "ES2022",
    "module": "NodeNext",
    "moduleResolution": "NodeNext",
    "strict": true,
    "noEmit": true,
    "types": ["node"]
  },
  "files": ["index.ts"]
}
EOF
  cat >index.ts <<'EOF'
import { timingSafeEqual } from 'node:crypto';
import express from 'express';
import {
  type Access,
  type Authorize,
  type BlobInfo,
  type Digest,
  type Registry,
  type RegistryOptions,
  type Storage,
  type UploadStore,
  ERROR_CODES,
  RegistryError,
  allowAll,
  createRegistry,
  fsStorage,
  memoryStorage,
  pullOnly,
} from 'berth';

const expected = Buffer.from(`Basic ${Buffer.from('ci:secret').toString('base64')}`);

// an authorize hook over Express's own request type: req.get(), req.user-like additions, etc.
const authorize: Authorize<express.Request> = async (req, access: Access) => {
  switch (access.action) {
    case 'ping':
    case 'catalog':
      return true;
    case 'pull':
      return !access.repository.startsWith('private/') || req.get('authorization') !== undefined;
    case 'push':
    case 'delete': {
      const header = Buffer.from(req.get('authorization') ?? '');
      return header.length === expected.length && timingSafeEqual(header, expected);
    }
  }
};

// a store composed from the built-in ones, with a wrapped upload commit (e.g. for metrics)
function withCommitLog(base: Storage, log: (info: BlobInfo) => void): Storage {
  const uploads: UploadStore = {
    ...base.uploads,
    async commit(id: string, digest: Digest, size: number) {
      const info = await base.uploads.commit(id, digest, size);
      if (info) log(info);
      return info;
    },
  };
  return { ...base, uploads };
}

const storage: Storage = process.env.BERTH_STORE === 'memory' ? memoryStorage() : fsStorage({ root: './data', fsync: true });

const options: RegistryOptions<express.Request> = {
  storage: withCommitLog(storage, (info) => console.log(`blob ${info.digest} (${info.size} bytes)`)),
  authorize,
  challenge: (access) => (access.action === 'ping' ? 'Basic realm="ci"' : `Basic realm="ci", scope="${access.action}"`),
  maxManifestBytes: 8 * 1024 * 1024,
  uploadTimeout: 30 * 60 * 1000,
  deletes: false,
  logger: { warn: (obj, msg) => console.warn(msg, obj), error: (obj, msg) => console.error(msg, obj) },
};

const registry: Registry = createRegistry(options);
const open: Registry = createRegistry({ storage: memoryStorage(), authorize: allowAll });
const readOnly = createRegistry({ storage: memoryStorage(), authorize: pullOnly });

const app = express();
app.use(registry);
app.use('/open', open);
app.use('/ro', readOnly);
app.use(express.json());
app.get('/admin/blobs/:digest', async (req, res, next) => {
  try {
    const info = await registry.storage.blobs.stat(req.params.digest as Digest);
    if (!info) throw new RegistryError('BLOB_UNKNOWN', `no blob ${req.params.digest}`, { detail: { digest: req.params.digest } });
    res.json(info);
  } catch (err) {
    if (err instanceof RegistryError) res.status(err.status).json({ code: err.code, message: err.message, known: ERROR_CODES[err.code].message });
    else next(err);
  }
});

const server = app.listen(0);
server.requestTimeout = 0;

// the type contract: a hook for another request type is refused for Express's registry options
// @ts-expect-error an Authorize<Req> needing a property express.Request lacks
const wrong: RegistryOptions<express.Request> = { storage, authorize: (req: express.Request & { tenant: string }) => req.tenant === 'a' };
void wrong;
EOF
  npx --no-install tsc --version
  npx --no-install tsc --noEmit -p .
}

# ---------------------------------------------------------------------------------------------------------
# Source and declaration maps are shipped; each must point at sources the package holds, or debuggers,
# `node --enable-source-maps`, bundlers' source-map loaders and editors' go-to-definition find nothing.
source_maps() {
  local dir="$work/extract"
  mkdir -p "$dir"
  tar -xzf "$tarball" -C "$dir"
  cd "$dir/package"
  node --input-type=module -e '
    import { readFileSync, existsSync } from "node:fs";
    import { readdirSync } from "node:fs";
    import { dirname, join, resolve } from "node:path";
    const maps = readdirSync(".", { recursive: true }).filter((f) => f.endsWith(".map"));
    const missing = new Set();
    for (const map of maps) {
      const { sources = [], sourceRoot = "", sourcesContent } = JSON.parse(readFileSync(map, "utf8"));
      sources.forEach((src, i) => {
        if (sourcesContent?.[i] != null) return;
        const path = resolve(dirname(map), sourceRoot, src);
        if (!existsSync(path)) missing.add(join(dirname(map), sourceRoot, src));
      });
    }
    console.log(`${maps.length} map files`);
    if (missing.size > 0) {
      console.log(`${missing.size} sources they name are not in the package, e.g.:`);
      for (const m of [...missing].slice(0, 5)) console.log(`  ${m}`);
      process.exit(1);
    }
  '
}

check "ESM JavaScript consumer (express 5, import from 'berth', GET /v2/ and a blob push)" esm_consumer
check "TypeScript consumer (NodeNext, strict, tsc --noEmit over the public types)" ts_consumer
check "shipped source maps point at files inside the package" source_maps

summary
