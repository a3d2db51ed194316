import type { ServerResponse } from 'node:http';
import { type Digest, parseDigest } from '../digest.js';
import { RegistryError, RegistryErrors } from '../errors.js';
import { clientWentAway } from '../failures.js';
import type { RegistryRequest } from '../http.js';
import { isRepositoryName } from '../names.js';
import { listRepositories, listTags } from './api.js';
import { CSS, SCRIPT, themeCss } from './assets.js';
import { type PortalContext, type Visit, createPortalContext, renderError } from './context.js';
import { HelmRepository } from './helm-repo.js';
import { type PortalOptions, resolvePortalOptions } from './options.js';
import { confirmDeletePage, deleteAction, retagAction } from './pages/actions.js';
import { chartPage } from './pages/chart.js';
import { helmPage } from './pages/helm.js';
import { blobDownload, manifestPage } from './pages/manifest.js';
import { repositoriesPage } from './pages/repositories.js';
import { repositoryPage } from './pages/repository.js';
import { uploads } from './pages/upload.js';
import { PortalError, notFound, sendJson, sendText } from './respond.js';

export type { PortalOptions, PageShell } from './options.js';
export type { ArchiveLimits } from './chart-archive.js';
export type { RepositorySummary, TagSummary } from './summary.js';
export type { Kind } from './kinds.js';

type Next = (err?: unknown) => void;

/** The portal router: `app.use('/artifacts', portal)` (Express 4.21+ or 5) or any `(req, res, next)` host. */
export interface Portal {
  (req: RegistryRequest, res: ServerResponse, next: Next): void;
  /** Reads every repository's summary from the store now (the first request does it otherwise). */
  init(): Promise<void>;
  /** Stops listening to the registry's events and the refresh timer. */
  close(): void;
}

type Handler = (visit: Visit, match: RegExpExecArray) => Promise<void>;

interface Route {
  pattern: RegExp;
  methods: Partial<Record<string, Handler>>;
  /** Answers with JSON or plain text rather than pages. */
  machine?: boolean;
}

const NAME = '([a-z0-9][a-z0-9._/-]*)';

/**
 * Creates the artifact portal: server-rendered pages to browse, search, inspect, upload and delete,
 * a JSON search API, and the Helm charts as a classic chart repository, all under the registry's
 * own auth decisions (docs/portal.md).
 *
 *     app.use('/artifacts', createPortal({ registry, authorize }));
 */
export function createPortal<Req extends RegistryRequest = RegistryRequest>(options: PortalOptions<Req>): Portal {
  const resolved = resolvePortalOptions(options);
  const ctx: PortalContext = createPortalContext(resolved);
  const helm = new HelmRepository(ctx);
  const upload = uploads(ctx);
  const theme = themeCss(resolved.theme);
  let timer: NodeJS.Timeout | undefined;

  const repo = (match: RegExpExecArray): string => {
    const name = match[1] ?? '';
    if (!isRepositoryName(name)) throw notFound();
    return name;
  };
  const digest = (value: string | undefined): Digest => {
    const parsed = parseDigest(value ?? '');
    if (!parsed.ok) throw notFound();
    return parsed.digest;
  };
  const uploadsOn = (): void => {
    if (!resolved.uploads) throw notFound();
  };
  const asset = (type: string, body: string) => async (visit: Visit) => sendText(visit.res, 200, type, body, { 'Cache-Control': 'public, max-age=300' });

  const table: Route[] = [
    { pattern: /^\/?$/, methods: { GET: (v) => repositoriesPage(ctx, v) } },
    { pattern: /^\/-\/portal\.css$/, methods: { GET: asset('text/css; charset=utf-8', CSS) } },
    { pattern: /^\/-\/theme\.css$/, methods: { GET: asset('text/css; charset=utf-8', theme) } },
    { pattern: /^\/-\/portal\.js$/, methods: { GET: asset('text/javascript; charset=utf-8', SCRIPT) } },
    {
      pattern: /^\/upload$/,
      methods: {
        GET: (v) => (uploadsOn(), upload.page(v)),
        POST: (v) => (uploadsOn(), upload.post(v)),
      },
    },
    { pattern: /^\/api\/v1\/repositories$/, methods: { GET: (v) => listRepositories(ctx, v) }, machine: true },
    { pattern: new RegExp(`^/api/v1/repositories/${NAME}/tags$`), methods: { GET: (v, m) => listTags(ctx, v, repo(m)) }, machine: true },
    { pattern: /^\/helm\/?$/, methods: { GET: (v) => helmPage(ctx, v, helm) } },
    { pattern: new RegExp(`^/helm/(?:${NAME}/)?index\\.yaml$`), methods: { GET: (v, m) => helm.index(v, scope(m[1])) }, machine: true },
    { pattern: new RegExp(`^/helm/(?:${NAME}/)?charts/([^/]+\\.tgz)$`), methods: { GET: (v, m) => helm.download(v, scope(m[1]), decoded(m[2])) }, machine: true },
    { pattern: new RegExp(`^/r/${NAME}/-/manifest/([^/]+)$`), methods: { GET: (v, m) => manifestPage(ctx, v, repo(m), digest(m[2])) } },
    { pattern: new RegExp(`^/r/${NAME}/-/blob/([^/]+)$`), methods: { GET: (v, m) => blobDownload(ctx, v, repo(m), digest(m[2])) } },
    { pattern: new RegExp(`^/r/${NAME}/-/chart$`), methods: { GET: (v, m) => chartPage(ctx, v, repo(m)) } },
    { pattern: new RegExp(`^/r/${NAME}/-/delete$`), methods: { GET: (v, m) => confirmDeletePage(ctx, v, repo(m)), POST: (v, m) => deleteAction(ctx, v, repo(m)) } },
    { pattern: new RegExp(`^/r/${NAME}/-/retag$`), methods: { POST: (v, m) => retagAction(ctx, v, repo(m)) } },
    { pattern: new RegExp(`^/r/${NAME}$`), methods: { GET: (v, m) => repositoryPage(ctx, v, repo(m)) } },
  ];

  const init = () => {
    if (resolved.refreshInterval > 0 && !timer) {
      timer = setInterval(() => {
        ctx.index.rebuild().catch((err: unknown) => resolved.logger.error({ err }, 'portal: re-reading the repositories failed'));
      }, resolved.refreshInterval);
      timer.unref();
    }
    return ctx.index.ready();
  };

  function portal(req: RegistryRequest, res: ServerResponse, next: Next): void {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const route = table.find((r) => r.pattern.test(path));
    const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
    if (!route) {
      next();
      return;
    }
    const match = route.pattern.exec(path) as RegExpExecArray;
    const visit: Visit = {
      req,
      res,
      path,
      query: new URLSearchParams(q < 0 ? '' : url.slice(q + 1)),
      base: resolved.publicPath ?? req.baseUrl ?? '',
      signal: disconnected(res),
    };
    const handler = route.methods[method];
    const run = handler
      ? init().then(() => handler(visit, match))
      : Promise.reject(new PortalError(405, 'UNSUPPORTED', `${req.method ?? ''} is not supported here`));
    run.catch((err: unknown) => failed(visit, route, err));
  }

  function failed(visit: Visit, route: Route, err: unknown): void {
    const { req, res } = visit;
    let answer: PortalError;
    if (err instanceof PortalError) answer = err;
    else if (err instanceof RegistryError || err instanceof RegistryErrors) answer = new PortalError(409, 'CONFLICT', err.message);
    else if (clientWentAway(err, req, res)) {
      res.destroy();
      return;
    } else {
      resolved.logger.error({ err, method: req.method, url: req.url }, 'portal request failed');
      answer = new PortalError(500, 'UNKNOWN', 'Something went wrong on the server; try again later.');
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (answer.status === 405) res.setHeader('Allow', Object.keys(route.methods).join(', '));
    if (route.machine) {
      const headers: Record<string, string> = answer.status === 401 ? { 'WWW-Authenticate': resolved.challenge } : {};
      sendJson(res, answer.status, { errors: [{ code: answer.code, message: answer.message }] }, headers);
      return;
    }
    renderError(ctx, visit, answer);
  }

  return Object.assign(portal, {
    init,
    close: () => {
      if (timer) clearInterval(timer);
      timer = undefined;
      ctx.index.close();
    },
  });
}

function decoded(value: string | undefined): string {
  try {
    return decodeURIComponent(value ?? '');
  } catch {
    throw notFound();
  }
}

function scope(value: string | undefined): string {
  if (value === undefined) return '';
  if (!isRepositoryName(value)) throw notFound();
  return value;
}

function disconnected(res: ServerResponse): AbortSignal {
  const controller = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) controller.abort(new Error('the client went away'));
  });
  return controller.signal;
}
