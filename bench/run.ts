/**
 * `npm run bench`: berth against Distribution v3.1.1, Debian's docker-registry 2.8.2, `crane registry
 * serve --disk` and a bare Node server on the filesystem (a tmpfs, so the software is measured, not
 * the disk), then berth's GridFS store against the driver's own GridFSBucket on SecantusDB, then real
 * clients. One server at a time on loopback, pinned to core 0; this process (the load generator) and
 * the clients it runs are pinned to core 1. Targets are interleaved over repetitions (A B C … A B C …);
 * each session starts a fresh server on a fresh root and warms it up first. Raw samples, medians,
 * ratios and the issue's target checks go to results/bench/<stamp>.json and .md.
 *
 *   npm run bench                          # everything, 3 repetitions (about 45 minutes on 2 cores)
 *   npm run bench -- --reps 1 --only mget-tag-c16,push-put --targets berth,v3,bare
 *   npm run bench -- --write-docs          # also rewrites the results section and chart of docs/benchmarks.md
 *   npm run bench:smoke                    # the CI subset: berth and the bare server, fails on a gross regression
 *
 * Options: --reps N, --targets ids (berth,bare,v3,v2,crane,berth-gridfs,bare-gridfs), --only workload ids,
 * --blob-mib N (default 1024), --gridfs-mib N (default 256), --seconds N per request-rate row (default 3),
 * --no-gridfs, --no-clients, --out FILE, --smoke, --update-baseline (smoke: write the ratios as the new baseline),
 * --before DIR (a checkout of an older berth with its example app built: benched as target "before").
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Generated, GiB, MiB, randomFile } from './lib/fixtures.js';
import { cpuSeconds, loadAverage, peakRssMiB, pinSelf, resetPeak, rssMiB, run, type Started } from './lib/proc.js';
import { chart, type Sample, summarise, tables, type TargetInfo } from './lib/report.js';
import { ensureClient, install, REPO, type Target, targets as allTargets, waitReady } from './lib/targets.js';
import { type Ctx, type Fixtures, prepare, SMOKE, WORKLOADS, type Workload } from './lib/workloads.js';

const { values: args } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    reps: { type: 'string' },
    targets: { type: 'string' },
    only: { type: 'string' },
    'blob-mib': { type: 'string' },
    'gridfs-mib': { type: 'string' },
    seconds: { type: 'string' },
    'no-gridfs': { type: 'boolean', default: false },
    'no-clients': { type: 'boolean', default: false },
    out: { type: 'string' },
    'write-docs': { type: 'boolean', default: false },
    'update-baseline': { type: 'boolean', default: false },
    before: { type: 'string' },
  },
});

const smoke = args.smoke;
const reps = Number(args.reps ?? (smoke ? 2 : 3));
const fsMiB = Number(args['blob-mib'] ?? (smoke ? 256 : 1024));
const gridfsMiB = Number(args['gridfs-mib'] ?? 256);
const seconds = Number(args.seconds ?? (smoke ? 1.5 : 3));
const concurrentMiB = smoke ? 16 : 64;
const wantedTargets = args.targets?.split(',') ?? (smoke ? ['berth', 'bare'] : undefined);
const only = args.only?.split(',') ?? (smoke ? SMOKE : undefined);
const gridfs = !smoke && !args['no-gridfs'] && (wantedTargets === undefined || wantedTargets.some((t) => t.endsWith('gridfs')));
const withClients = !smoke && !args['no-clients'];
const BASELINE = join(REPO, 'bench/smoke-baseline.json');

const log = (message: string) => console.log(`[bench] ${message}`);
const cleanups: (() => Promise<void>)[] = [];
let stopping = false;
async function cleanup(): Promise<void> {
  if (stopping) return;
  stopping = true;
  for (const fn of cleanups.reverse()) await fn().catch((err: unknown) => console.error(err));
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void cleanup().then(() => process.exit(130));
  });
}

/** A tmpfs of our own (root can mount one), or a directory in /dev/shm. */
async function scratchSpace(): Promise<{ dir: string; kind: string }> {
  const dir = await mkdtemp('/tmp/berth-bench-');
  if (process.getuid?.() === 0) {
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16g,mode=0755', 'berth-bench', dir], { stdio: 'pipe' });
      cleanups.push(async () => {
        execFileSync('umount', [dir]);
        await rm(dir, { recursive: true, force: true });
      });
      return { dir, kind: 'tmpfs (mount -t tmpfs)' };
    } catch {
      // not allowed here: fall back to /dev/shm
    }
  }
  await rm(dir, { recursive: true, force: true });
  const shm = await mkdtemp('/dev/shm/berth-bench-');
  cleanups.push(() => rm(shm, { recursive: true, force: true }));
  return { dir: shm, kind: 'tmpfs (/dev/shm)' };
}

let nextPort = 5600;
async function freePort(): Promise<number> {
  for (;;) {
    const port = nextPort++;
    const taken = await new Promise<boolean>((resolve) => {
      const socket = connect({ port, host: '127.0.0.1' });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (!taken) return port;
  }
}

function machine(): Record<string, unknown> {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const version = (cmd: string, a: string[]) => {
    try {
      return execFileSync(cmd, a, { stdio: ['ignore', 'pipe', 'pipe'] }).toString().trim().split('\n')[0];
    } catch {
      return undefined;
    }
  };
  return {
    cpu: /model name\s*:\s*(.+)/.exec(cpuinfo)?.[1],
    cores: cpus().length,
    shaNi: /\bsha_ni\b/.test(cpuinfo),
    memoryGiB: Math.round(totalmem() / GiB),
    kernel: version('uname', ['-r']),
    os: /PRETTY_NAME="([^"]+)"/.exec(existsSync('/etc/os-release') ? readFileSync('/etc/os-release', 'utf8') : '')?.[1],
    node: process.version,
    go: version('go', ['version']),
    curl: version('curl', ['--version']),
  };
}

async function fixtures(scratch: string, size: number, label: string, concurrent: Generated, clients: Fixtures['clients']): Promise<Fixtures> {
  const dir = join(scratch, 'fixtures');
  await mkdir(dir, { recursive: true });
  log(`making the ${label} blobs (2 × ${size} MiB of random bytes)`);
  const a = await randomFile(dir, `${label}-a.bin`, size * MiB);
  const b = await randomFile(dir, `${label}-b.bin`, size * MiB);
  return { a, b, concurrent, scratch, ...(clients && { clients }) };
}

async function clientTools(scratch: string): Promise<Fixtures['clients']> {
  let skopeo = execFileSync('bash', ['-c', 'command -v skopeo || true']).toString().trim();
  if (!skopeo && process.getuid?.() === 0) {
    log("installing Debian's skopeo with apt-get");
    await run('apt-get', ['install', '-y', '-q', 'skopeo'], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).catch(() => undefined);
    skopeo = execFileSync('bash', ['-c', 'command -v skopeo || true']).toString().trim();
  }
  if (!skopeo) {
    log('skopeo is not installed (apt-get install skopeo): client rows skipped');
    return undefined;
  }
  const oras = await ensureClient('oras');
  const helm = await ensureClient('helm3');
  const dir = join(scratch, 'chart');
  await mkdir(dir, { recursive: true });
  const env = { ...process.env, HOME: dir, XDG_CONFIG_HOME: join(dir, '.config'), XDG_CACHE_HOME: join(dir, '.cache'), XDG_DATA_HOME: join(dir, '.local') };
  await run(helm, ['create', 'demo'], { cwd: dir, env });
  await run(helm, ['package', 'demo', '--version', '0.1.0'], { cwd: dir, env });
  return { skopeo, oras, helm, makeLayout: join(REPO, 'scripts/clients/make-oci-layout.sh'), chart: join(dir, 'demo-0.1.0.tgz') };
}

interface Mongo {
  uri: string;
  pid: number;
  drop(database: string): Promise<void>;
}

async function startMongo(): Promise<Mongo> {
  const port = String(await freePort());
  log(`starting SecantusDB on port ${port}, pinned to core 0 with the registry (scripts/mongo-server.sh)`);
  const { stdout } = await run('taskset', ['-c', '0', 'bash', 'scripts/mongo-server.sh', 'start', port], { cwd: REPO });
  cleanups.push(async () => {
    await run('bash', ['scripts/mongo-server.sh', 'stop', port], { cwd: REPO });
  });
  const uri = /MONGODB_URI=(\S+)/.exec(stdout)?.[1];
  const pid = Number(/MONGODB_PID=(\d+)/.exec(stdout)?.[1]);
  if (!uri || !pid) throw new Error(`scripts/mongo-server.sh said: ${stdout}`);
  const { MongoClient } = await import('mongodb');
  const client = new MongoClient(uri);
  cleanups.push(() => client.close());
  return { uri, pid, drop: async (database) => {
      await client.db(database).dropDatabase();
    } };
}

const samples: Sample[] = [];
const loads: { at: string; target: string; rep: number; load: number[] }[] = [];
const baselines: Record<string, number[]> = {};

async function session(target: Target, rep: number, fx: Fixtures, workloads: Workload[], work: string, mongo?: Mongo): Promise<void> {
  const root = join(work, `root-${target.id}-${rep}`);
  await mkdir(root, { recursive: true });
  const port = await freePort();
  const database = `bench_${target.id.replace(/\W/g, '_')}_${rep}_${Date.now()}`;
  const started: Started = target.start({ root, port, log: join(work, `${target.id}-${rep}.log`), cores: '0', ...(mongo && { mongoUri: mongo.uri, database }) });
  const load = loadAverage();
  loads.push({ at: new Date().toISOString(), target: target.id, rep, load });
  log(`rep ${rep + 1}/${reps} ${target.label} (pid ${started.pid}, port ${port}, load ${load.join(' ')})`);
  try {
    await waitReady(port, started);
    const ctx: Ctx = { port, target: target.id, group: target.group, fx, seconds, run: `${rep}-${port}`, state: {} };
    await prepare(ctx);
    (baselines[target.id] ??= []).push(rssMiB(started.pid));
    for (const w of workloads) {
      if (!w.groups.includes(target.group)) continue;
      resetPeak(started.pid);
      let cpu0 = cpuSeconds(started.pid);
      let db0 = mongo ? cpuSeconds(mongo.pid) : 0;
      ctx.restart = () => {
        resetPeak(started.pid);
        cpu0 = cpuSeconds(started.pid);
        if (mongo) db0 = cpuSeconds(mongo.pid);
      };
      const sample: Sample = { target: target.id, workload: w.id, rep, value: NaN, cpuSeconds: 0, peakRssMiB: 0 };
      try {
        const r = await w.run(ctx);
        sample.cpuSeconds = cpuSeconds(started.pid) - cpu0;
        sample.peakRssMiB = peakRssMiB(started.pid);
        if (mongo) sample.dbCpuSeconds = cpuSeconds(mongo.pid) - db0;
        Object.assign(sample, r);
        if (r.skipped) sample.value = NaN;
        if (w.per === 'GiB' && r.bytes) sample.cpuPer = sample.cpuSeconds / (r.bytes / GiB);
        if (w.per === 'request' && r.requests) sample.cpuPer = (sample.cpuSeconds * 1000) / r.requests;
      } catch (err) {
        sample.error = (err as Error).message.split('\n')[0] ?? 'failed';
        sample.peakRssMiB = peakRssMiB(started.pid);
      }
      samples.push(sample);
      const shown = sample.skipped ? `n/a (${sample.skipped})` : sample.error ? `FAILED: ${sample.error}` : `${sample.value.toFixed(w.unit === 'ms' || w.unit === 's' ? 2 : 0)} ${w.unit}`;
      const cpu = sample.cpuPer === undefined ? '' : `, CPU ${sample.cpuPer.toFixed(3)} ${w.per === 'GiB' ? 's/GiB' : 'ms/req'}`;
      const p99 = sample.p99Ms === undefined ? '' : `, p99 ${sample.p99Ms.toFixed(1)} ms`;
      log(`  ${w.id.padEnd(16)} ${shown}${p99}${cpu}, peak RSS ${sample.peakRssMiB.toFixed(0)} MiB`);
    }
  } finally {
    await started.stop();
    await rm(root, { recursive: true, force: true });
    if (mongo) await mongo.drop(database).catch(() => undefined);
  }
}

async function main(): Promise<void> {
  const began = Date.now();
  pinSelf('1');
  const space = await scratchSpace();
  log(`scratch space: ${space.dir} (${space.kind}); load generator pinned to core 1, servers to core 0`);
  const installed = await install({ references: !smoke && (wantedTargets === undefined || wantedTargets.some((t) => ['v3', 'v2', 'crane'].includes(t))) });
  // --before <checkout>: an older berth (its dist-example/ built) on the same node:http host, for before/after figures
  const before = args.before === undefined ? undefined : { lib: join(args.before, 'dist-example/lib/index.js'), label: `berth before (${execFileSync('git', ['-C', args.before, 'rev-parse', '--short', 'HEAD']).toString().trim()})` };
  const list = allTargets(installed, before).filter((t) => wantedTargets === undefined || wantedTargets.includes(t.id) || t.id === 'before');
  const workloads = WORKLOADS.filter((w) => (only === undefined || only.includes(w.id)) && (withClients || w.per !== 'none'));
  const versions: Record<string, string> = {};
  for (const t of list) versions[t.id] = await t.version();

  const concurrent = new Generated(16, concurrentMiB);
  const clients = withClients && workloads.some((w) => w.per === 'none') ? await clientTools(space.dir) : undefined;
  const fsTargets = list.filter((t) => t.group === 'fs');
  if (fsTargets.length > 0) {
    const fx = await fixtures(space.dir, fsMiB, 'fs', concurrent, clients);
    for (let rep = 0; rep < reps; rep++) for (const t of fsTargets) await session(t, rep, fx, workloads, space.dir);
    await rm(fx.a.path);
    await rm(fx.b.path);
  }
  const gridfsTargets = list.filter((t) => t.group === 'gridfs');
  if (gridfs && gridfsTargets.length > 0) {
    const mongo = await startMongo();
    const fx = await fixtures(space.dir, gridfsMiB, 'gridfs', concurrent, undefined);
    for (let rep = 0; rep < reps; rep++) for (const t of gridfsTargets) await session(t, rep, fx, workloads, space.dir, mongo);
  }

  const summaries = summarise(samples);
  const infos: TargetInfo[] = list.map((t) => ({ id: t.id, label: t.label, group: t.group }));
  const sizes = { fsMiB, gridfsMiB, concurrent: `${concurrentMiB} MiB` };
  const { markdown, checks } = tables(workloads, infos, summaries, sizes);
  const facts = machine();
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const out = args.out ?? join(REPO, 'results/bench', `${smoke ? 'smoke-' : ''}${stamp}.json`);
  await mkdir(join(out, '..'), { recursive: true });
  const minutes = (Date.now() - began) / 60000;
  const record = {
    date: new Date().toISOString(),
    minutes,
    command: `npm run ${smoke ? 'bench:smoke' : 'bench'}${process.argv.slice(2).filter((a) => a !== '--smoke').length ? ` -- ${process.argv.slice(2).filter((a) => a !== '--smoke').join(' ')}` : ''}`,
    options: { reps, fsMiB, gridfsMiB, seconds, concurrentMiB, scratch: space.kind },
    machine: facts,
    versions,
    loads,
    idleRssMiB: Object.fromEntries(Object.entries(baselines).map(([k, v]) => [k, Math.max(...v)])),
    samples,
    summaries,
    checks,
  };
  await writeFile(out, JSON.stringify(record, null, 2));
  const header = `Run ${record.date} (${minutes.toFixed(1)} min), ${String(facts.cpu)}, ${String(facts.cores)} cores, sha_ni ${facts.shaNi ? 'yes' : 'no'}, node ${process.version}; load average at each session start ${Math.min(...loads.map((l) => l.load[0] ?? 0)).toFixed(1)}–${Math.max(...loads.map((l) => l.load[0] ?? 0)).toFixed(1)}; ${reps} repetitions; ${space.kind}.`;
  await writeFile(out.replace(/\.json$/, '.md'), `${header}\n\n${markdown}`);
  const svg = chart(workloads, summaries, `berth vs Distribution v3.1.1 and a bare Node server (medians of ${reps}, ${new Date().toISOString().slice(0, 10)})`);
  if (!smoke) await writeFile(out.replace(/\.json$/, '.svg'), svg);
  console.log(`\n${header}\n\n${markdown}`);
  log(`raw samples and summaries: ${out}`);

  if (args['write-docs']) {
    const docs = join(REPO, 'docs/benchmarks.md');
    const text = await readFile(docs, 'utf8');
    const begin = '<!-- bench:results -->';
    const end = '<!-- /bench:results -->';
    const a = text.indexOf(begin);
    const b = text.indexOf(end);
    if (a < 0 || b < a) throw new Error(`${docs} has no ${begin} … ${end} section`);
    await writeFile(docs, `${text.slice(0, a + begin.length)}\n${header}\n\n${markdown}\n${text.slice(b)}`);
    await writeFile(join(REPO, 'docs/benchmarks.svg'), svg);
    await writeFile(join(REPO, 'docs/benchmarks.json'), JSON.stringify(record, null, 2));
    log('docs/benchmarks.md, docs/benchmarks.svg and docs/benchmarks.json rewritten');
  }

  if (smoke) process.exitCode = await judgeSmoke(summaries, workloads);
}

/** The CI gate: a ratio to the bare server below half the committed baseline, or berth over a memory ceiling, fails. */
async function judgeSmoke(summaries: ReturnType<typeof summarise>, workloads: Workload[]): Promise<number> {
  const find = (target: string, workload: string) => summaries.find((s) => s.target === target && s.workload === workload);
  const ratios: Record<string, number> = {};
  for (const w of workloads) {
    const ours = find('berth', w.id);
    const bare = find('bare', w.id);
    if (ours && bare && Number.isFinite(ours.median) && Number.isFinite(bare.median)) ratios[w.id] = w.better === 'higher' ? ours.median / bare.median : bare.median / ours.median;
  }
  if (args['update-baseline']) {
    const previous = existsSync(BASELINE) ? (JSON.parse(readFileSync(BASELINE, 'utf8')) as { ceilingsMiB?: Record<string, number> }) : {};
    await writeFile(BASELINE, `${JSON.stringify({ date: new Date().toISOString(), note: 'berth / bare Node ratios of npm run bench:smoke; CI fails below half of each', ratios, ceilingsMiB: previous.ceilingsMiB ?? { 'push-put': 256, 'push-patch': 256, pull: 256, 'push-concurrent': 256 } }, null, 2)}\n`);
    log(`baseline written: ${BASELINE}`);
  }
  const baseline = JSON.parse(readFileSync(BASELINE, 'utf8')) as { ratios: Record<string, number>; ceilingsMiB: Record<string, number> };
  let passed = 0;
  let failed = 0;
  console.log('\nsmoke: berth / bare Node against the committed baseline (fails below half), and memory ceilings');
  for (const [id, expected] of Object.entries(baseline.ratios)) {
    const got = ratios[id];
    const ok = got !== undefined && got >= expected / 2;
    if (ok) passed++;
    else failed++;
    console.log(`${ok ? 'ok    ' : 'FAILED'} ${id.padEnd(16)} ratio ${got === undefined ? 'missing' : got.toFixed(2)} (baseline ${expected.toFixed(2)}, floor ${(expected / 2).toFixed(2)})`);
  }
  for (const [id, ceiling] of Object.entries(baseline.ceilingsMiB)) {
    const peak = find('berth', id)?.peakRssMiB;
    const ok = peak !== undefined && Number.isFinite(peak) && peak < ceiling;
    if (ok) passed++;
    else failed++;
    console.log(`${ok ? 'ok    ' : 'FAILED'} ${id.padEnd(16)} peak RSS ${peak === undefined ? 'missing' : peak.toFixed(0)} MiB (ceiling ${ceiling} MiB)`);
  }
  console.log(`${passed} passed, ${failed} failed`);
  return failed > 0 ? 1 : 0;
}

main()
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => void cleanup());
