/**
 * The registries the bench compares, how each is installed or built (once, cached under .cache/), and
 * how one is started on a fresh root, pinned to the server core.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { run, type Started, startPinned } from './proc.js';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
const CACHE = join(REPO, '.cache');
/** The build another engineer's mirror work uses too: one cache, built once (GOMODCACHE/GOCACHE/GOBIN under it). */
const DISTRIBUTION_VERSION = 'v3.1.1';
const DISTRIBUTION_DIR = join(CACHE, 'distribution');
const DISTRIBUTION_BIN = join(DISTRIBUTION_DIR, `registry-${DISTRIBUTION_VERSION}`, 'bin', 'registry');
const BENCH_CACHE = join(CACHE, 'bench');

export type Group = 'fs' | 'gridfs';

export interface Target {
  id: string;
  label: string;
  group: Group;
  /** A version string for the report. */
  version(): Promise<string>;
  start(options: { root: string; port: number; log: string; cores: string; mongoUri?: string; database?: string }): Started;
}

function log(message: string): void {
  console.log(`[bench] ${message}`);
}

/** `client_bin NAME` of scripts/clients/common.sh: where scripts/clients/install.sh puts a Go client. */
export function clientBin(name: string): string {
  const versions = readFileSync(join(REPO, 'scripts/clients/versions'), 'utf8');
  const line = versions.split('\n').find((l) => l.trim().split(/\s+/)[0] === name);
  const version = line?.trim().split(/\s+/)[2];
  if (!version) throw new Error(`scripts/clients/versions names no ${name}`);
  const cache = process.env.BERTH_CLIENTS_CACHE ?? join(CACHE, 'clients');
  return join(cache, `${name}-${version}`, 'bin', name.replace(/[0-9]$/, ''));
}

/** Builds one Go client the way scripts/clients/install.sh does (same cache, same flags), when it is missing. */
export async function ensureClient(name: string): Promise<string> {
  const bin = clientBin(name);
  if (existsSync(bin)) return bin;
  const versions = readFileSync(join(REPO, 'scripts/clients/versions'), 'utf8');
  const [, pkg, version] = versions.split('\n').find((l) => l.trim().split(/\s+/)[0] === name)?.trim().split(/\s+/) ?? [];
  if (!pkg || !version) throw new Error(`scripts/clients/versions names no ${name}`);
  const cache = process.env.BERTH_CLIENTS_CACHE ?? join(CACHE, 'clients');
  log(`building ${name} ${version} into ${bin} (go install, as scripts/clients/install.sh does)`);
  const t = performance.now();
  await run('go', ['install', `${pkg}@${version}`], {
    cwd: '/tmp',
    env: { ...process.env, GOBIN: join(cache, `${name}-${version}`, 'bin'), GOMODCACHE: join(cache, 'go/mod'), GOCACHE: join(cache, 'go/build'), CGO_ENABLED: '0', GOFLAGS: '-buildvcs=false' },
  });
  log(`built ${name} in ${((performance.now() - t) / 1000).toFixed(0)} s`);
  return bin;
}

/** A `go install` of Distribution someone else started: wait for it rather than build twice. */
function distributionBuildRunning(): boolean {
  for (const pid of readdirSyncSafe('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmd.includes('install') && cmd.includes(`distribution/v3/cmd/registry@${DISTRIBUTION_VERSION}`)) return true;
    } catch {
      // gone
    }
  }
  return false;
}

function readdirSyncSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

export async function ensureDistribution(): Promise<string> {
  if (existsSync(DISTRIBUTION_BIN)) return DISTRIBUTION_BIN;
  if (distributionBuildRunning()) {
    log('a go install of Distribution is running already (shared cache .cache/distribution): waiting for it');
    const deadline = Date.now() + 20 * 60_000;
    while (!existsSync(DISTRIBUTION_BIN) && distributionBuildRunning() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5000));
    if (existsSync(DISTRIBUTION_BIN)) return DISTRIBUTION_BIN;
  }
  log(`building Distribution ${DISTRIBUTION_VERSION} into ${DISTRIBUTION_BIN} (2-5 min the first time)`);
  const t = performance.now();
  await mkdir(DISTRIBUTION_DIR, { recursive: true });
  await run('go', ['install', `github.com/distribution/distribution/v3/cmd/registry@${DISTRIBUTION_VERSION}`], {
    cwd: '/tmp',
    env: {
      ...process.env,
      GOBIN: join(DISTRIBUTION_DIR, `registry-${DISTRIBUTION_VERSION}`, 'bin'),
      GOMODCACHE: join(DISTRIBUTION_DIR, 'go/mod'),
      GOCACHE: join(DISTRIBUTION_DIR, 'go/build'),
      CGO_ENABLED: '0',
      GOFLAGS: '-buildvcs=false',
    },
  });
  log(`built Distribution in ${((performance.now() - t) / 1000).toFixed(0)} s`);
  return DISTRIBUTION_BIN;
}

export async function ensureDockerRegistry(): Promise<string> {
  const bin = '/usr/bin/docker-registry';
  if (existsSync(bin)) return bin;
  if (process.getuid?.() !== 0) throw new Error("Debian's docker-registry is missing: apt-get install docker-registry (as root)");
  log("installing Debian's docker-registry with apt-get");
  await run('apt-get', ['install', '-y', '-q', 'docker-registry'], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).catch(async () => {
    await run('apt-get', ['update', '-q']);
    await run('apt-get', ['install', '-y', '-q', 'docker-registry'], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  });
  return bin;
}

/** Transpiles a bench server (node:* and npm imports only) to JavaScript, so no TypeScript loader runs while it serves. */
export async function transpile(name: string): Promise<string> {
  const source = readFileSync(join(REPO, 'bench/servers', `${name}.ts`), 'utf8');
  const out = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } });
  await mkdir(BENCH_CACHE, { recursive: true });
  const file = join(BENCH_CACHE, `${name}.mjs`);
  await writeFile(file, out.outputText);
  return file;
}

/** `npm run build:example`: the example app compiled to dist-example/, as `npm start` serves it. */
export async function buildBerth(): Promise<string> {
  log('building berth and the example app (npm run build:example)');
  await run('npm', ['run', '--silent', 'build:example'], { cwd: REPO });
  return join(REPO, 'dist-example/example-app/server.js');
}

const distributionConfig = (root: string, port: number) => `version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${root}
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:${port}
  secret: ${randomBytes(16).toString('hex')}
`;

export interface Installed {
  /** The example app, compiled (what `npm start` serves). */
  berth: string;
  /** The compiled library the example app uses, and the node:http host of bench/servers/berth-http.ts. */
  berthLib: string;
  berthHttp: string;
  distribution?: string;
  dockerRegistry?: string;
  crane?: string;
  bareFs: string;
  bareGridfs: string;
}

export async function install(options: { references: boolean }): Promise<Installed> {
  const berth = await buildBerth();
  const berthLib = join(REPO, 'dist-example/lib/index.js');
  const berthHttp = await transpile('berth-http');
  const bareFs = await transpile('bare-fs');
  const bareGridfs = await transpile('bare-gridfs');
  if (!options.references) return { berth, berthLib, berthHttp, bareFs, bareGridfs };
  const distribution = await ensureDistribution();
  const dockerRegistry = await ensureDockerRegistry();
  const crane = await ensureClient('crane');
  return { berth, berthLib, berthHttp, distribution, dockerRegistry, crane, bareFs, bareGridfs };
}

const nodeEnv = (extra: Record<string, string>) => ({ ...process.env, NODE_ENV: 'production', ...extra });
const berthVersion = () => (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;

async function versionOf(command: string, args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await run(command, args);
    return (stdout || stderr).trim().split('\n')[0] ?? '?';
  } catch {
    return '?';
  }
}

/** Distribution v3 and Debian's docker-registry 2.8.2: the same YAML, the same command line. */
function distributionTarget(id: string, label: string, bin: string): Target {
  return {
    id,
    label,
    group: 'fs',
    version: () => versionOf(bin, ['--version']),
    start: ({ root, port, log, cores }) => {
      const config = join(root, '..', `registry-${port}.yml`);
      writeFileSync(config, distributionConfig(root, port));
      return startPinned(cores, bin, ['serve', config], { log });
    },
  };
}

export function targets(installed: Installed, before?: { lib: string; label: string }): Target[] {
  const list: Target[] = [
    {
      id: 'berth',
      label: 'berth',
      group: 'fs',
      version: async () => `berth ${berthVersion()} on node:http, node ${process.version}`,
      start: ({ root, port, log, cores }) => startPinned(cores, process.execPath, [installed.berthHttp, installed.berthLib, String(port), 'fs', root], { env: nodeEnv({}), log }),
    },
    {
      id: 'berth-express',
      label: 'berth in Express (example app)',
      group: 'fs',
      version: async () => `berth ${berthVersion()}, example app (Express 5, portal), node ${process.version}`,
      start: ({ root, port, log, cores }) =>
        startPinned(cores, process.execPath, [installed.berth], { env: nodeEnv({ PORT: String(port), HOST: '127.0.0.1', BERTH_STORE: 'fs', BERTH_DATA_DIR: root, BERTH_AUTH: 'open' }), log }),
    },
    {
      id: 'bare',
      label: 'bare Node (fs)',
      group: 'fs',
      version: async () => `node:http ${process.version}`,
      start: ({ root, port, log, cores }) => startPinned(cores, process.execPath, [installed.bareFs, root, String(port)], { env: nodeEnv({}), log }),
    },
  ];
  if (before) {
    list.push({
      id: 'before',
      label: before.label,
      group: 'fs',
      version: async () => before.label,
      start: ({ root, port, log, cores }) => startPinned(cores, process.execPath, [installed.berthHttp, before.lib, String(port), 'fs', root], { env: nodeEnv({}), log }),
    });
  }
  if (installed.distribution) list.push(distributionTarget('v3', 'Distribution v3.1.1', installed.distribution));
  if (installed.dockerRegistry) list.push(distributionTarget('v2', 'docker-registry 2.8.2 (Debian)', installed.dockerRegistry));
  if (installed.crane) {
    const bin = installed.crane;
    list.push({
      id: 'crane',
      label: 'crane registry serve --disk',
      group: 'fs',
      version: () => versionOf(bin, ['version']).then((v) => `crane ${v}`),
      start: ({ root, port, log, cores }) => startPinned(cores, bin, ['registry', 'serve', '--address', `127.0.0.1:${port}`, '--disk', root], { log }),
    });
  }
  list.push(
    {
      id: 'berth-gridfs',
      label: 'berth (GridFS)',
      group: 'gridfs',
      version: async () => 'berth, mongodb driver 7',
      start: ({ port, log, cores, mongoUri, database }) =>
        startPinned(cores, process.execPath, [installed.berthHttp, installed.berthLib, String(port), 'mongo', mongoUri ?? '', database ?? 'bench'], { env: nodeEnv({}), log }),
    },
    {
      id: 'bare-gridfs',
      label: "driver's GridFSBucket",
      group: 'gridfs',
      version: async () => 'mongodb driver GridFSBucket',
      start: ({ port, log, cores, mongoUri, database }) => startPinned(cores, process.execPath, [installed.bareGridfs, mongoUri ?? '', database ?? 'bare', String(port)], { env: nodeEnv({}), log }),
    },
  );
  return list;
}


/** Waits until something answers HTTP on the port. */
export async function waitReady(port: number, started: Started, seconds = 60): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    if (started.child.exitCode !== null) throw new Error(`the server on port ${port} exited (${started.child.exitCode})`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/v2/`);
      await res.arrayBuffer();
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`nothing answered on port ${port} within ${seconds} s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
