import type { ServerResponse } from 'node:http';
import type { Identity } from '../auth.js';
import type { RegistryRequest } from '../http.js';
import type { Storage } from '../storage/types.js';
import { type Answer, Gate } from './access.js';
import { Content } from './content.js';
import { type Html, html, trusted } from './html.js';
import type { ResolvedPortalOptions } from './options.js';
import { PortalError, sendHtml } from './respond.js';
import { SummaryIndex } from './summary.js';

/** One request to the portal. */
export interface Visit {
  req: RegistryRequest;
  res: ServerResponse;
  /** The path after the mount point, decoded per component by the route. */
  path: string;
  query: URLSearchParams;
  /** The portal's mount path, for links: `/artifacts`. */
  base: string;
  /** Aborted when the client goes away. */
  signal: AbortSignal;
  /** Who is asking, once an answer said so. */
  identity?: Identity;
}

/** What every page and route of the portal shares. */
export interface PortalContext {
  options: ResolvedPortalOptions;
  storage: Storage;
  gate: Gate;
  index: SummaryIndex;
  content: Content;
}

export function createPortalContext(options: ResolvedPortalOptions): PortalContext {
  const { registry } = options;
  return {
    options,
    storage: registry.storage,
    gate: new Gate(options.authorize),
    index: new SummaryIndex(registry.storage, registry.events, options.logger),
    content: new Content(registry.storage, options.chartLimits),
  };
}

/** Asks the hook and remembers who is asking for the page header. */
export async function ask(ctx: PortalContext, visit: Visit, accesses: Parameters<Gate['ask']>[1]): Promise<Answer> {
  const answer = await ctx.gate.ask(visit.req, accesses);
  if (answer.identity) visit.identity = answer.identity;
  return answer;
}

/**
 * The refusal for a read: 401 for bad credentials or an anonymous caller (who may sign in), and
 * 404 for a known caller, so a private repository's name is not confirmed to anyone who may not see it.
 */
export function readRefusal(answer: Answer): PortalError {
  if (answer.invalid) return new PortalError(401, 'UNAUTHORIZED', 'Your credentials were not accepted. Sign in again.');
  if (!answer.identity) return new PortalError(401, 'UNAUTHORIZED', 'Sign in to see this page.');
  return new PortalError(404, 'NOT_FOUND', 'This repository does not exist, or you may not see it.');
}

/** The refusal for a change: 401 as for reads, 403 naming what was refused for a known caller. */
export function writeRefusal(answer: Answer, what: string): PortalError {
  if (answer.invalid || !answer.identity) return new PortalError(401, 'UNAUTHORIZED', `Sign in to ${what}.`);
  return new PortalError(403, 'DENIED', `You may not ${what}.`);
}

export type Section = 'repositories' | 'upload' | 'helm' | undefined;

/** Renders a page inside the portal's layout (or the host's `layout` hook). */
export function renderPage(ctx: PortalContext, visit: Visit, title: string, body: Html, options: { status?: number; section?: Section; headers?: Record<string, string> } = {}): void {
  const { base } = visit;
  const { title: site, stylesheets, theme, layout, loginUrl, uploads } = ctx.options;
  const user = visit.identity?.name;
  const nav = (href: string, label: string, section: Section) =>
    html`<li><a href="${base}${href}"${options.section === section ? trusted(' aria-current="page"') : ''}>${label}</a></li>`;
  const who = user
    ? html`<div class="who">Signed in as <strong>${user}</strong></div>`
    : loginUrl
      ? html`<div class="who"><a href="${loginUrl}">Sign in</a></div>`
      : html`<div class="who">Not signed in</div>`;
  const head = html`<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · ${site}</title>
<link rel="stylesheet" href="${base}/-/portal.css">
${Object.keys(theme).length > 0 ? html`<link rel="stylesheet" href="${base}/-/theme.css">` : ''}
${stylesheets.map((href) => html`<link rel="stylesheet" href="${href}">`)}
<script src="${base}/-/portal.js" defer></script>`;
  const header = html`<a class="skip" href="#main">Skip to content</a>
<header class="site">
<a class="brand" href="${base}/">${site}</a>
<nav aria-label="Portal"><ul>${nav('/', 'Repositories', 'repositories')}${uploads ? nav('/upload', 'Upload', 'upload') : ''}${nav('/helm/', 'Helm repository', 'helm')}</ul></nav>
${who}
</header>`;
  const document = layout
    ? layout({ title, site, body, base, ...(user !== undefined && { user }), defaultHead: head })
    : `<!doctype html>
<html lang="en">
<head>
${head.value}
</head>
<body>
${header.value}
<main id="main">
${body.value}
</main>
<footer>Served by berth. <span id="copy-status" class="sr-only" role="status" aria-live="polite"></span></footer>
</body>
</html>
`;
  sendHtml(visit.res, options.status ?? 200, document, options.headers);
}

/** A refusal or error as a page; 401s carry the challenge when there is no login page to send people to. */
export function renderError(ctx: PortalContext, visit: Visit, err: PortalError): void {
  const headers: Record<string, string> = {};
  if (err.status === 401 && !ctx.options.loginUrl) headers['WWW-Authenticate'] = ctx.options.challenge;
  const signIn = err.status === 401 && ctx.options.loginUrl ? html`<p><a class="button" href="${ctx.options.loginUrl}">Sign in</a></p>` : '';
  const title = err.status === 404 ? 'Not found' : err.status === 401 ? 'Sign in needed' : err.status === 403 ? 'Not allowed' : 'Something went wrong';
  const body = html`<h1>${title}</h1><p class="error" role="alert">${err.message}</p>${signIn}<p><a href="${visit.base}/">All repositories</a></p>`;
  renderPage(ctx, visit, title, body, { status: err.status, headers });
}
