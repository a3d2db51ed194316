/**
 * The mirror against CNCF Distribution v3 (HTTP Basic, htpasswd) and berth (token auth) on loopback,
 * pulled through by real clients: crane, skopeo (direct, and through a containers-registries.conf
 * mirror entry as podman and CRI-O use it) and containerd's `ns=` requests. Run by scripts/ci-mirror.sh,
 * which builds and caches the binaries and passes DISTRIBUTION_BIN, CRANE_BIN and SKOPEO_BIN.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import bcrypt from 'bcryptjs';
import type { Digest } from '../../lib/index.js';
import { Client, OCI_INDEX, OCI_MANIFEST, bytesOf, digestOf } from '../api/helpers.js';
import { type TestMirror, type Upstream, UPSTREAM_USER, berthUpstream, eventually, faultProxy, startMirror } from './fixtures.js';
import { mirrorScenarios } from './scenarios.js';

const run = promisify(execFile);
const REPO = resolve(import.meta.dirname, '../..');
const DISTRIBUTION_BIN = process.env.DISTRIBUTION_BIN ?? join(REPO, '.cache/distribution/registry-v3.1.1/bin/registry');
const CRANE_BIN = process.env.CRANE_BIN ?? join(REPO, '.cache/clients/crane-v0.22.1/bin/crane');
const SKOPEO_BIN = process.env.SKOPEO_BIN ?? 'skopeo';
const CONTAINERD_ACCEPT = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  '*/*',
].join(', ');

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

/** CNCF Distribution with a filesystem root and htpasswd auth, as a child process; `restart` keeps port and root. */
export interface Distribution extends Upstream {
  origin: string;
  kill(): Promise<void>;
  restart(): Promise<void>;
}

export async function distributionUpstream(): Promise<Distribution> {
  assert.ok(existsSync(DISTRIBUTION_BIN), `CNCF Distribution is not built at ${DISTRIBUTION_BIN}: run scripts/ci-mirror.sh`);
  const dir = await mkdtemp(join(tmpdir(), 'berth-distribution-'));
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  await writeFile(join(dir, 'htpasswd'), `${UPSTREAM_USER.username}:${bcrypt.hashSync(UPSTREAM_USER.password, 5)}\n`);
  await writeFile(
    join(dir, 'config.yml'),
    [
      'version: 0.1',
      'log: { level: error, accesslog: { disabled: true } }',
      `storage: { filesystem: { rootdirectory: ${join(dir, 'data')} }, delete: { enabled: true } }`,
      `http: { addr: "127.0.0.1:${port}", secret: "berth-mirror-test-secret" }`,
      `auth: { htpasswd: { realm: distribution, path: ${join(dir, 'htpasswd')} } }`,
      '',
    ].join('\n'),
  );
  let child: ChildProcess | undefined;
  const startChild = async () => {
    child = spawn(DISTRIBUTION_BIN, ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'inherit'] });
    await eventually(async () => (await fetch(`${origin}/v2/`).catch(() => undefined))?.status === 401, 20_000, 'Distribution listening');
  };
  const stopChild = async (signal: NodeJS.Signals) => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise((done) => running.once('exit', done));
    running.kill(signal);
    await exited;
  };
  await startChild();
  const proxy = await faultProxy(origin);
  const basic = `Basic ${Buffer.from(`${UPSTREAM_USER.username}:${UPSTREAM_USER.password}`).toString('base64')}`;
  return {
    label: 'CNCF Distribution v3.1.1 (Basic auth)',
    origin,
    proxy,
    credentials: UPSTREAM_USER,
    seed: new Client(origin, '', { Authorization: basic }),
    kill: () => stopChild('SIGKILL'),
    restart: startChild,
    close: async () => {
      await proxy.close();
      await stopChild('SIGTERM');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

mirrorScenarios('CNCF Distribution v3.1.1 (Basic auth, child process)', distributionUpstream);

describe('mirror: Distribution killed mid-blob', () => {
  let upstream: Distribution;
  let mirror: TestMirror;
  before(async () => {
    upstream = await distributionUpstream();
    mirror = await startMirror([{ prefix: 'dist/', url: upstream.proxy.origin, credentials: upstream.credentials, timeout: 3000 }]);
  });
  after(async () => {
    await mirror.close();
    await upstream.close();
  });

  it('the process dies during a transfer: nothing partial is stored; after its restart the next request refetches', async () => {
    const layer = randomBytes(4 * 1024 * 1024);
    const image = await upstream.seed.pushImage('killed/app', { tag: 'v1', layers: [layer] });
    const digest = image.layers[0]!.digest as Digest;
    upstream.proxy.faults.holdAfter = (req) => (req.url?.includes(digest) ? 1024 * 1024 : undefined);
    const res = await fetch(`${mirror.served.origin}/v2/dist/killed/app/blobs/${digest}`);
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    let received = 0;
    while (received < 512 * 1024) received += (await reader.read()).value?.length ?? 0;
    await upstream.kill();
    upstream.proxy.release();
    await assert.rejects(async () => {
      for (;;) if ((await reader.read()).done) return;
    }, 'the client sees a cut transfer');
    await eventually(() => mirror.logged.has(/blob transfer from upstream failed/), 5000, 'the failure logged');
    assert.equal(await mirror.storage.blobs.stat(digest), undefined);
    upstream.proxy.faults = {};
    await upstream.restart();
    assert.ok((await bytesOf(await mirror.client.req('GET', `/v2/dist/killed/app/blobs/${digest}`))).equals(layer));
    assert.equal(upstream.proxy.count('GET', new RegExp(`blobs/${digest}$`)), 2);
  });
});

describe('mirror: real clients through the mirror (crane, skopeo, podman/CRI-O registries.conf, containerd ns)', () => {
  let dist: Distribution;
  let berth: Upstream;
  let mirror: TestMirror;
  let work: string;
  let host: string;
  const digests: Record<string, string> = {};

  const exec = async (file: string, args: string[]) => {
    try {
      return (await run(file, args, { maxBuffer: 64 * 1024 * 1024 })).stdout;
    } catch (err) {
      const { stderr } = err as { stderr?: string };
      throw new Error(`${file} ${args.join(' ')} failed: ${stderr ?? String(err)}`, { cause: err });
    }
  };
  /** A real image (a layout from scripts/clients/make-oci-layout.sh) copied by skopeo into an upstream. */
  const seed = async (label: string, target: string, creds?: string) => {
    const layout = join(work, `layout-${label}`);
    digests[label] = (await exec('bash', [join(REPO, 'scripts/clients/make-oci-layout.sh'), layout, 'v1', '1024,300000'])).trim();
    await exec(SKOPEO_BIN, ['copy', '--insecure-policy', '--dest-tls-verify=false', ...(creds ? ['--dest-creds', creds] : []), `oci:${layout}:v1`, `docker://${target}`]);
  };

  before(async () => {
    for (const [name, bin, args] of [['crane', CRANE_BIN, ['version']], ['skopeo', SKOPEO_BIN, ['--version']]] as const) {
      await exec(bin, [...args]).catch(() => assert.fail(`${name} is not runnable (${bin}): run scripts/ci-mirror.sh`));
    }
    work = await mkdtemp(join(tmpdir(), 'berth-mirror-clients-'));
    dist = await distributionUpstream();
    berth = await berthUpstream('token');
    mirror = await startMirror([
      { prefix: 'dist/', url: dist.proxy.origin, credentials: dist.credentials, ns: 'dist.test' },
      { prefix: 'berth/', url: berth.proxy.origin, credentials: berth.credentials, ns: 'berth.test' },
    ]);
    host = new URL(mirror.served.origin).host;
    await seed('dist', `${new URL(dist.origin).host}/library/app:v1`, `${UPSTREAM_USER.username}:${UPSTREAM_USER.password}`);
    await seed('berth', `${new URL(berth.seed.origin).host}/team/app:v1`);
  });
  after(async () => {
    await mirror.close();
    await dist.close();
    await berth.close();
    await rm(work, { recursive: true, force: true });
  });

  it('crane: digest, manifest and pull (OCI layout) of a Distribution image through the mirror', async () => {
    const ref = `${host}/dist/library/app:v1`;
    assert.equal((await exec(CRANE_BIN, ['digest', '--insecure', ref])).trim(), digests.dist);
    const manifest = JSON.parse(await exec(CRANE_BIN, ['manifest', '--insecure', ref])) as { layers: { digest: string }[] };
    assert.equal(manifest.layers.length, 2);
    const out = join(work, 'crane-out');
    await exec(CRANE_BIN, ['pull', '--insecure', '--format', 'oci', ref, out]);
    const blobs = await readdir(join(out, 'blobs/sha256'));
    for (const layer of manifest.layers) {
      assert.ok(blobs.includes(layer.digest.slice(7)));
      assert.equal(digestOf(await readFile(join(out, 'blobs/sha256', layer.digest.slice(7)))), layer.digest);
    }
    assert.equal(dist.proxy.count('GET', /library\/app\/manifests\/v1$/), 1);
  });

  it('skopeo: inspect and copy of a berth (token auth) image through the mirror', async () => {
    const ref = `docker://${host}/berth/team/app:v1`;
    const inspected = JSON.parse(await exec(SKOPEO_BIN, ['inspect', '--tls-verify=false', ref])) as { Digest: string; Layers: string[] };
    assert.equal(inspected.Digest, digests.berth);
    await exec(SKOPEO_BIN, ['copy', '--insecure-policy', '--src-tls-verify=false', ref, `oci:${join(work, 'skopeo-out')}:v1`]);
    const index = JSON.parse(await readFile(join(work, 'skopeo-out/index.json'), 'utf8')) as { manifests: { digest: string }[] };
    assert.equal(index.manifests[0]?.digest, digests.berth);
    for (const layer of inspected.Layers) assert.ok(existsSync(join(work, 'skopeo-out/blobs/sha256', layer.slice(7))));
  });

  it('podman / CRI-O: a registries.conf mirror entry sends dist.test pulls to berth', async () => {
    const conf = join(work, 'registries.conf');
    await writeFile(
      conf,
      ['[[registry]]', 'prefix = "dist.test"', 'location = "dist.test"', '', '[[registry.mirror]]', `location = "${host}/dist"`, 'insecure = true', ''].join('\n'),
    );
    const out = join(work, 'podman-out');
    await exec(SKOPEO_BIN, ['--registries-conf', conf, 'copy', '--insecure-policy', 'docker://dist.test/library/app:v1', `oci:${out}:v1`]);
    const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    assert.equal(index.manifests[0]?.digest, digests.dist);
  });

  it('containerd: HEAD by tag, then GET by digest, every request with ?ns=<upstream host>', async () => {
    for (const [ns, name, label] of [['dist.test', 'library/app', 'dist'], ['berth.test', 'team/app', 'berth']] as const) {
      const client = new Client(mirror.served.origin);
      const head = await client.req('HEAD', `/v2/${name}/manifests/v1?ns=${ns}`, { headers: { Accept: CONTAINERD_ACCEPT } });
      assert.equal(head.status, 200);
      const digest = head.headers.get('docker-content-digest');
      assert.equal(digest, digests[label]);
      const res = await client.req('GET', `/v2/${name}/manifests/${digest}?ns=${ns}`, { headers: { Accept: CONTAINERD_ACCEPT } });
      assert.equal(res.headers.get('content-type'), OCI_MANIFEST);
      const manifest = JSON.parse((await bytesOf(res)).toString()) as { config: { digest: string }; layers: { digest: string }[] };
      for (const { digest: blob } of [manifest.config, ...manifest.layers]) {
        const got = await client.req('GET', `/v2/${name}/blobs/${blob}?ns=${ns}`);
        assert.equal(digestOf(await bytesOf(got)), blob);
      }
    }
    await eventually(async () => (await mirror.storage.tags.list('dist/library/app', {})).includes('v1'), 1000, 'cached under the prefix');
  });

  it('crane: a multi-platform index from Distribution, one platform pulled through the mirror', async () => {
    const amd = await dist.seed.pushImage('multi/app', { layers: ['amd64'] });
    const arm = await dist.seed.pushImage('multi/app', { layers: ['arm64'] });
    const index = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ ...amd.descriptor, platform: { architecture: 'amd64', os: 'linux' } }, { ...arm.descriptor, platform: { architecture: 'arm64', os: 'linux' } }] };
    await dist.seed.pushManifest('multi/app', 'v1', index, OCI_INDEX);
    const ref = `${host}/dist/multi/app:v1`;
    assert.equal((await exec(CRANE_BIN, ['digest', '--insecure', '--platform', 'linux/arm64', ref])).trim(), arm.digest);
    await exec(CRANE_BIN, ['pull', '--insecure', '--platform', 'linux/arm64', '--format', 'oci', ref, join(work, 'multi-out')]);
    assert.ok(await mirror.storage.manifests.stat('dist/multi/app', arm.digest as Digest));
    assert.equal(await mirror.storage.manifests.stat('dist/multi/app', amd.digest as Digest), undefined, 'the other platform was never fetched');
  });
});
