import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Logger, consoleLogger } from './logger.js';
import type { Registry } from './registry.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * Liveness: the process answers (`200 {"status":"ok"}`), whatever the store does, so an orchestrator
 * restarts only a process that hangs. The registry argument is accepted for symmetry and unused.
 *
 *     app.get('/healthz', healthHandler(registry));
 */
export function healthHandler(_registry?: Pick<Registry, 'storage'>): Handler {
  return function health(req, res) {
    send(req, res, 200, { status: 'ok' });
  };
}

export interface ReadinessOptions {
  /** How long the store may take to answer, in milliseconds (default: 2000). */
  timeout?: number;
  /** Where a failed check is reported, without its details reaching the answer (default: the console). */
  logger?: Logger;
}

/**
 * Readiness: the store answers a cheap call (`init()`, then one repository of the catalog) within
 * `timeout`: `200 {"status":"ready","store":{"durationMs":…}}`, else `503 {"status":"unavailable",
 * "reason":…}` with `Retry-After`, so a load balancer sends no traffic to an instance whose database
 * is out of reach. The store's own error goes to the logger, not to the caller.
 *
 *     app.get('/readyz', readinessHandler(registry));
 */
export function readinessHandler(registry: Pick<Registry, 'storage' | 'init'>, options: ReadinessOptions = {}): Handler {
  const timeout = options.timeout ?? 2000;
  if (!Number.isSafeInteger(timeout) || timeout < 1) throw new TypeError(`readinessHandler: \`timeout\` must be a positive integer of milliseconds (got ${JSON.stringify(timeout)}).`);
  const given = registry as { init?: unknown; storage?: { repositories?: { list?: unknown } } };
  if (typeof given.init !== 'function' || typeof given.storage?.repositories?.list !== 'function') throw new TypeError('readinessHandler: pass the registry (createRegistry(…)).');
  const logger = options.logger ?? consoleLogger;
  return function readiness(req, res) {
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Timeout()), timeout);
    });
    Promise.race([
      (async () => {
        await registry.init();
        await registry.storage.repositories.list({ n: 1 });
      })(),
      expired,
    ])
      .then(
        () => send(req, res, 200, { status: 'ready', store: { durationMs: Math.round(performance.now() - started) } }),
        (err: unknown) => {
          const reason = err instanceof Timeout ? `the store did not answer within ${timeout} ms` : 'the store failed';
          if (!(err instanceof Timeout)) logger.warn({ err }, 'readiness: the store failed');
          else logger.warn({ timeout }, 'readiness: the store did not answer in time');
          send(req, res, 503, { status: 'unavailable', reason }, { 'Retry-After': '5' });
        },
      )
      .finally(() => clearTimeout(timer));
  };
}

class Timeout extends Error {}

function send(req: IncomingMessage, res: ServerResponse, status: number, body: object, headers: Record<string, string> = {}): void {
  const bytes = Buffer.from(JSON.stringify(body));
  res.statusCode = status;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Content-Length', bytes.length);
  res.setHeader('Cache-Control', 'no-store');
  res.end(req.method === 'HEAD' ? undefined : bytes);
}
