import type { ServerResponse } from 'node:http';
import { type Access, authorizeOrThrow } from './auth.js';
import type { RegistryRequest } from './http.js';
import type { ResolvedOptions } from './options.js';

/** One matched request: the repository name and reference (digest, tag or upload id) come from the path. */
export interface Call {
  req: RegistryRequest;
  res: ServerResponse;
  name: string;
  ref: string;
  query: URLSearchParams;
}

export type Handler = (call: Call) => Promise<void>;

/** What every route group gets from createRegistry(): the resolved options plus two shared helpers. */
export interface Context extends ResolvedOptions {
  /** Throws 401/403 unless the authorize hook allows `access`. */
  allow(req: RegistryRequest, access: Access): Promise<void>;
  /** An absolute path for `Location` headers, honouring the mount path or `publicPath`. */
  url(req: RegistryRequest, path: string): string;
}

export function createContext(options: ResolvedOptions): Context {
  return {
    ...options,
    allow: (req, access) => authorizeOrThrow(options.authorize, options.challenge, req, access),
    url: (req, path) => (options.publicPath ?? mountPrefix(req)) + path,
  };
}

/** Where the router is mounted, without a trailing `/v2` when the app mounted it as `app.use('/v2', registry)`. */
export function mountPrefix(req: RegistryRequest): string {
  const base = req.baseUrl ?? '';
  return base.endsWith('/v2') ? base.slice(0, -3) : base;
}
