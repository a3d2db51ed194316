import type { LeaseStore } from '../types.js';
import { type Files, readIfExists, removeIfExists } from './files.js';
import type { Layout } from './layout.js';

/**
 * Leases in `leases/<name>`. One process serves a root (its lock file), so serialising the
 * read-compare-write of each lease within the process makes `acquire` atomic.
 */
export function fsLeases(layout: Layout, files: Files): LeaseStore {
  const queue = new Map<string, Promise<unknown>>();
  function serialised<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const next = (queue.get(name) ?? Promise.resolve()).then(fn, fn);
    queue.set(
      name,
      next.catch(() => undefined),
    );
    return next;
  }
  async function read(name: string): Promise<{ holder: string; expires: number } | undefined> {
    const file = await readIfExists(layout.lease(name));
    if (!file) return undefined;
    try {
      return JSON.parse(file.toString('utf8')) as { holder: string; expires: number };
    } catch {
      return undefined; // a damaged lease is no lease
    }
  }
  return {
    acquire: (name, holder, ttl) =>
      serialised(name, async () => {
        const lease = await read(name);
        if (lease && lease.holder !== holder && lease.expires > Date.now()) return false;
        await files.writeAtomic(layout.lease(name), JSON.stringify({ holder, expires: Date.now() + ttl }));
        return true;
      }),
    release: (name, holder) =>
      serialised(name, async () => {
        if ((await read(name))?.holder === holder) await removeIfExists(layout.lease(name));
      }),
  };
}
