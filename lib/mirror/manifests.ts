import { type Digest, algorithmOf, digestOf, looksLikeDigest, parseDigest } from '../digest.js';
import { RegistryError } from '../errors.js';
import type { Logger } from '../logger.js';
import { parseManifest } from '../manifest.js';
import { isTag } from '../names.js';
import type { Actor } from '../policy.js';
import type { Registry } from '../registry.js';
import type { TagInfo } from '../storage/types.js';
import { UpstreamClient, UpstreamUnreachable, readAll } from './client.js';
import { type Route, backingOff, rateLimited, retryAfter, upstreamFailure } from './route.js';

/** Tags whose last check this process remembers (the least recently checked are forgotten first, and simply checked again). */
const CHECKS_KEPT = 10_000;

interface Fetched {
  digest: Digest;
  body: Buffer;
  contentType: string | undefined;
}

/**
 * Manifests of mirrored repositories. A miss is fetched (by tag or digest), verified against the
 * digest asked for or the one upstream announces, and stored through `registry.changes` (policy,
 * usage, events) with its references recorded but not required: a mirror fetches blobs lazily. A
 * cached digest is never checked again; a cached tag is checked with one HEAD once `tagTtl` has
 * passed, and whenever upstream fails to answer (down, 429, slow) the cached copy is served.
 */
export class ManifestFetches {
  readonly #registry: () => Registry;
  readonly #logger: Logger;
  readonly #maxBytes: number;
  readonly #inflight = new Map<string, Promise<void>>();
  /** `repository:tag` → when this process last fetched or checked it (epoch ms). */
  readonly #checked = new Map<string, number>();

  constructor(registry: () => Registry, logger: Logger, maxBytes: number) {
    this.#registry = registry;
    this.#logger = logger;
    this.#maxBytes = maxBytes;
  }

  /** Concurrent pulls of one reference share one look upstream. */
  ensure(route: Route, repository: string, reference: string, actor: Actor): Promise<void> {
    const key = `${repository}@${reference}`;
    let running = this.#inflight.get(key);
    if (!running) {
      running = this.#refresh(route, repository, reference, actor).finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, running);
    }
    return running;
  }

  /** Waits for the looks upstream under way (`Mirror.close`). */
  async settle(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight.values()]);
  }

  async #refresh(route: Route, repository: string, reference: string, actor: Actor): Promise<void> {
    const { storage } = this.#registry();
    if (looksLikeDigest(reference)) {
      const parsed = parseDigest(reference);
      if (!parsed.ok || (await storage.manifests.stat(repository, parsed.digest))) return;
      const fetched = await this.#fetch(route, repository, reference, parsed.digest);
      if (fetched) await this.#store(repository, fetched, [], actor);
      return;
    }
    if (!isTag(reference)) return;
    const info = await storage.tags.stat(repository, reference);
    if (!info) {
      const fetched = await this.#fetch(route, repository, reference, undefined);
      if (!fetched) return;
      await this.#store(repository, fetched, [reference], actor);
      this.#mark(repository, reference);
      return;
    }
    if (this.#fresh(route, repository, reference, info)) return;
    await this.#revalidate(route, repository, reference, info, actor);
  }

  /** One HEAD upstream: same digest → nothing to do; another → that manifest (stored already, or fetched by digest) and the tag moved. */
  async #revalidate(route: Route, repository: string, tag: string, info: TagInfo, actor: Actor): Promise<void> {
    const where = { upstream: route.upstream.origin.href, repository, tag };
    if (backingOff(route)) return;
    this.#mark(repository, tag);
    try {
      const answer = await route.client.request('HEAD', `${route.name}/manifests/${tag}`, {
        repository: route.name,
        accept: UpstreamClient.manifestTypes,
        timeout: route.upstream.revalidateTimeout,
      });
      answer.body.resume();
      if (answer.status === 429) route.state.backoffUntil = Date.now() + retryAfter(first(answer.headers['retry-after']));
      if (answer.status !== 200) {
        this.#logger.warn({ ...where, status: answer.status }, 'mirror: upstream did not confirm a cached tag; serving the cached copy');
        return;
      }
      const announced = parseDigest(first(answer.headers['docker-content-digest']) ?? '');
      if (announced.ok && announced.digest === info.digest) return;
      const stored = announced.ok ? await this.#registry().storage.manifests.get(repository, announced.digest) : undefined;
      const fetched = stored
        ? { digest: stored.digest, body: stored.body, contentType: stored.mediaType }
        : await this.#fetch(route, repository, announced.ok ? announced.digest : tag, announced.ok ? announced.digest : undefined);
      if (!fetched || fetched.digest === info.digest) return;
      await this.#store(repository, fetched, [tag], actor);
    } catch (err) {
      // down, slow, rate-limited, a bad answer, or a policy that keeps the tag where it is: the cached copy stays
      this.#logger.warn({ ...where, err }, 'mirror: revalidating a cached tag failed; serving the cached copy');
    }
  }

  #fresh(route: Route, repository: string, tag: string, info: TagInfo): boolean {
    const key = `${repository}:${tag}`;
    const checked = Math.max(this.#checked.get(key) ?? 0, info.updatedAt.getTime());
    return Date.now() - checked < route.upstream.tagTtl;
  }

  #mark(repository: string, tag: string): void {
    const key = `${repository}:${tag}`;
    this.#checked.delete(key);
    this.#checked.set(key, Date.now());
    if (this.#checked.size > CHECKS_KEPT) this.#checked.delete(this.#checked.keys().next().value as string);
  }

  /**
   * GET of a manifest upstream, verified: against `expected` when asked by digest, else against the
   * `Docker-Content-Digest` upstream announces (when it does). `undefined` when upstream has no such
   * manifest (or refuses the mirror's credentials, which registries also answer for unknown names).
   */
  async #fetch(route: Route, repository: string, reference: string, expected: Digest | undefined): Promise<Fetched | undefined> {
    const where = { upstream: route.upstream.origin.href, repository, reference };
    if (backingOff(route)) throw rateLimited(route);
    let answer;
    try {
      answer = await route.client.request('GET', `${route.name}/manifests/${reference}`, {
        repository: route.name,
        accept: UpstreamClient.manifestTypes,
        timeout: route.upstream.timeout,
      });
    } catch (err) {
      if (!(err instanceof UpstreamUnreachable)) throw err;
      this.#logger.warn({ ...where, err }, 'mirror: upstream unreachable for a manifest the cache lacks');
      throw upstreamFailure(route, undefined, err.message);
    }
    if (answer.status !== 200) {
      answer.body.resume();
      if (answer.status === 404) return undefined;
      this.#logger.warn({ ...where, status: answer.status }, 'mirror: upstream refused a manifest the cache lacks');
      if (answer.status === 401 || answer.status === 403) return undefined;
      throw upstreamFailure(route, answer, `upstream answered ${answer.status}`);
    }
    let body: Buffer;
    try {
      body = await readAll(answer.body, this.#maxBytes);
    } catch (err) {
      this.#logger.warn({ ...where, err }, 'mirror: reading a manifest from upstream failed');
      throw upstreamFailure(route, undefined, err instanceof RangeError ? `the manifest is larger than ${this.#maxBytes} bytes` : 'the transfer failed');
    }
    const announced = parseDigest(first(answer.headers['docker-content-digest']) ?? '');
    const claimed = expected ?? (announced.ok ? announced.digest : undefined);
    const digest = digestOf(claimed ? algorithmOf(claimed) : 'sha256', body);
    if (claimed !== undefined && digest !== claimed) {
      this.#logger.error({ ...where, claimed, computed: digest }, 'mirror: upstream sent a manifest that does not match its digest; not stored');
      throw upstreamFailure(route, undefined, `it sent a manifest whose digest is ${digest}, not ${claimed}`);
    }
    return { digest, body, contentType: first(answer.headers['content-type']) };
  }

  /** Stores a verified manifest and points `tags` at it, through the one write path; its blobs come later, when pulled. */
  async #store(repository: string, fetched: Fetched, tags: readonly string[], actor: Actor): Promise<void> {
    let parsed;
    try {
      parsed = parseManifest(fetched.body, fetched.contentType);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      this.#logger.warn({ repository, digest: fetched.digest, err }, 'mirror: upstream sent a manifest berth cannot store');
      throw new RegistryError('MANIFEST_UNKNOWN', `the upstream manifest cannot be mirrored: ${reason}`, { detail: { digest: fetched.digest } });
    }
    const { blobs, manifests: children, ...described } = parsed;
    const record = { ...described, digest: fetched.digest, size: fetched.body.length, body: fetched.body, references: [...blobs, ...children] };
    // the references are recorded (garbage collection, dependents) but not required: a mirror fetches blobs on demand
    await this.#registry().changes.pushManifest(repository, record, { blobs: [], children: [] }, tags, actor);
  }
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
