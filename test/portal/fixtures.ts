/**
 * Shared by the portal tests: an Express app with the registry at its root and the portal at
 * /artifacts, users picked by a `who` cookie or an `x-user` header (a stand-in for the host's
 * session), chart packages built in memory, and seed content (images, an index, charts, referrers).
 */
import { gzipSync } from 'node:zlib';
import express from 'express';
import tar from 'tar-stream';
import { type Access, type Authorize, type Decision, type Portal, type PortalOptions, type Registry, type Storage, createPortal, createRegistry, memoryStorage } from '../../lib/index.js';
import { Client, OCI_INDEX, OCI_MANIFEST, type Served, descriptor, listen } from '../api/helpers.js';

export const HELM_CONFIG = 'application/vnd.cncf.helm.config.v1+json';
export const HELM_LAYER = 'application/vnd.cncf.helm.chart.content.v1.tar+gzip';

/** ann writes everywhere; bob reads everything but `private/**`; anonymous reads `public/**` and `charts/**`. */
export const authorize: Authorize<express.Request> = (req, accesses) => {
  const cookie = /(?:^|;\s*)who=([a-z]+)/.exec(req.headers.cookie ?? '')?.[1];
  const user = (req.headers['x-user'] as string | undefined) ?? cookie;
  if (user === 'mallory') return { invalid: true, allowed: false };
  const identity = user === 'ann' || user === 'bob' ? { name: user } : undefined;
  const allowed = accesses.map((a: Access) => {
    if (a.action === 'ping' || a.action === 'catalog') return true;
    if (user === 'ann') return true;
    if (a.action !== 'pull') return false;
    if (user === 'bob') return !a.repository.startsWith('private/');
    return a.repository.startsWith('public/') || a.repository.startsWith('charts/');
  });
  const decision: Decision = { allowed, ...(identity && { identity }) };
  return decision;
};

export interface PortalApp {
  served: Served;
  origin: string;
  registry: Registry;
  portal: Portal;
  storage: Storage;
  /** A registry client acting as ann. */
  ann: Client;
  /** fetch under /artifacts as `user` (undefined: anonymous). */
  get(path: string, user?: string, init?: RequestInit): Promise<Response>;
  close(): Promise<void>;
}

export async function startPortalApp(options: Partial<PortalOptions<express.Request>> = {}, storage: Storage = memoryStorage()): Promise<PortalApp> {
  const registry = createRegistry<express.Request>({ storage, authorize });
  const portal = createPortal<express.Request>({ registry, authorize, ...options });
  const app = express();
  app.use(registry);
  app.use('/artifacts', portal);
  app.get('/login', (req, res) => {
    const user = typeof req.query.user === 'string' ? req.query.user : '';
    res.setHeader('Set-Cookie', `who=${/^[a-z]+$/.test(user) ? user : ''}; Path=/; SameSite=Lax; HttpOnly`);
    res.redirect(303, '/artifacts/');
  });
  const served = await listen(app);
  const ann = new Client(served.origin, '', { 'x-user': 'ann' });
  return {
    served,
    origin: served.origin,
    registry,
    portal,
    storage,
    ann,
    get: (path, user, init = {}) =>
      fetch(`${served.origin}/artifacts${path}`, { redirect: 'manual', ...init, headers: { ...(user && { 'x-user': user }), ...(init.headers as Record<string, string> | undefined) } }),
    close: async () => {
      portal.close();
      await served.close();
    },
  };
}

export interface ChartSpec {
  name: string;
  version: string;
  appVersion?: string;
  description?: string;
  /** Extra Chart.yaml text appended as is. */
  extraYaml?: string;
  readme?: string;
  values?: string;
  /** Extra files: path inside the chart directory → content. */
  files?: Record<string, string>;
  /** Overrides the top directory (default: the chart name). */
  top?: string;
}

/** A chart package as `helm package` makes it: `<name>/Chart.yaml` first, gzip-compressed tar. */
export async function makeChart(spec: ChartSpec): Promise<Buffer> {
  const top = spec.top ?? spec.name;
  const chartYaml = [
    'apiVersion: v2',
    `name: ${spec.name}`,
    `version: ${spec.version}`,
    ...(spec.appVersion ? [`appVersion: "${spec.appVersion}"`] : []),
    ...(spec.description ? [`description: ${JSON.stringify(spec.description)}`] : []),
    'type: application',
    ...(spec.extraYaml ? [spec.extraYaml] : []),
  ].join('\n');
  const entries: [string, string][] = [[`${top}/Chart.yaml`, chartYaml + '\n'], [`${top}/values.yaml`, spec.values ?? 'replicaCount: 1\n']];
  if (spec.readme !== undefined) entries.push([`${top}/README.md`, spec.readme]);
  entries.push([`${top}/templates/deployment.yaml`, 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n']);
  for (const [path, text] of Object.entries(spec.files ?? {})) entries.push([`${top}/${path}`, text]);
  return gzipSync(await tarOf(entries));
}

/** A tar archive of `entries` (names taken literally, so tests can build hostile ones). */
export async function tarOf(entries: readonly (readonly [string, string | Buffer])[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (c: unknown) => chunks.push(c as Buffer));
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  for (const [name, content] of entries) pack.entry({ name, mtime: new Date(0) }, content);
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** Pushes a chart as `helm push <tgz> oci://<host>/<namespace>` does. */
export async function pushChart(client: Client, namespace: string, spec: ChartSpec): Promise<{ repository: string; digest: string; tgz: Buffer }> {
  const tgz = await makeChart(spec);
  const repository = namespace ? `${namespace}/${spec.name}` : spec.name;
  const config = JSON.stringify({ apiVersion: 'v2', name: spec.name, version: spec.version, ...(spec.appVersion && { appVersion: spec.appVersion }), ...(spec.description && { description: spec.description }), type: 'application' });
  await client.pushBlob(repository, config);
  await client.pushBlob(repository, tgz);
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: descriptor(HELM_CONFIG, config),
    layers: [descriptor(HELM_LAYER, tgz)],
    annotations: { 'org.opencontainers.image.title': spec.name, 'org.opencontainers.image.version': spec.version },
  };
  const pushed = await client.pushManifest(repository, spec.version.replace(/\+/g, '_'), manifest);
  return { repository, digest: pushed.digest, tgz };
}

/** A multi-platform image: two images and an index over them, tagged. */
export async function pushIndex(client: Client, repository: string, tag: string): Promise<string> {
  const platforms = [
    { os: 'linux', architecture: 'amd64' },
    { os: 'linux', architecture: 'arm64', variant: 'v8' },
  ];
  const manifests = [];
  for (const platform of platforms) {
    const image = await client.pushImage(repository, { seed: `${tag}-${platform.architecture}` });
    manifests.push({ ...image.descriptor, platform });
  }
  const pushed = await client.pushManifest(repository, tag, { schemaVersion: 2, mediaType: OCI_INDEX, manifests }, OCI_INDEX);
  return pushed.digest;
}

/** Content for the pages: images, an index with a signature and an SBOM, charts, a private repository, an artifact. */
export async function seed(client: Client): Promise<void> {
  await client.pushImage('public/web', { tag: 'v1.0.0', seed: 'web1' });
  const index = await pushIndex(client, 'public/web', 'v1.1.0');
  const indexBody = await (await client.req('GET', `/v2/public/web/manifests/${index}`, { headers: { Accept: OCI_INDEX } })).arrayBuffer();
  const subject = { mediaType: OCI_INDEX, digest: index, size: indexBody.byteLength };
  const signature = await client.pushImage('public/web', { artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json', configMediaType: 'application/vnd.oci.empty.v1+json', subject, seed: 'sig' });
  await client.pushImage('public/web', { artifactType: 'application/spdx+json', configMediaType: 'application/vnd.oci.empty.v1+json', subject, seed: 'sbom' });
  await client.pushImage('public/web', {
    artifactType: 'application/vnd.in-toto+json',
    configMediaType: 'application/vnd.oci.empty.v1+json',
    subject: signature.descriptor,
    seed: 'att',
  });
  await client.pushImage('public/tools', { tag: 'latest', seed: 'tools' });
  await client.pushImage('private/secret', { tag: 'v1', seed: 'secret' });
  await client.pushImage('public/docs', { tag: 'v1', artifactType: 'application/vnd.example.docs.v1', configMediaType: 'application/vnd.oci.empty.v1+json', seed: 'docs' });
  for (const version of ['0.1.0', '0.2.0', '1.0.0-rc.1']) {
    await pushChart(client, 'charts', {
      name: 'demo',
      version,
      appVersion: '1.25.0',
      description: 'A demo web server chart',
      readme: '# Demo\n\nInstall it with `helm install`.\n\n| key | default |\n|---|---|\n| replicaCount | 1 |\n',
      values: 'replicaCount: 1\nimage:\n  repository: nginx\n',
      extraYaml: 'keywords:\n  - web\n  - demo\nmaintainers:\n  - name: Ann\n    email: ann@example.com\nhome: https://example.com/demo\n',
    });
  }
}
