/**
 * What the stores on one root in this process remember of the records they read: manifests by
 * digest, tags, referrer lists. Only one process serves a root (its lock file), so every change to
 * these records passes through the stores of this process, and each one drops what it changes
 * here after the change is on disk. A read that was under way while a change landed does not fill
 * the cache (it may have read the old record); the next read does.
 *
 * Bounded by the bytes it holds, least recently used first out.
 */
export class RecordCache {
  readonly #limit: number;
  readonly #entries = new Map<string, { value: unknown; bytes: number }>();
  /** Reads under way, per key: a change to the key marks them stale. */
  readonly #reading = new Map<string, Set<{ stale: boolean }>>();
  #bytes = 0;

  constructor(limitBytes: number) {
    this.#limit = limitBytes;
  }

  /**
   * The cached value of `key`, or `load()`'s, which is kept (at `size(value)` bytes) unless the key
   * changed while it was being read. `undefined` (nothing on disk) is never kept.
   */
  async get<T>(key: string, load: () => Promise<T | undefined>, size: (value: T) => number): Promise<T | undefined> {
    const hit = this.#entries.get(key);
    if (hit) {
      // most recently used goes last
      this.#entries.delete(key);
      this.#entries.set(key, hit);
      return hit.value as T;
    }
    if (this.#limit <= 0) return load();
    const token = { stale: false };
    let reading = this.#reading.get(key);
    if (!reading) this.#reading.set(key, (reading = new Set()));
    reading.add(token);
    try {
      const value = await load();
      if (value !== undefined && !token.stale) this.#keep(key, value, size(value) + key.length * 2 + 64);
      return value;
    } finally {
      reading.delete(token);
      if (reading.size === 0 && this.#reading.get(key) === reading) this.#reading.delete(key);
    }
  }

  /** Forgets `key`: call it after the record changed on disk. */
  drop(key: string): void {
    const entry = this.#entries.get(key);
    if (entry) {
      this.#entries.delete(key);
      this.#bytes -= entry.bytes;
    }
    for (const token of this.#reading.get(key) ?? []) token.stale = true;
  }

  /** Forgets everything (the root was replaced). */
  clear(): void {
    for (const key of [...this.#entries.keys()]) this.drop(key);
    for (const tokens of this.#reading.values()) for (const token of tokens) token.stale = true;
  }

  /** Forgets every key starting with `prefix` (a deleted repository). */
  dropPrefix(prefix: string): void {
    for (const key of [...this.#entries.keys()]) if (key.startsWith(prefix)) this.drop(key);
    for (const [key, tokens] of this.#reading) if (key.startsWith(prefix)) for (const token of tokens) token.stale = true;
  }

  #keep(key: string, value: unknown, bytes: number): void {
    if (bytes > this.#limit / 4) return;
    this.drop(key);
    this.#entries.set(key, { value, bytes });
    this.#bytes += bytes;
    for (const [oldest, entry] of this.#entries) {
      if (this.#bytes <= this.#limit) break;
      this.#entries.delete(oldest);
      this.#bytes -= entry.bytes;
    }
  }
}

/** Cache keys: the repository first, so a repository's records go together. */
export const keys = {
  manifest: (name: string, digest: string) => `${name}\u0000m\u0000${digest}`,
  tag: (name: string, tag: string) => `${name}\u0000t\u0000${tag}`,
  referrers: (name: string, subject: string) => `${name}\u0000r\u0000${subject}`,
  link: (name: string, digest: string) => `${name}\u0000l\u0000${digest}`,
  /** Blobs belong to no repository: their keys start with a character no name starts with. */
  blob: (digest: string) => `\u0000b\u0000${digest}`,
  repository: (name: string) => `${name}\u0000`,
};
