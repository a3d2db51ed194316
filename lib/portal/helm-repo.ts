import { pipeline } from 'node:stream/promises';
import { stringify } from 'yaml';
import { eachLimited } from '../concurrency.js';
import type { Digest } from '../digest.js';
import type { Answer } from './access.js';
import { type ChartMetadata, compareVersions } from './chart-meta.js';
import type { PortalContext, Visit } from './context.js';
import { HELM_LAYER } from './kinds.js';
import { Lru } from './lru.js';
import { PortalError, sendText } from './respond.js';
import { byteOrder } from './summary.js';

/** One chart version of a classic repository, from an OCI chart. */
export interface ChartEntry {
  repository: string;
  metadata: ChartMetadata;
  layer: Digest;
  size: number;
  created: Date;
  /** `<name>-<version>.tgz`: the download's file name, as `helm package` names it. */
  file: string;
}

interface Scope {
  generation: number;
  entries: ChartEntry[];
}

/**
 * The OCI charts served as classic Helm chart repositories: `<portal>/helm/index.yaml` for every
 * chart, `<portal>/helm/<namespace>/index.yaml` for the charts under a namespace, and
 * `…/charts/<name>-<version>.tgz` for the packages (the OCI chart layer, byte for byte). Entries are
 * keyed by chart name; when repositories of one scope hold charts of the same name, the one whose
 * last path component is that name wins, then the first by name. Scopes are cached and rebuilt
 * after any push or delete; the YAML is filtered per caller (only repositories they may pull).
 */
export class HelmRepository {
  readonly #ctx: PortalContext;
  readonly #scopes = new Map<string, Scope>();
  readonly #documents = new Lru<string, string>(64);
  readonly #entries = new Lru<Digest, Omit<ChartEntry, 'repository' | 'created'> | null>(20_000);
  #generation = 0;

  constructor(ctx: PortalContext) {
    this.#ctx = ctx;
    ctx.index.onChange(() => {
      this.#generation++;
      this.#documents.clear();
    });
  }

  /** Every chart version in `scope` ('' for all), whoever may see it. */
  async charts(scope: string): Promise<ChartEntry[]> {
    const cached = this.#scopes.get(scope);
    if (cached?.generation === this.#generation) return cached.entries;
    const generation = this.#generation;
    const { index, content } = this.#ctx;
    const candidates: { repository: string; tag: string; digest: Digest; pushedAt: Date }[] = [];
    for (const repo of index.repositories()) {
      if (!repo.kinds.includes('helm') || (scope !== '' && !repo.name.startsWith(`${scope}/`))) continue;
      for (const tag of index.tags(repo.name) ?? []) {
        if (tag.kind === 'helm') candidates.push({ repository: repo.name, tag: tag.name, digest: tag.digest, pushedAt: tag.pushedAt });
      }
    }
    const found: ChartEntry[] = [];
    await eachLimited(candidates, 8, async (c) => {
      let entry = this.#entries.get(c.digest);
      if (entry === undefined) {
        const view = await content.manifest(c.repository, c.digest);
        const metadata = view && (await content.chartConfig(c.repository, view));
        const layer = view?.layers.find((l) => l.mediaType === HELM_LAYER);
        entry = metadata && layer ? { metadata, layer: layer.digest, size: layer.size, file: `${metadata.name}-${metadata.version}.tgz` } : null;
        this.#entries.set(c.digest, entry);
      }
      if (entry) found.push({ ...entry, repository: c.repository, created: c.pushedAt });
      return true;
    });
    // one repository per chart name, one entry per version (a tag named after the version wins)
    const owner = new Map<string, string>();
    for (const e of [...found].sort((a, b) => rank(a) - rank(b) || byteOrder(a.repository, b.repository))) {
      if (!owner.has(e.metadata.name)) owner.set(e.metadata.name, e.repository);
    }
    const seen = new Set<string>();
    const entries = found
      .filter((e) => owner.get(e.metadata.name) === e.repository)
      .sort((a, b) => byteOrder(a.metadata.name, b.metadata.name) || compareVersions(b.metadata.version, a.metadata.version) || b.created.getTime() - a.created.getTime())
      .filter((e) => {
        const key = `${e.metadata.name}@${e.metadata.version}`;
        if (seen.has(key)) return false;
        seen.add(key);
        return true;
      });
    if (generation === this.#generation) this.#scopes.set(scope, { generation, entries });
    return entries;
  }

  /** `index.yaml` of `scope` for this caller. */
  async index(visit: Visit, scope: string): Promise<void> {
    const entries = await this.charts(scope);
    const repositories = [...new Set(entries.map((e) => e.repository))];
    const answer = await this.#pullable(visit, repositories);
    const allowed = new Set(repositories.filter((_, i) => answer.granted[i]));
    // an anonymous caller who may see none of the charts here is asked to authenticate (helm repo add --username …)
    if (allowed.size === 0 && repositories.length > 0 && !answer.identity) throw this.#unauthorized();
    const key = `${scope}\n${this.#generation}\n${[...allowed].join('\n')}`;
    let doc = this.#documents.get(key);
    if (doc === undefined) {
      const grouped: Record<string, unknown[]> = {};
      for (const e of entries) {
        if (!allowed.has(e.repository)) continue;
        (grouped[e.metadata.name] ??= []).push({
          ...e.metadata,
          urls: [`charts/${encodeURIComponent(e.file)}`],
          created: e.created.toISOString(),
          digest: e.layer.slice(e.layer.indexOf(':') + 1),
        });
      }
      doc = stringify({ apiVersion: 'v1', entries: grouped, generated: new Date().toISOString() }, { lineWidth: 0 });
      this.#documents.set(key, doc);
    }
    sendText(visit.res, 200, 'application/yaml; charset=utf-8', doc);
  }

  /** `…/charts/<name>-<version>.tgz` of `scope`: the chart layer, streamed from the store. */
  async download(visit: Visit, scope: string, file: string): Promise<void> {
    const entry = (await this.charts(scope)).find((e) => e.file === file);
    const answer = entry && (await this.#pullable(visit, [entry.repository]));
    if (!entry || !answer?.granted[0]) {
      if (answer && (answer.invalid || !answer.identity)) throw this.#unauthorized();
      throw new PortalError(404, 'NOT_FOUND', `no chart ${file} here`);
    }
    const { storage } = this.#ctx;
    const stream = (await storage.links.has(entry.repository, entry.layer)) ? await storage.blobs.open(entry.layer, { signal: visit.signal }) : undefined;
    if (!stream) throw new PortalError(404, 'NOT_FOUND', `no chart ${file} here`);
    const { res } = visit;
    res.statusCode = 200;
    res.setHeader('Content-Type', 'application/gzip');
    res.setHeader('Content-Length', entry.size);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Cache-Control', 'private, no-cache');
    await pipeline(stream, res).catch(() => {
      if (!res.writableFinished) res.destroy();
    });
  }

  async #pullable(visit: Visit, repositories: string[]): Promise<Answer> {
    const answer = await this.#ctx.gate.pullable(visit.req, repositories);
    if (answer.invalid) throw this.#unauthorized();
    return answer;
  }

  #unauthorized(): PortalError {
    return new PortalError(401, 'UNAUTHORIZED', 'authentication required');
  }
}

/** Repositories named after their chart first. */
function rank(e: ChartEntry): number {
  return e.repository === e.metadata.name || e.repository.endsWith(`/${e.metadata.name}`) ? 0 : 1;
}
