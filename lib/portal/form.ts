import type { RegistryRequest } from '../http.js';
import { PortalError } from './respond.js';

const MAX_FORM = 16 * 1024;

/**
 * Refuses a cross-site form post: browsers send `Sec-Fetch-Site` or `Origin` with every POST, so a
 * page elsewhere cannot make a signed-in user's browser delete or upload (cookie or Basic auth alike).
 * Requests without either header do not come from a browser, which CSRF needs.
 */
export function checkSameOrigin(req: RegistryRequest): void {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') throw new PortalError(403, 'CROSS_SITE', 'This form was sent from another site; send it from this page.');
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== 'null') {
    let host: string | undefined;
    try {
      host = new URL(origin).host;
    } catch {
      host = undefined;
    }
    if (host !== req.headers.host) throw new PortalError(403, 'CROSS_SITE', 'This form was sent from another site; send it from this page.');
  } else if (origin === 'null') {
    throw new PortalError(403, 'CROSS_SITE', 'This form was sent from an opaque origin.');
  }
}

/** A small urlencoded form body: read here, or taken from a body parser the host mounted before the portal. */
export async function readForm(req: RegistryRequest): Promise<URLSearchParams> {
  if (req.body !== undefined && typeof req.body === 'object' && req.body !== null && !Buffer.isBuffer(req.body)) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(req.body as Record<string, unknown>)) if (typeof v === 'string') params.set(k, v);
    return params;
  }
  const type = req.headers['content-type'] ?? '';
  if (!type.startsWith('application/x-www-form-urlencoded')) throw new PortalError(415, 'UNSUPPORTED', 'Send this form as application/x-www-form-urlencoded.');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_FORM) throw new PortalError(413, 'TOO_LARGE', 'The form is too large.');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}
