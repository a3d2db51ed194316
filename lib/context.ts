import type { ServerResponse } from 'node:http';
import { type Access, type Identity, grants, refusal } from './auth.js';
import { Changes } from './changes.js';
import { RegistryEvents } from './events.js';
import type { RegistryRequest } from './http.js';
import type { Actor } from './policy.js';
import type { ResolvedOptions } from './options.js';

/** One matched request: the repository name and reference (digest, tag or upload id) come from the path. */
export interface Call {
  req: RegistryRequest;
  res: ServerResponse;
  name: string;
  ref: string;
  query: URLSearchParams;
  /** Aborted when the client goes away before the response is finished; handed to the store. */
  signal: AbortSignal;
  /** Who is asking, once the authorize hook said so. */
  identity?: Identity;
}

export type Handler = (call: Call) => Promise<void>;

/** The caller of a call, for policy hooks and events. */
export function actor(call: Call): Actor {
  return { req: call.req, ...(call.identity && { identity: call.identity }) };
}

/** What every route group gets from createRegistry(): the resolved options plus shared helpers. */
export interface Context extends ResolvedOptions {
  /**
   * Asks the authorize hook once about every access the request needs. Throws the refusal (401 with
   * a challenge naming every access, or 403) unless each `required` access is allowed; resolves to
   * whether each `optional` one is.
   */
  allow(call: Call, required: readonly Access[], optional?: readonly Access[]): Promise<boolean[]>;
  /** Which of `accesses` the caller has, refusing nothing (catalog filtering). */
  check(call: Call, accesses: readonly Access[]): Promise<boolean[]>;
  /** An absolute path for `Location` headers, honouring the mount path or `publicPath`. */
  url(req: RegistryRequest, path: string): string;
  /** Where routes announce durable changes and pulls. */
  events: RegistryEvents;
  /** The one write path for repository content (policy, integrity, usage, events). */
  changes: Changes;
  /** Asks the authorize hook about `accesses` for a request outside a route (the portal): records the identity too. */
  decide: (req: RegistryRequest, accesses: readonly Access[]) => Promise<{ identity?: Identity; invalid: boolean; granted: boolean[] }>;
}

const identities = new WeakMap<RegistryRequest, Identity>();

/** The caller's identity as the authorize hook established it, for host middleware that runs around the registry. */
export function identityOf(req: RegistryRequest): Identity | undefined {
  return identities.get(req);
}

export function createContext(options: ResolvedOptions): Context {
  async function decide(call: Call, accesses: readonly Access[]) {
    const decision = await options.authorize(call.req, accesses);
    if (decision.identity !== undefined) {
      call.identity = decision.identity;
      identities.set(call.req, decision.identity);
    }
    return { decision, granted: grants(decision, accesses.length) };
  }

  const events = new RegistryEvents(options.logger);
  return {
    ...options,
    events,
    changes: new Changes(options.storage, events, options.policy, options.logger, options.quota),
    async decide(req, accesses) {
      const call = { req } as Call;
      const { decision, granted } = await decide(call, accesses);
      return { ...(decision.identity !== undefined && { identity: decision.identity }), invalid: decision.invalid === true, granted };
    },
    async allow(call, required, optional = []) {
      const accesses = [...required, ...optional];
      const { decision, granted } = await decide(call, accesses);
      if (granted.slice(0, required.length).includes(false) || (decision.invalid === true && required.length > 0)) {
        throw refusal(decision, call.req, accesses, options.challenge);
      }
      return granted.slice(required.length);
    },
    async check(call, accesses) {
      if (accesses.length === 0) return [];
      return (await decide(call, accesses)).granted;
    },
    url: (req, path) => (options.publicPath ?? mountPrefix(req)) + path,
  };
}

/** Where the router is mounted, without a trailing `/v2` when the app mounted it as `app.use('/v2', registry)`. */
export function mountPrefix(req: RegistryRequest): string {
  const base = req.baseUrl ?? '';
  return base.endsWith('/v2') ? base.slice(0, -3) : base;
}
