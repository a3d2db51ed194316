import { parse } from 'yaml';

/** Chart.yaml as the portal shows it and writes it into a Helm OCI config: only well-typed fields are kept. */
export interface ChartMetadata {
  apiVersion: string;
  name: string;
  version: string;
  appVersion?: string;
  description?: string;
  type?: string;
  kubeVersion?: string;
  home?: string;
  icon?: string;
  deprecated?: boolean;
  keywords?: string[];
  sources?: string[];
  maintainers?: { name: string; email?: string; url?: string }[];
  dependencies?: { name: string; version?: string; repository?: string; condition?: string; alias?: string }[];
  annotations?: Record<string, string>;
}

export class ChartError extends Error {
  override readonly name = 'ChartError';
}

/** SemVer 2, as helm requires of chart versions (a leading `v` is tolerated, as helm does). */
const SEMVER = /^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$/;
const CHART_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Parses Chart.yaml text (aliases bounded by the yaml library), refusing what helm would refuse. */
export function parseChartYaml(text: string): ChartMetadata {
  let doc: unknown;
  try {
    doc = parse(text, { maxAliasCount: 50, prettyErrors: false });
  } catch (err) {
    throw new ChartError(`Chart.yaml is not valid YAML: ${(err as Error).message.split('\n')[0] ?? ''}`);
  }
  return chartMetadata(doc, 'Chart.yaml');
}

/** Chart metadata from parsed YAML or a Helm OCI config (the same fields as JSON). */
export function chartMetadata(doc: unknown, where: string): ChartMetadata {
  if (!isObject(doc)) throw new ChartError(`${where} must be a mapping`);
  const str = (value: unknown, max = 4096): string | undefined => (typeof value === 'string' && value.length <= max ? value : typeof value === 'number' ? String(value) : undefined);
  const name = str(doc.name, 128);
  const version = str(doc.version, 256);
  const apiVersion = str(doc.apiVersion, 16) ?? 'v1';
  if (!name || !CHART_NAME.test(name)) throw new ChartError(`${where} needs a chart name of letters, digits, ".", "_" and "-" (got ${JSON.stringify(doc.name ?? null)})`);
  if (!version || !SEMVER.test(version)) throw new ChartError(`${where}: version ${JSON.stringify(doc.version ?? null)} is not a SemVer 2 version`);
  if (apiVersion !== 'v1' && apiVersion !== 'v2') throw new ChartError(`${where}: apiVersion must be v1 or v2 (got ${JSON.stringify(apiVersion)})`);
  const strings = (value: unknown): string[] | undefined => {
    if (!Array.isArray(value)) return undefined;
    const out = value.map((v) => str(v, 1024)).filter((v): v is string => v !== undefined).slice(0, 100);
    return out.length > 0 ? out : undefined;
  };
  const meta: ChartMetadata = { apiVersion, name, version };
  const optional = ['appVersion', 'description', 'type', 'kubeVersion', 'home', 'icon'] as const;
  for (const key of optional) {
    const value = str(doc[key], key === 'icon' ? 256 * 1024 : 4096);
    if (value !== undefined) meta[key] = value;
  }
  if (typeof doc.deprecated === 'boolean') meta.deprecated = doc.deprecated;
  const keywords = strings(doc.keywords);
  if (keywords) meta.keywords = keywords;
  const sources = strings(doc.sources);
  if (sources) meta.sources = sources;
  if (Array.isArray(doc.maintainers)) {
    const maintainers = doc.maintainers.filter(isObject).flatMap((m) => {
      const mName = str(m.name, 256);
      if (!mName) return [];
      const email = str(m.email, 256);
      const url = str(m.url, 2048);
      return [{ name: mName, ...(email && { email }), ...(url && { url }) }];
    });
    if (maintainers.length > 0) meta.maintainers = maintainers.slice(0, 100);
  }
  if (Array.isArray(doc.dependencies)) {
    const dependencies = doc.dependencies.filter(isObject).flatMap((d) => {
      const dName = str(d.name, 256);
      if (!dName) return [];
      const fields = { version: str(d.version, 256), repository: str(d.repository, 2048), condition: str(d.condition, 1024), alias: str(d.alias, 256) };
      return [{ name: dName, ...Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) }];
    });
    if (dependencies.length > 0) meta.dependencies = dependencies.slice(0, 200);
  }
  if (isObject(doc.annotations)) {
    const annotations = Object.entries(doc.annotations).filter((e): e is [string, string] => typeof e[1] === 'string').slice(0, 200);
    if (annotations.length > 0) meta.annotations = Object.fromEntries(annotations);
  }
  return meta;
}

/** The tag helm pushes a chart version under: OCI tags cannot hold `+`, so helm writes `_`. */
export function tagOfVersion(version: string): string {
  return version.replace(/\+/g, '_');
}

/** Compares SemVer versions (build metadata ignored, prereleases before releases); unparsable ones sort last. */
export function compareVersions(a: string, b: string): number {
  const pa = SEMVER.exec(a);
  const pb = SEMVER.exec(b);
  if (!pa || !pb) return pa ? -1 : pb ? 1 : a < b ? -1 : a > b ? 1 : 0;
  for (let i = 1; i <= 3; i++) {
    const d = Number(pa[i]) - Number(pb[i]);
    if (d !== 0) return d;
  }
  const [preA, preB] = [pa[4], pb[4]];
  if (preA === undefined || preB === undefined) return preA === preB ? 0 : preA === undefined ? 1 : -1;
  const xa = preA.split('.');
  const xb = preB.split('.');
  for (let i = 0; i < Math.max(xa.length, xb.length); i++) {
    const [x, y] = [xa[i], xb[i]];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const [nx, ny] = [/^\d+$/.test(x), /^\d+$/.test(y)];
    if (nx && ny && Number(x) !== Number(y)) return Number(x) - Number(y);
    if (nx !== ny) return nx ? -1 : 1;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

export function isPrerelease(version: string): boolean {
  return SEMVER.exec(version)?.[4] !== undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
