import type { BlobStore, Storage } from '../storage/types.js';
import { type MetricsOptions, resolveMetrics, storeMetrics } from './common.js';

const STORES = ['blobs', 'uploads', 'manifests', 'tags', 'links', 'repositories', 'leases'] as const;

/**
 * The store with every operation timed into `<prefix>store_operation_duration_seconds{store,
 * operation, outcome}` and the uploads it holds for this process counted in
 * `<prefix>uploads_in_progress`. Wrap the store you hand to the registry, on the register you give
 * `registryMetrics`:
 *
 *     const storage = instrumentStorage(fsStorage({ root: './data' }), { register });
 *     const registry = createRegistry({ storage, authorize });
 *     registryMetrics({ registry, register });
 *
 * The wrapped store keeps the fast path of finished uploads: its `uploads.promotesInto` is its own
 * (wrapped) `blobs` whenever the original's was the original `blobs`. Compose stores by spread
 * before wrapping, not after.
 */
export function instrumentStorage(storage: Storage, options: MetricsOptions = {}): Storage {
  const metrics = storeMetrics(resolveMetrics('instrumentStorage', options));
  const { operations, uploads: inProgress } = metrics;

  /** Times a call until its promise settles; a synchronous throw counts as an error too. */
  function timed(store: string, operation: string, call: () => unknown): unknown {
    const started = performance.now();
    const done = (outcome: 'ok' | 'error') => operations.observe({ store, operation, outcome }, (performance.now() - started) / 1000);
    let result: unknown;
    try {
      result = call();
    } catch (err) {
      done('error');
      throw err;
    }
    if (result instanceof Promise) {
      return result.then(
        (value: unknown) => {
          done('ok');
          return value;
        },
        (err: unknown) => {
          done('error');
          throw err;
        },
      );
    }
    done('ok');
    return result;
  }

  // uploads this process started, with their last activity: the gauge counts them
  const open = new Map<string, number>();
  const track = (id: string) => {
    if (!open.has(id)) inProgress.inc();
    open.set(id, Date.now());
  };
  const untrack = (id: string) => {
    if (open.delete(id)) inProgress.dec();
  };
  function follow(operation: string, args: unknown[], value: unknown): void {
    const id = typeof args[0] === 'string' ? args[0] : undefined;
    if (operation === 'create' && typeof (value as { id?: unknown } | undefined)?.id === 'string') track((value as { id: string }).id);
    else if (operation === 'append' && id !== undefined && typeof value === 'number' && open.has(id)) open.set(id, Date.now());
    else if ((operation === 'commit' && value !== undefined) || (operation === 'delete' && value === true)) {
      if (id !== undefined) untrack(id);
    } else if (operation === 'sweep' && args[0] instanceof Date) {
      const cutoff = args[0].getTime();
      for (const [upload, at] of open) if (at < cutoff) untrack(upload);
    }
  }

  const wrapped = new Map<string, object>();
  function wrap<T extends object>(name: string, target: T, blobs?: { original: BlobStore; wrapped: BlobStore }): T {
    const functions = new Map<PropertyKey, unknown>();
    return new Proxy(target, {
      get(t, prop) {
        const value: unknown = Reflect.get(t, prop, t);
        // the core commits without a copy only when promotesInto is the store's own blobs: keep that identity
        if (prop === 'promotesInto' && blobs && value === blobs.original) return blobs.wrapped;
        if (typeof value !== 'function') return value;
        let fn = functions.get(prop);
        if (!fn) {
          const operation = String(prop);
          const method = value as (...args: unknown[]) => unknown;
          fn = (...args: unknown[]) => {
            const result = timed(name, operation, () => method.apply(t, args));
            if (name === 'uploads' && result instanceof Promise) return result.then((v: unknown) => (follow(operation, args, v), v));
            return result;
          };
          functions.set(prop, fn);
        }
        return fn;
      },
    });
  }

  const blobs = wrap('blobs', storage.blobs);
  wrapped.set('blobs', blobs);
  for (const name of STORES) {
    if (name === 'blobs') continue;
    const part = storage[name] as object | undefined;
    if (part) wrapped.set(name, wrap(name, part, name === 'uploads' ? { original: storage.blobs, wrapped: blobs } : undefined));
  }
  const lifecycle = wrap('storage', storage);
  return new Proxy(storage, {
    get(t, prop) {
      if (typeof prop === 'string' && wrapped.has(prop)) return wrapped.get(prop);
      return Reflect.get(lifecycle, prop) as unknown;
    },
  });
}
