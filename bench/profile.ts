/**
 * Profiles one server under chosen workloads: `node --cpu-prof` (or `--heap-prof`) and `--trace-gc`,
 * then prints where the time went (self time by function, and by file) and how many collections ran.
 *
 *   npx tsx bench/profile.ts mget-tag-c16                  # berth (node:http host) on the fs store; --target berth-express or bare
 *   npx tsx bench/profile.ts pull,push-patch --target bare --blob-mib 1024
 *   npx tsx bench/profile.ts mget-tag-c16 --heap           # allocation sampling instead of CPU
 *   npx tsx bench/profile.ts --summarise some.cpuprofile    # summarise a profile taken elsewhere
 *
 * Profiles stay in results/bench/profiles/<stamp>/ for chromium's DevTools (Performance tab).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Generated, randomFile } from './lib/fixtures.js';
import { pinSelf, startPinned } from './lib/proc.js';
import { buildBerth, REPO, transpile, waitReady } from './lib/targets.js';
import { type Ctx, prepare, WORKLOADS } from './lib/workloads.js';

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: { summarise: { type: 'string' }, target: { type: 'string', default: 'berth' }, heap: { type: 'boolean', default: false }, 'blob-mib': { type: 'string', default: '256' }, seconds: { type: 'string', default: '3' }, top: { type: 'string', default: '30' } },
});

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  selfSize?: number;
  children?: (number | Node)[];
}

function summariseCpu(file: string, top: number): void {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number };
  const total = profile.samples.length;
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    if (!hits) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url.replace(/^file:\/\//, '').replace(REPO, '');
    const key = `${functionName || '(anonymous)'} ${where}:${lineNumber + 1}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + hits);
    const fileKey = where === '' ? `(${functionName})` : where.replace(/^.*node_modules\//, 'node_modules/').replace(/^node:.*/, (m) => m);
    byFile.set(fileKey, (byFile.get(fileKey) ?? 0) + hits);
  }
  const show = (title: string, map: Map<string, number>) => {
    console.log(`\n${title} (of ${total} samples, ${((profile.endTime - profile.startTime) / 1e6).toFixed(1)} s)`);
    for (const [k, v] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${((v / total) * 100).toFixed(1).padStart(5)}%  ${k}`);
  };
  show('self time by function', byFunction);
  show('self time by file', byFile);
  // inclusive time: a node's hits plus its descendants', counted once per function on each stack
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(typeof c === 'number' ? c : c.id, n.id);
  const inclusive = new Map<string, number>();
  for (const n of profile.nodes) {
    const hits = n.hitCount ?? 0;
    if (!hits) continue;
    const seen = new Set<string>();
    for (let id: number | undefined = n.id; id !== undefined; id = parent.get(id)) {
      const node = byId.get(id);
      if (!node) break;
      const { functionName, url, lineNumber } = node.callFrame;
      if (process.env.ALL_FRAMES === undefined && !url.includes('/lib/') && !url.includes('node_modules/')) continue;
      const key = `${functionName || '(anonymous)'} ${url.replace(/^file:\/\//, '').replace(REPO, '')}:${lineNumber + 1}`;
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + hits);
    }
  }
  show('inclusive time of berth and npm functions', inclusive);
}

function summariseHeap(file: string, top: number): void {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { head: Node };
  const bySite = new Map<string, number>();
  let total = 0;
  const walk = (node: Node) => {
    const size = node.selfSize ?? 0;
    total += size;
    if (size) {
      const { functionName, url, lineNumber } = node.callFrame;
      const key = `${functionName || '(anonymous)'} ${url.replace(/^file:\/\//, '').replace(REPO, '')}:${lineNumber + 1}`;
      bySite.set(key, (bySite.get(key) ?? 0) + size);
    }
    for (const child of node.children ?? []) if (typeof child === 'object') walk(child);
  };
  walk(profile.head);
  console.log(`\nsampled allocations still live at the end, by site (of ${(total / 1024 / 1024).toFixed(1)} MiB)`);
  for (const [k, v] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${((v / total) * 100).toFixed(1).padStart(5)}%  ${k}`);
}

async function main(): Promise<void> {
  if (args.summarise) {
    if (args.summarise.endsWith('.heapprofile')) summariseHeap(args.summarise, Number(args.top));
    else summariseCpu(args.summarise, Number(args.top));
    return;
  }
  pinSelf('1');
  const ids = (positionals[0] ?? 'mget-tag-c16').split(',');
  const workloads = WORKLOADS.filter((w) => ids.includes(w.id));
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const dir = join(REPO, 'results/bench/profiles', stamp);
  await mkdir(dir, { recursive: true });
  const scratch = await mkdtemp('/dev/shm/berth-profile-');
  const root = join(scratch, 'root');
  await mkdir(root);
  const flags = args.heap ? ['--heap-prof', `--heap-prof-dir=${dir}`] : ['--cpu-prof', `--cpu-prof-dir=${dir}`];
  const example = await buildBerth();
  const targets: Record<string, () => Promise<string[]>> = {
    bare: async () => [await transpile('bare-fs'), root, '5690'],
    berth: async () => [await transpile('berth-http'), join(REPO, 'dist-example/lib/index.js'), '5690', 'fs', root],
    'berth-express': async () => [example],
  };
  const pick = targets[args.target];
  if (!pick) throw new Error(`--target must be one of ${Object.keys(targets).join(', ')}`);
  const serverArgs = await pick();
  const log = join(dir, 'server.log');
  const server = startPinned('0', process.execPath, ['--trace-gc', ...flags, ...serverArgs], {
    env: { ...process.env, NODE_ENV: 'production', PORT: '5690', HOST: '127.0.0.1', BERTH_STORE: 'fs', BERTH_DATA_DIR: root, BERTH_AUTH: 'open' },
    log,
  });
  try {
    await waitReady(5690, server);
    const mib = Number(args['blob-mib']);
    const fx = {
      a: await randomFile(scratch, 'a.bin', mib * 1024 * 1024),
      b: await randomFile(scratch, 'b.bin', mib * 1024 * 1024),
      concurrent: new Generated(16, 16),
      scratch,
    };
    const ctx: Ctx = { port: 5690, target: args.target, group: 'fs', fx, seconds: Number(args.seconds), run: stamp, state: {} };
    await prepare(ctx);
    for (const w of workloads) {
      const r = await w.run(ctx);
      console.log(`${w.id}: ${r.value.toFixed(1)} ${w.unit}${r.p99Ms === undefined ? '' : `, p99 ${r.p99Ms.toFixed(1)} ms`}`);
    }
  } finally {
    await server.stop();
    await rm(scratch, { recursive: true, force: true });
  }
  const gcLines = readFileSync(log, 'utf8').split('\n');
  const count = (re: RegExp) => gcLines.filter((l) => re.test(l)).length;
  console.log(`\ncollections during the whole run: ${count(/Scavenge/)} scavenges, ${count(/Mark-Compact/)} mark-compacts (${count(/external memory pressure/)} for external memory pressure)`);
  const top = Number(args.top);
  for (const file of readdirSync(dir)) {
    if (file.endsWith('.cpuprofile')) summariseCpu(join(dir, file), top);
    if (file.endsWith('.heapprofile')) summariseHeap(join(dir, file), top);
  }
  console.log(`\nprofiles: ${dir}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
