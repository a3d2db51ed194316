import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Registry as PromRegistry, register as defaultRegister } from 'prom-client';
import type { Registry } from '../registry.js';
import type { Webhooks } from '../webhooks/index.js';
import { type MetricsOptions, REQUEST_BUCKETS, counter, gauge, histogram, resolveMetrics, storeMetrics } from './common.js';

export type { MetricsOptions } from './common.js';
export { instrumentStorage } from './storage.js';

export interface RegistryMetricsOptions extends MetricsOptions {
  /** The registry to watch (its `events`). */
  registry: Pick<Registry, 'events'>;
  /** Webhooks whose deliveries, failures and queue to count. */
  webhooks?: Webhooks | readonly Webhooks[];
  /** Buckets of the request latency histogram, in seconds (default: 5 ms to 15 minutes). */
  requestBuckets?: number[];
}

export interface RegistryMetrics {
  /** The prom-client registry the metrics are on. */
  readonly register: PromRegistry;
  /** Serves the register in Prometheus text format: `app.get('/metrics', metrics.handler)`. */
  readonly handler: (req: IncomingMessage, res: ServerResponse) => void;
  /** Stops following the registry and the webhooks (the metrics stay registered). */
  close(): void;
}

const METHODS = new Set(['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE']);

/**
 * Prometheus metrics of a registry on the host's prom-client registry: requests by route, method
 * and status, their latency and bytes, garbage collection results, webhook deliveries, and (with
 * `instrumentStorage` on the same register) store latency and uploads in progress. Labels never
 * carry repository names or callers, so the series stay few however many repositories there are.
 *
 *     import { register } from 'prom-client';
 *     const metrics = registryMetrics({ registry, register, webhooks });
 *     app.get('/metrics', metrics.handler);
 */
export function registryMetrics(options: RegistryMetricsOptions): RegistryMetrics {
  const r = resolveMetrics('registryMetrics', options);
  if (typeof (options as { registry?: { events?: { on?: unknown } } }).registry?.events?.on !== 'function') throw new TypeError('registryMetrics: `registry` must be the registry (createRegistry(…)).');
  const webhooks = options.webhooks === undefined ? [] : Array.isArray(options.webhooks) ? (options.webhooks as readonly Webhooks[]) : [options.webhooks as Webhooks];

  const requests = counter(r, 'http_requests_total', 'Registry requests answered, by endpoint, method and status (0: the client went away first).', ['route', 'method', 'status']);
  const latency = histogram(r, 'http_request_duration_seconds', 'Time from a registry request to the end of its answer.', ['route', 'method'], options.requestBuckets ?? REQUEST_BUCKETS);
  const received = counter(r, 'http_received_bytes_total', 'Bytes received with registry requests (headers and bodies).', ['route']);
  const sent = counter(r, 'http_sent_bytes_total', 'Bytes sent in registry answers (headers and bodies).', ['route']);
  storeMetrics(r);

  const gcRuns = counter(r, 'gc_runs_total', 'Garbage-collection runs on this instance: completed, dry_run, or skipped (another instance held the lease).', ['result']);
  const gcRemoved = counter(r, 'gc_removed_total', 'What garbage collection removed (dry runs excluded).', ['kind']);
  const gcBytes = counter(r, 'gc_reclaimed_bytes_total', 'Blob bytes garbage collection deleted (dry runs excluded).', []);
  const gcErrors = counter(r, 'gc_errors_total', 'Garbage-collection operations that failed (the run went on).', []);
  const gcDuration = gauge(r, 'gc_last_duration_seconds', 'How long the last garbage-collection run took.', []);
  const gcLast = gauge(r, 'gc_last_run_timestamp_seconds', 'When the last garbage-collection run ended (Unix time).', []);

  const deliveries = counter(r, 'webhook_deliveries_total', 'Webhook deliveries by endpoint and outcome: queued, delivered, failed (an attempt; retried), gave_up, dropped (queue full).', ['endpoint', 'outcome']);
  const deliveryLatency = histogram(r, 'webhook_delivery_duration_seconds', 'Time of one webhook delivery attempt.', ['endpoint'], [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]);
  const queues = webhooks.map((w) => w.queue);
  gauge(r, 'webhook_queue_size', 'Webhook deliveries waiting or in flight (a shared queue counts every instance).', [], async function collect() {
    // read at scrape time; a queue that cannot answer keeps the last value
    const sizes = await Promise.all(queues.map((q) => q.size().catch(() => undefined)));
    if (sizes.every((s) => s !== undefined)) this.set(sizes.reduce((a, b) => a + b, 0));
  });

  const off = [
    options.registry.events.on('request.completed', (e) => {
      const method = METHODS.has(e.method) ? e.method : 'other';
      requests.inc({ route: e.route, method, status: String(e.status) });
      latency.observe({ route: e.route, method }, e.durationMs / 1000);
      if (e.bytesIn > 0) received.inc({ route: e.route }, e.bytesIn);
      if (e.bytesOut > 0) sent.inc({ route: e.route }, e.bytesOut);
    }),
    options.registry.events.on('gc.completed', (e) => {
      gcRuns.inc({ result: e.skipped !== undefined ? 'skipped' : e.dryRun ? 'dry_run' : 'completed' });
      if (e.skipped !== undefined) return;
      gcDuration.set(e.durationMs / 1000);
      gcLast.set(e.time.getTime() / 1000);
      if (e.errors > 0) gcErrors.inc(e.errors);
      if (e.dryRun) return;
      const removed = { tags: e.tagsDeleted, manifests: e.manifestsDeleted, links: e.linksRemoved, blobs: e.blobsDeleted, uploads: e.uploadsExpired, usage: e.usageCorrected };
      for (const [kind, count] of Object.entries(removed)) if (count > 0) gcRemoved.inc({ kind }, count);
      if (e.bytesReclaimed > 0) gcBytes.inc(e.bytesReclaimed);
    }),
    ...webhooks.map((w) =>
      w.observe((record) => {
        deliveries.inc({ endpoint: record.endpoint, outcome: record.outcome.replace('-', '_') });
        if (record.durationMs !== undefined) deliveryLatency.observe({ endpoint: record.endpoint }, record.durationMs / 1000);
      }),
    ),
  ];

  return {
    register: r.register,
    handler: metricsHandler(r.register),
    close() {
      for (const stop of off) stop();
    },
  };
}

/**
 * Serves a prom-client registry in Prometheus text format (default: prom-client's global register).
 * Mount it behind the host's own access rules: metrics name routes and endpoints.
 *
 *     app.get('/metrics', metricsHandler(register));
 */
export function metricsHandler(register: PromRegistry = defaultRegister): (req: IncomingMessage, res: ServerResponse) => void {
  return function metrics(req, res) {
    register.metrics().then(
      (text) => {
        const body = Buffer.from(text);
        res.statusCode = 200;
        res.setHeader('Content-Type', register.contentType);
        res.setHeader('Content-Length', body.length);
        res.setHeader('Cache-Control', 'no-store');
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      () => {
        res.statusCode = 500;
        res.setHeader('Content-Type', 'text/plain; charset=utf-8');
        res.end('metrics could not be collected\n');
      },
    );
  };
}
