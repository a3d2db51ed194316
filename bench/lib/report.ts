/** Medians, ratios, the target checks, the Markdown tables and the SVG chart of a run. */
import type { Group } from './targets.js';
import type { Workload } from './workloads.js';

export interface Sample {
  target: string;
  workload: string;
  rep: number;
  value: number;
  cpuSeconds: number;
  /** CPU seconds per GiB moved, or CPU milliseconds per request. */
  cpuPer?: number;
  peakRssMiB: number;
  dbCpuSeconds?: number;
  p50Ms?: number;
  p99Ms?: number;
  requests?: number;
  bytes?: number;
  note?: string;
  skipped?: string;
  error?: string;
}

export interface Summary {
  target: string;
  workload: string;
  n: number;
  median: number;
  min: number;
  max: number;
  cpuPer?: number;
  peakRssMiB: number;
  p99Ms?: number;
  dbCpuSeconds?: number;
  skipped?: string;
  error?: string;
  note?: string;
}

export interface TargetInfo {
  id: string;
  label: string;
  group: Group;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

export function summarise(samples: Sample[]): Summary[] {
  const groups = new Map<string, Sample[]>();
  for (const s of samples) {
    const key = `${s.target}\u0000${s.workload}`;
    groups.set(key, [...(groups.get(key) ?? []), s]);
  }
  const out: Summary[] = [];
  for (const list of groups.values()) {
    const first = list[0] as Sample;
    const good = list.filter((s) => !s.skipped && !s.error);
    const base = { target: first.target, workload: first.workload, n: good.length };
    if (good.length === 0) {
      const skipped = list.find((s) => s.skipped)?.skipped;
      const error = list.find((s) => s.error)?.error;
      out.push({ ...base, median: NaN, min: NaN, max: NaN, peakRssMiB: NaN, ...(skipped && { skipped }), ...(error && { error }) });
      continue;
    }
    const values = good.map((s) => s.value);
    const cpu = good.map((s) => s.cpuPer).filter((v): v is number => v !== undefined);
    const p99 = good.map((s) => s.p99Ms).filter((v): v is number => v !== undefined);
    const db = good.map((s) => s.dbCpuSeconds).filter((v): v is number => v !== undefined);
    const note = good.find((s) => s.note)?.note;
    const failures = list.filter((s) => s.error).length;
    out.push({
      ...base,
      median: median(values),
      min: Math.min(...values),
      max: Math.max(...values),
      peakRssMiB: Math.max(...good.map((s) => s.peakRssMiB)),
      ...(cpu.length > 0 && { cpuPer: median(cpu) }),
      ...(p99.length > 0 && { p99Ms: median(p99) }),
      ...(db.length > 0 && { dbCpuSeconds: median(db) }),
      ...(note && { note }),
      ...(failures > 0 && { error: `${failures} of ${list.length} runs failed: ${list.find((s) => s.error)?.error ?? ''}` }),
    });
  }
  return out;
}

/** ours / theirs for throughput, theirs / ours for times: above 1 is better for berth. */
export function ratio(workload: Workload, ours: Summary | undefined, theirs: Summary | undefined): number | undefined {
  if (!ours || !theirs || !Number.isFinite(ours.median) || !Number.isFinite(theirs.median) || ours.median <= 0 || theirs.median <= 0) return undefined;
  return workload.better === 'higher' ? ours.median / theirs.median : theirs.median / ours.median;
}

const fmt = (v: number | undefined, digits?: number): string => {
  if (v === undefined || !Number.isFinite(v)) return '—';
  const d = digits ?? (Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : Math.abs(v) >= 1 ? 2 : 3);
  return v.toLocaleString('en', { minimumFractionDigits: d, maximumFractionDigits: d });
};

function cell(s: Summary | undefined, workload: Workload): string {
  if (!s) return '';
  if (s.skipped) return 'n/a';
  if (!Number.isFinite(s.median)) return 'failed';
  let text = `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})`;
  if (s.p99Ms !== undefined && workload.id.startsWith('m')) text += `, p99 ${fmt(s.p99Ms, 1)} ms`;
  if (s.note) text += ` [${s.note}]`;
  if (s.error) text += ' †';
  return text;
}

const ratioCell = (r: number | undefined) => (r === undefined ? '—' : `${r.toFixed(2)}x`);

export interface Tables {
  markdown: string;
  checks: Check[];
}

export interface Check {
  target: string;
  row: string;
  value: string;
  met: boolean;
}

/** The reference a berth row of the GridFS group is compared with: the driver cannot do a chunked push, so its single-request push stands in. */
function referenceWorkload(group: Group, workload: string): string {
  return group === 'gridfs' && workload === 'push-patch' ? 'push-put' : workload;
}

export function tables(workloads: Workload[], targets: TargetInfo[], summaries: Summary[], sizes: { fsMiB: number; gridfsMiB: number; concurrent: string }): Tables {
  const find = (target: string, workload: string) => summaries.find((s) => s.target === target && s.workload === workload);
  const lines: string[] = [];
  const checks: Check[] = [];
  const label = (w: Workload, group: Group) => {
    const size = group === 'fs' ? sizes.fsMiB : sizes.gridfsMiB;
    const prefix = ['push-put', 'push-patch', 'pull'].includes(w.id) ? `${size >= 1024 ? `${size / 1024} GiB` : `${size} MiB`} ` : '';
    const suffix = w.id === 'push-concurrent' ? ` of ${sizes.concurrent}` : '';
    return `${prefix}${w.label}${suffix} (${w.unit})`;
  };
  for (const group of ['fs', 'gridfs'] as const) {
    const ts = targets.filter((t) => t.group === group);
    const rows = workloads.filter((w) => w.groups.includes(group) && ts.some((t) => find(t.id, w.id)));
    if (rows.length === 0) continue;
    const ours = group === 'fs' ? 'berth' : 'berth-gridfs';
    const bare = group === 'fs' ? 'bare' : 'bare-gridfs';
    const has = (id: string) => ts.some((t) => t.id === id);
    const pairs: [string, string, string][] =
      group === 'fs'
        ? [
            ['berth', 'v3', 'berth / v3'],
            ['berth', 'bare', 'berth / bare'],
            ['berth-express', 'v3', 'in Express / v3'],
            ['berth-express', 'bare', 'in Express / bare'],
            ['berth', 'before', 'berth / before'],
          ]
        : [[ours, bare, "berth / driver's GridFSBucket"]];
    const ratioCols = pairs.filter(([a, b]) => has(a) && has(b));
    lines.push(`#### ${group === 'fs' ? 'Filesystem stores (tmpfs)' : 'GridFS (SecantusDB)'}: medians (min–max)`, '');
    const row = (cells: string[]) => `| ${cells.join(' | ')} |`;
    lines.push(row(['workload', ...ts.map((t) => t.label), ...ratioCols.map(([, , title]) => title)]));
    lines.push(row(['---', ...ts.map(() => '---'), ...ratioCols.map(() => '---')]));
    for (const w of rows) {
      const r = ratioCols.map(([a, b]) => ratio(w, find(a, w.id), find(b, referenceWorkload(group, w.id))));
      lines.push(row([label(w, group), ...ts.map((t) => cell(find(t.id, w.id), w)), ...r.map(ratioCell)]));
    }
    lines.push('');
    lines.push(`Server CPU (s per GiB moved, or ms per request) and peak RSS (MiB, VmHWM during the workload), medians; ${group === 'gridfs' ? 'database CPU (s) after the slash' : ''}`.trim(), '');
    lines.push(`| workload | ${ts.map((t) => `CPU ${t.label}`).join(' | ')} | ${ts.map((t) => `RSS ${t.label}`).join(' | ')} |`);
    lines.push(`|---|${ts.map(() => '---').join('|')}|${ts.map(() => '---').join('|')}|`);
    for (const w of rows) {
      if (w.per === 'none') continue;
      const unit = w.per === 'GiB' ? 's/GiB' : 'ms/req';
      const cpu = ts.map((t) => {
        const s = find(t.id, w.id);
        if (!s || s.cpuPer === undefined) return '—';
        return `${fmt(s.cpuPer)}${s.dbCpuSeconds !== undefined ? ` / ${fmt(s.dbCpuSeconds)} s` : ''}`;
      });
      const rss = ts.map((t) => fmt(find(t.id, w.id)?.peakRssMiB, 0));
      lines.push(`| ${w.label} (${unit}) | ${cpu.join(' | ')} | ${rss.join(' | ')} |`);
    }
    lines.push('');

    // the issue's targets
    for (const w of rows) {
      const mine = find(ours, w.id);
      if (!mine || !Number.isFinite(mine.median)) continue;
      if (group === 'fs' && w.per !== 'none' && w.id !== 'tags-list' && w.id !== 'catalog') {
        const v3 = ratio(w, mine, find('v3', w.id));
        if (v3 !== undefined) checks.push({ target: '≥ 1.2x Distribution v3', row: w.id, value: `${v3.toFixed(2)}x`, met: v3 >= 1.2 });
        const b = ratio(w, mine, find(bare, w.id));
        if (b !== undefined) checks.push({ target: '≥ 0.85x bare Node', row: w.id, value: `${b.toFixed(2)}x`, met: b >= 0.85 });
        const theirs = find('v3', w.id);
        if (mine.cpuPer !== undefined && theirs?.cpuPer !== undefined) {
          checks.push({ target: 'CPU ≤ Distribution v3', row: w.id, value: `${fmt(mine.cpuPer)} vs ${fmt(theirs.cpuPer)} ${w.per === 'GiB' ? 's/GiB' : 'ms/req'}`, met: mine.cpuPer <= theirs.cpuPer });
        }
      }
      if (group === 'fs' && (w.id === 'tags-list' || w.id === 'catalog')) {
        const v3 = ratio(w, mine, find('v3', w.id));
        if (v3 !== undefined) checks.push({ target: '≥ 1.2x Distribution v3', row: w.id, value: `${v3.toFixed(2)}x`, met: v3 >= 1.2 });
        const b = ratio(w, mine, find(bare, w.id));
        if (b !== undefined) checks.push({ target: '≥ 0.85x bare Node', row: w.id, value: `${b.toFixed(2)}x`, met: b >= 0.85 });
      }
      if (group === 'fs' && /^m(get|head)-tag-c16$|^mget-digest-c16$/.test(w.id) && mine.p99Ms !== undefined) {
        checks.push({ target: 'p99 < 10 ms at c16', row: w.id, value: `${fmt(mine.p99Ms, 1)} ms`, met: mine.p99Ms < 10 });
      }
      if (group === 'fs' && w.id === 'push-put') {
        const b = find(bare, w.id);
        if (b) checks.push({ target: 'peak RSS within 32 MiB of bare Node', row: w.id, value: `${fmt(mine.peakRssMiB, 0)} vs ${fmt(b.peakRssMiB, 0)} MiB`, met: mine.peakRssMiB <= b.peakRssMiB + 32 });
      }
      if (group === 'fs' && w.id === 'push-concurrent') checks.push({ target: 'peak RSS < 256 MiB', row: w.id, value: `${fmt(mine.peakRssMiB, 0)} MiB`, met: mine.peakRssMiB < 256 });
      if (group === 'gridfs' && ['push-put', 'push-patch', 'pull'].includes(w.id)) {
        const b = ratio(w, mine, find(bare, referenceWorkload(group, w.id)));
        if (b !== undefined) checks.push({ target: "≥ 0.9x the driver's GridFSBucket", row: w.id, value: `${b.toFixed(2)}x`, met: b >= 0.9 });
      }
    }
  }
  lines.push('#### Targets (issue 13, item 2)', '', '| target | row | value | met |', '|---|---|---|---|');
  for (const c of checks) lines.push(`| ${c.target} | ${c.row} | ${c.value} | ${c.met ? 'yes' : '**no**'} |`);
  lines.push('');
  return { markdown: lines.join('\n'), checks };
}

const esc = (s: string) => s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');

/** A horizontal bar chart of berth's ratios against Distribution v3 and the bare Node server (log scale). */
export function chart(workloads: Workload[], summaries: Summary[], title: string): string {
  const find = (target: string, workload: string) => summaries.find((s) => s.target === target && s.workload === workload);
  const rows = workloads
    .filter((w) => w.groups.includes('fs'))
    .map((w) => ({ w, v3: ratio(w, find('berth', w.id), find('v3', w.id)), bare: ratio(w, find('berth', w.id), find('bare', w.id)) }))
    .filter((r) => r.v3 !== undefined || r.bare !== undefined);
  const left = 370;
  const width = 980;
  const barH = 9;
  const rowH = 26;
  const top = 60;
  const height = top + rows.length * rowH + 50;
  const min = 0.125;
  const max = 32;
  const x = (v: number) => left + ((Math.log2(Math.min(Math.max(v, min), max)) - Math.log2(min)) / (Math.log2(max) - Math.log2(min))) * (width - left - 50);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="12">`);
  out.push(`<rect width="100%" height="100%" fill="#fff"/>`);
  out.push(`<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="600">${esc(title)}</text>`);
  out.push(`<rect x="${left}" y="34" width="12" height="9" fill="#2f6fb5"/><text x="${left + 16}" y="42">berth / Distribution v3.1.1 (target ≥ 1.2)</text>`);
  out.push(`<rect x="${left + 300}" y="34" width="12" height="9" fill="#e0892b"/><text x="${left + 316}" y="42">berth / bare Node (target ≥ 0.85)</text>`);
  for (const v of [0.125, 0.25, 0.5, 1, 2, 4, 8, 16, 32]) {
    out.push(`<line x1="${x(v)}" y1="${top - 6}" x2="${x(v)}" y2="${height - 40}" stroke="${v === 1 ? '#333' : '#ddd'}" stroke-width="${v === 1 ? 1.2 : 1}"/>`);
    out.push(`<text x="${x(v)}" y="${height - 26}" text-anchor="middle" fill="#555">${v}x</text>`);
  }
  out.push(`<line x1="${x(1.2)}" y1="${top - 6}" x2="${x(1.2)}" y2="${height - 40}" stroke="#2f6fb5" stroke-dasharray="4 3"/>`);
  out.push(`<line x1="${x(0.85)}" y1="${top - 6}" x2="${x(0.85)}" y2="${height - 40}" stroke="#e0892b" stroke-dasharray="4 3"/>`);
  out.push(`<text x="${left + (width - left) / 2}" y="${height - 8}" text-anchor="middle" fill="#555">ratio, log scale (above 1: berth is faster, or needs less time)</text>`);
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    out.push(`<text x="${left - 8}" y="${y + barH + 4}" text-anchor="end">${esc(r.w.label)}</text>`);
    const bar = (v: number | undefined, dy: number, color: string) => {
      if (v === undefined) return;
      const x0 = x(1);
      const x1 = x(v);
      out.push(`<rect x="${Math.min(x0, x1)}" y="${y + dy}" width="${Math.max(Math.abs(x1 - x0), 1)}" height="${barH}" fill="${color}"/>`);
      out.push(`<text x="${x1 + (v >= 1 ? 4 : -4)}" y="${y + dy + barH - 1}" text-anchor="${v >= 1 ? 'start' : 'end'}" font-size="10" fill="#333">${v.toFixed(2)}</text>`);
    };
    bar(r.v3, 0, '#2f6fb5');
    bar(r.bare, barH + 2, '#e0892b');
  });
  out.push('</svg>');
  return out.join('\n');
}
