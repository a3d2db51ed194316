import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { join } from 'node:path';
import type { Identity } from '../auth.js';
import { RegistryError, sendError } from '../errors.js';
import { type RegistryRequest, declaresBody, endAfterDraining } from '../http.js';
import type { Actor, BlobPush, ManifestPush, Policy, Verdict } from '../policy.js';
import type { PullThrough, PullRequest } from '../pull-through.js';
import type { Registry } from '../registry.js';
import { BlobFetches } from './blobs.js';
import { UpstreamClient } from './client.js';
import { ManifestFetches } from './manifests.js';
import { type MirrorOptions, resolveMirrorOptions } from './options.js';
import { type UpstreamState, routeFor, upstreamOf } from './route.js';

export type { MirrorOptions, MirrorUpstream, UpstreamCredentials, UpstreamTls } from './options.js';

/** A pull-through cache of upstream registries: pass it as `pullThrough`, then `attach` the registry. */
export interface Mirror extends PullThrough {
  /**
   * Binds the mirror to the registry it serves (the store and `registry.changes` it writes through)
   * and returns that registry wrapped, to mount instead of it: the wrapper routes containerd's
   * `?ns=<host>` requests to the upstream claiming that host (`/v2/library/alpine/…?ns=docker.io`
   * is served as `hub/library/alpine`, authorized under that name), and refuses pushes to mirrored
   * repositories with `DENIED`.
   *
   *     const mirror = createMirror({ upstreams: [{ prefix: 'hub/', url: 'https://registry-1.docker.io', ns: 'docker.io' }] });
   *     app.use(mirror.attach(createRegistry({ storage, authorize, pullThrough: mirror })));
   */
  attach(registry: Registry): Registry;
  /**
   * Vetoes writes to mirrored repositories by anyone but the mirror: add it to the registry's
   * `policy` (`policies(mine, mirror.policy)`) so host code writing through `registry.changes` (the
   * portal) is refused too. The wrapper from `attach` already refuses pushes over the API.
   */
  readonly policy: Policy;
  /** Stops talking to upstreams and removes the spool directory; transfers in flight fail. */
  close(): Promise<void>;
}

type Next = (err?: unknown) => void;

/** Paths that write: an upload (start, chunk, close) or a manifest PUT. */
const WRITE = /^\/v2\/(.+)\/(?:blobs\/uploads(?:\/[^/]*)?|manifests\/[^/]+)$/;

/**
 * A pull-through cache and mirror of upstream registries, each under a repository prefix of this
 * registry. Cached content lives in the registry's own store: it is served when upstream is down,
 * collected and retained like any other content, and authorized like any other repository.
 * See docs/mirror.md.
 */
export function createMirror(options: MirrorOptions): Mirror {
  const resolved = resolveMirrorOptions(options);
  const { logger } = resolved;
  const states: UpstreamState[] = resolved.upstreams.map((upstream) => ({ upstream, client: new UpstreamClient(upstream), backoffUntil: 0 }));
  const byNs = new Map(states.flatMap((state) => state.upstream.ns.map((ns) => [ns, state] as const)));
  // the mirror's own writes reach the host's policy hooks with this identity (and are let through by `policy`)
  const identities = new Map(states.map((state) => [state, { name: 'berth-mirror', mirror: state.upstream.origin.href } satisfies Identity]));
  const own = new Set<Identity>(identities.values());

  let registry: Registry | undefined;
  const bound = (): Registry => {
    if (!registry) throw new Error('createMirror: the mirror is not attached to a registry; mount mirror.attach(createRegistry({ …, pullThrough: mirror }))');
    return registry;
  };
  let spool: Promise<string> | undefined;
  const spoolDir = () =>
    (spool ??= mkdir(resolved.spoolDir, { recursive: true })
      .then(() => mkdtemp(join(resolved.spoolDir, `${process.pid}-`)))
      .catch((err: unknown) => {
        spool = undefined;
        throw err;
      }));
  const manifests = new ManifestFetches(bound, logger, resolved.maxManifestBytes);
  const blobs = new BlobFetches(bound, spoolDir, logger);

  const actorFor = (state: UpstreamState, request: PullRequest): Actor => ({ ...(request.req && { req: request.req }), identity: identities.get(state) });

  function refusal(repository: string): RegistryError | undefined {
    const state = upstreamOf(states, repository);
    if (!state) return undefined;
    const { origin, prefix } = state.upstream;
    const elsewhere = prefix === '' ? 'this registry only mirrors' : `push to a repository outside ${prefix}`;
    return new RegistryError('DENIED', `${repository} mirrors ${origin.host}: it cannot be pushed to; ${elsewhere}`, { detail: { repository } });
  }

  const veto = (change: ManifestPush | BlobPush): Verdict => {
    if (change.identity && own.has(change.identity)) return undefined;
    const refused = refusal(change.repository);
    return refused && { deny: refused.message };
  };

  /** Before the registry: ns routing and push refusals. `true` when the request has been answered. */
  function front(req: RegistryRequest, res: ServerResponse): boolean {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const underV2 = req.baseUrl?.endsWith('/v2') === true;
    const raw = q < 0 ? url : url.slice(0, q);
    const path = underV2 ? (raw === '/' ? '/v2/' : `/v2${raw}`) : raw;
    if (!path.startsWith('/v2/') || path.length === 4) return false;
    let rest = path.slice(4);
    if (q >= 0) {
      const ns = new URLSearchParams(url.slice(q + 1)).get('ns')?.toLowerCase();
      const state = ns === undefined ? undefined : byNs.get(ns);
      if (state && !rest.startsWith('_catalog') && !rest.startsWith(state.upstream.prefix)) {
        rest = state.upstream.prefix + rest;
        req.url = `${underV2 ? '/' : '/v2/'}${rest}${url.slice(q)}`;
      }
    }
    const method = req.method ?? 'GET';
    if (method !== 'POST' && method !== 'PUT' && method !== 'PATCH') return false;
    const name = WRITE.exec(`/v2/${rest}`)?.[1];
    const refused = name === undefined ? undefined : refusal(name);
    if (!refused) return false;
    res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    if (declaresBody(req) && !req.complete) {
      // the body we will not read would be taken for the next request: answer, drain what comes, close
      res.setHeader('Connection', 'close');
      sendError(res, refused, { hold: true });
      endAfterDraining(req, res);
    } else {
      sendError(res, refused);
    }
    return true;
  }

  return {
    async manifest(request) {
      const route = routeFor(states, request.repository);
      if (!route) return;
      await manifests.ensure(route, request.repository, request.reference, actorFor(route.state, request));
    },

    async blob(request) {
      const route = routeFor(states, request.repository);
      if (!route) return undefined;
      return blobs.blob(route, request, actorFor(route.state, request));
    },

    attach(target) {
      registry = target;
      return new Proxy(target, {
        apply(fn, self, args: [RegistryRequest, ServerResponse, Next]) {
          if (front(args[0], args[1])) return;
          Reflect.apply(fn, self, args);
        },
      });
    },

    policy: { manifestPush: veto, blobPush: veto },

    async close() {
      await Promise.all([blobs.close(), manifests.settle()]);
      for (const state of states) state.client.close();
      const dir = await spool?.catch(() => undefined);
      if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    },
  };
}
