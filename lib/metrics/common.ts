import { Counter, Gauge, Histogram, type Registry, register as defaultRegister } from 'prom-client';

/** Where metrics are registered, and how their names start. */
export interface MetricsOptions {
  /** The host's prom-client registry (default: prom-client's global `register`). */
  register?: Registry;
  /** Prefix of every metric name (default: `'berth_'`). */
  prefix?: string;
}

export interface Resolved {
  register: Registry;
  prefix: string;
}

export function resolveMetrics(factory: string, options: MetricsOptions): Resolved {
  const register = options.register ?? defaultRegister;
  if (typeof (register as Partial<Registry>).getSingleMetric !== 'function') throw new TypeError(`${factory}: \`register\` must be a prom-client Registry.`);
  const prefix = options.prefix ?? 'berth_';
  if (typeof prefix !== 'string' || !/^[a-zA-Z_:][a-zA-Z0-9_:]*$|^$/.test(prefix)) throw new TypeError(`${factory}: \`prefix\` must be a Prometheus name prefix such as "berth_" (got ${JSON.stringify(prefix)}).`);
  return { register, prefix };
}

/**
 * The metric named `name` on the register, created on first use: `instrumentStorage` and
 * `registryMetrics` share the store metrics whichever runs first, and a second call reuses them.
 */
function shared<T>(r: Resolved, name: string, create: (name: string, registers: Registry[]) => T): T {
  const full = `${r.prefix}${name}`;
  return (r.register.getSingleMetric(full) as T | undefined) ?? create(full, [r.register]);
}

export function counter<L extends string>(r: Resolved, name: string, help: string, labelNames: readonly L[]): Counter<L> {
  return shared(r, name, (n, registers) => new Counter<L>({ name: n, help, labelNames, registers }));
}

export function gauge<L extends string>(r: Resolved, name: string, help: string, labelNames: readonly L[], collect?: (this: Gauge<L>) => void | Promise<void>): Gauge<L> {
  return shared(r, name, (n, registers) => new Gauge<L>({ name: n, help, labelNames, registers, ...(collect && { collect }) }));
}

export function histogram<L extends string>(r: Resolved, name: string, help: string, labelNames: readonly L[], buckets: number[]): Histogram<L> {
  return shared(r, name, (n, registers) => new Histogram<L>({ name: n, help, labelNames, buckets, registers }));
}

/** Store operations take from a fraction of a millisecond (memory) to seconds (a blob written to a database). */
export const STORE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Requests take from a millisecond (a HEAD) to many minutes (a large layer). */
export const REQUEST_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900];

/** The store metrics, shared by `instrumentStorage` and `registryMetrics`. */
export function storeMetrics(r: Resolved): { operations: Histogram<'store' | 'operation' | 'outcome'>; uploads: Gauge } {
  return {
    operations: histogram(r, 'store_operation_duration_seconds', 'Time a store operation took until its promise settled (for streams: until the stream was handed over).', ['store', 'operation', 'outcome'], STORE_BUCKETS),
    uploads: gauge(r, 'uploads_in_progress', 'Uploads started through this process and not yet finished, cancelled or expired (needs instrumentStorage).', []),
  };
}
