import type { ServerResponse } from 'node:http';

/** A refusal or a client error the portal answers as a page (or JSON for the API). */
export class PortalError extends Error {
  override readonly name = 'PortalError';
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export const notFound = (what = 'This page does not exist, or you may not see it.') => new PortalError(404, 'NOT_FOUND', what);
export const badRequest = (message: string) => new PortalError(400, 'BAD_REQUEST', message);

/**
 * Pages are rendered by the portal from store data only; the policy allows the portal's own
 * stylesheet and script, inline `data:` images (chart icons), and forms posting back to it.
 */
const CSP = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

function security(res: ServerResponse): void {
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'same-origin');
}

export function sendHtml(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  const buf = Buffer.from(body);
  security(res);
  res.statusCode = status;
  res.setHeader('Content-Security-Policy', CSP);
  res.setHeader('X-Frame-Options', 'DENY');
  // pages show what this caller may see: never from a shared cache
  res.setHeader('Cache-Control', 'private, no-cache');
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Content-Length', buf.length);
  res.end(res.req.method === 'HEAD' ? undefined : buf);
}

export function sendText(res: ServerResponse, status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}): void {
  const buf = typeof body === 'string' ? Buffer.from(body) : body;
  security(res);
  res.statusCode = status;
  res.setHeader('Cache-Control', 'private, no-cache');
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.setHeader('Content-Type', type);
  res.setHeader('Content-Length', buf.length);
  res.end(res.req.method === 'HEAD' ? undefined : buf);
}

export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  sendText(res, status, 'application/json; charset=utf-8', JSON.stringify(value), headers);
}

export function redirect(res: ServerResponse, location: string): void {
  security(res);
  res.statusCode = 303;
  res.setHeader('Location', location);
  res.setHeader('Content-Length', 0);
  res.end();
}
