import { eachLimited } from '../concurrency.js';
import type { Digest } from '../digest.js';
import type { RegistryEvent, RegistryEvents } from '../events.js';
import type { Logger } from '../logger.js';
import type { Storage } from '../storage/types.js';
import { type Kind, kindOf } from './kinds.js';

/** A manifest as the listings need it (no bytes). */
export interface ManifestSummary {
  digest: Digest;
  mediaType: string;
  artifactType?: string;
  size: number;
  createdAt: Date;
  subject?: Digest;
}

/** A tag with what it points at. */
export interface TagSummary {
  name: string;
  digest: Digest;
  /** When the tag was last pointed at a manifest (the store's `tags.stat`, or the push event). */
  pushedAt: Date;
  kind: Kind;
  mediaType: string;
  artifactType?: string;
  /** Size of the manifest itself. */
  size: number;
}

/** One repository in the listings and the search API. */
export interface RepositorySummary {
  name: string;
  /** Kinds of its tagged manifests and of the referrers (signatures, SBOMs) attached to them. */
  kinds: Kind[];
  /** Distinct artifact types (or config media types) of its tagged manifests. */
  artifactTypes: string[];
  tagCount: number;
  /** The last push this index knows of: the newest tag push or manifest. */
  updatedAt?: Date;
}

interface RepoState {
  tags: Map<string, { digest: Digest; pushedAt: Date }>;
  manifests: Map<Digest, ManifestSummary>;
  /** When it was last read from the store. */
  scannedAt: number;
  summary?: RepositorySummary;
}

/** Per-repository scan bounds: a repository past them is summarised from its first entries. */
const MAX_MANIFESTS = 20_000;
const MAX_TAGS = 20_000;
const PAGE = 1000;

/**
 * The portal's summary of every repository (artifact kinds, tags, last push), so listing, filtering
 * and sorting 10,000 repositories answers from memory. Built from the store at start, kept current
 * by the registry's events, and re-read repository by repository when it may be stale (a change made
 * by another instance sharing the store).
 */
export class SummaryIndex {
  readonly #storage: Storage;
  readonly #logger: Logger;
  readonly #repos = new Map<string, RepoState>();
  /** Events that arrived while their repository was being read: applied after the read. */
  readonly #pending = new Map<string, RegistryEvent[]>();
  readonly #listeners = new Set<(repository: string) => void>();
  #sorted: RepositorySummary[] | undefined;
  #built: Promise<void> | undefined;
  #unsubscribe: (() => void) | undefined;

  constructor(storage: Storage, events: RegistryEvents, logger: Logger) {
    this.#storage = storage;
    this.#logger = logger;
    this.#unsubscribe = events.on('*', (event) => this.#onEvent(event));
  }

  /** Reads every repository from the store, once (a failure is retried by the next call). */
  ready(): Promise<void> {
    return (this.#built ??= this.rebuild().catch((err: unknown) => {
      this.#built = undefined;
      throw err;
    }));
  }

  /** Reads every repository again, replacing what the index holds. */
  async rebuild(): Promise<void> {
    const seen = new Set<string>();
    let last: string | undefined;
    for (;;) {
      const page = await this.#storage.repositories.list({ n: PAGE, ...(last !== undefined && { last }) });
      for (const name of page) seen.add(name);
      await eachLimited(page, 4, async (name) => {
        await this.refresh(name);
        return true;
      });
      if (page.length < PAGE) break;
      last = page[page.length - 1];
    }
    for (const name of [...this.#repos.keys()]) if (!seen.has(name)) this.#forget(name);
  }

  /** Reads one repository from the store again (or forgets it when it is gone). */
  async refresh(name: string): Promise<void> {
    if (this.#pending.has(name)) return;
    this.#pending.set(name, []);
    try {
      const state = await this.#scan(name);
      if (state) this.#repos.set(name, state);
      else this.#forget(name);
    } finally {
      const queued = this.#pending.get(name) ?? [];
      this.#pending.delete(name);
      for (const event of queued) this.#apply(event);
      this.#changed(name);
    }
  }

  /** Whether `name` was read from the store longer than `ms` ago. */
  olderThan(name: string, ms: number): boolean {
    const state = this.#repos.get(name);
    return state !== undefined && Date.now() - state.scannedAt > ms;
  }

  /** Every repository, by name. */
  repositories(): readonly RepositorySummary[] {
    this.#sorted ??= [...this.#repos.keys()].sort(byteOrder).map((name) => this.#summary(name) as RepositorySummary);
    return this.#sorted;
  }

  repository(name: string): RepositorySummary | undefined {
    return this.#summary(name);
  }

  /** The tags of a repository, by name; `undefined` when the repository is unknown. */
  tags(name: string): TagSummary[] | undefined {
    const state = this.#repos.get(name);
    if (!state) return undefined;
    const out: TagSummary[] = [];
    for (const [tag, { digest, pushedAt }] of state.tags) {
      const m = state.manifests.get(digest);
      out.push({
        name: tag,
        digest,
        pushedAt,
        kind: kindOf(m?.mediaType ?? '', m?.artifactType, tag),
        mediaType: m?.mediaType ?? 'application/octet-stream',
        ...(m?.artifactType !== undefined && { artifactType: m.artifactType }),
        size: m?.size ?? 0,
      });
    }
    return out.sort((a, b) => byteOrder(a.name, b.name));
  }

  manifest(name: string, digest: Digest): ManifestSummary | undefined {
    return this.#repos.get(name)?.manifests.get(digest);
  }

  /** Called with the repository's name after each change (the Helm index invalidates itself with it). */
  onChange(listener: (repository: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  close(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
  }

  async #scan(name: string): Promise<RepoState | undefined> {
    const { repositories, manifests, tags } = this.#storage;
    if (!(await repositories.has(name))) return undefined;
    const state: RepoState = { tags: new Map(), manifests: new Map(), scannedAt: Date.now() };
    const stat = async (digest: Digest) => {
      const info = await manifests.stat(name, digest);
      if (info) {
        const { digest: d, mediaType, size, createdAt, artifactType, subject } = info;
        state.manifests.set(d, { digest: d, mediaType, size, createdAt, ...(artifactType !== undefined && { artifactType }), ...(subject !== undefined && { subject }) });
      }
      return true;
    };
    let last: string | undefined;
    for (let read = 0; read < MAX_MANIFESTS; read += PAGE) {
      const page = await manifests.list(name, { n: PAGE, ...(last !== undefined && { last }) });
      await eachLimited(page, 8, stat);
      if (page.length < PAGE) break;
      last = page[page.length - 1];
    }
    last = undefined;
    for (let read = 0; read < MAX_TAGS; read += PAGE) {
      const page = await tags.list(name, { n: PAGE, ...(last !== undefined && { last }) });
      await eachLimited(page, 8, async (tag) => {
        const info = await tags.stat(name, tag);
        if (info === undefined) return true;
        if (!state.manifests.has(info.digest)) await stat(info.digest);
        state.tags.set(tag, { digest: info.digest, pushedAt: info.updatedAt });
        return true;
      });
      if (page.length < PAGE) break;
      last = page[page.length - 1];
    }
    return state;
  }

  #onEvent(event: RegistryEvent): void {
    const queued = this.#pending.get(event.repository);
    if (queued) queued.push(event);
    else if (this.#apply(event)) this.#changed(event.repository);
  }

  /** Applies a registry event; true when the index changed. */
  #apply(event: RegistryEvent): boolean {
    const name = event.repository;
    let state = this.#repos.get(name);
    const ensure = (): RepoState => {
      if (!state) {
        state = { tags: new Map(), manifests: new Map(), scannedAt: Date.now() };
        this.#repos.set(name, state);
        this.#sorted = undefined;
      }
      return state;
    };
    switch (event.type) {
      case 'manifest.pushed': {
        const s = ensure();
        const before = s.manifests.get(event.digest);
        s.manifests.set(event.digest, {
          digest: event.digest,
          mediaType: event.mediaType,
          size: event.size,
          createdAt: before?.createdAt ?? event.time,
          ...(event.artifactType !== undefined && { artifactType: event.artifactType }),
          ...(event.subject !== undefined && { subject: event.subject }),
        });
        for (const tag of event.tags) s.tags.set(tag, { digest: event.digest, pushedAt: event.time });
        return true;
      }
      case 'tag.pushed': {
        const s = ensure();
        s.tags.set(event.tag, { digest: event.digest, pushedAt: event.time });
        if (!s.manifests.has(event.digest)) void this.refresh(name).catch((err: unknown) => this.#logger.error({ err, repository: name }, 'portal: reading a repository failed'));
        return true;
      }
      case 'manifest.deleted': {
        if (!state) return false;
        state.manifests.delete(event.digest);
        for (const [tag, t] of state.tags) if (t.digest === event.digest) state.tags.delete(tag);
        return true;
      }
      case 'tag.deleted': {
        if (state?.tags.get(event.tag)?.digest !== event.digest) return false;
        state.tags.delete(event.tag);
        return true;
      }
      case 'blob.pushed':
        if (state) return false;
        ensure();
        return true;
      case 'blob.deleted':
      case 'upload.started':
      case 'manifest.pulled':
      case 'blob.pulled':
        return false;
    }
  }

  #forget(name: string): void {
    if (this.#repos.delete(name)) this.#sorted = undefined;
  }

  #changed(name: string): void {
    const state = this.#repos.get(name);
    if (state) state.summary = undefined;
    this.#sorted = undefined;
    for (const listener of this.#listeners) listener(name);
  }

  #summary(name: string): RepositorySummary | undefined {
    const state = this.#repos.get(name);
    if (!state) return undefined;
    if (state.summary) return state.summary;
    const kinds = new Set<Kind>();
    const types = new Set<string>();
    let updated = 0;
    for (const [tag, { digest, pushedAt }] of state.tags) {
      const m = state.manifests.get(digest);
      kinds.add(kindOf(m?.mediaType ?? '', m?.artifactType, tag));
      if (m?.artifactType !== undefined) types.add(m.artifactType);
      updated = Math.max(updated, pushedAt.getTime());
    }
    for (const m of state.manifests.values()) {
      updated = Math.max(updated, m.createdAt.getTime());
      // referrers are untagged: a signed or SBOM-carrying repository is found by them
      if (m.subject !== undefined) kinds.add(kindOf(m.mediaType, m.artifactType));
    }
    state.summary = {
      name,
      kinds: [...kinds].sort(),
      artifactTypes: [...types].sort(),
      tagCount: state.tags.size,
      ...(updated > 0 && { updatedAt: new Date(updated) }),
    };
    return state.summary;
  }
}

export function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
