import { generateKeyPairSync } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type express from 'express';
import {
  type AuthOptions,
  type Identity,
  type Permissions,
  type Rule,
  type SigningKey,
  allowAll,
  basicChallenge,
  basicCredentials,
  firstOf,
  hostAuth,
  loginThrottle,
  passwords,
  rules,
  tokenAuth,
  tokenEndpoint,
  tokenIssuer,
} from '../lib/index.js';

/** The example app's auth, chosen by environment variables (see docs/auth.md). */
export interface ExampleAuth {
  mode: 'open' | 'basic' | 'token';
  /** What createRegistry() gets: `authorize` and `challenge`. */
  registry: AuthOptions<express.Request>;
  /** Checks a user name and password (the login page); `undefined` in open mode. */
  login?: (req: express.Request, username: string, password: string) => Promise<Identity | undefined>;
  /** The token endpoint, mounted at /token in token mode. */
  tokenEndpoint?: express.RequestHandler;
  /** Lines printed at start: how to log in. */
  banner: (origin: string) => string[];
}

declare module 'express-session' {
  interface SessionData {
    /** Who logged in through the login page. */
    user?: Identity;
  }
}

/** `user:password` pairs, separated by commas or white space; the password may hold colons. */
export function parsePairs(value: string | undefined, name: string): Map<string, string> {
  const pairs = new Map<string, string>();
  for (const pair of (value ?? '').split(/[\s,]+/).filter(Boolean)) {
    const colon = pair.indexOf(':');
    if (colon <= 0 || colon === pair.length - 1) throw new Error(`${name} takes user:password pairs separated by commas (got "${pair.split(':')[0] ?? ''}:…")`);
    pairs.set(pair.slice(0, colon), pair.slice(colon + 1));
  }
  return pairs;
}

/** The session user, as the host's own login page established it (no session at all in open mode). */
export const sessionUser = (req: express.Request): Identity | undefined => (req.session as typeof req.session | undefined)?.user;

/**
 * BERTH_AUTH=open (default): anyone may do anything (allowAll), for 127.0.0.1 only.
 * BERTH_AUTH=basic|token: users from BERTH_USERS (pull, push, delete everywhere) and BERTH_READERS
 * (pull only), anonymous pulls with BERTH_ANONYMOUS_PULL=1; the same users log in on the login page,
 * and the registry accepts that browser session too.
 */
export function authFromEnv(env: NodeJS.ProcessEnv = process.env): ExampleAuth {
  const mode = env.BERTH_AUTH ?? 'open';
  if (mode === 'open') {
    return { mode, registry: { authorize: allowAll, challenge: basicChallenge() }, banner: () => ['BERTH_AUTH=open: anyone may push and delete; keep it on 127.0.0.1'] };
  }
  if (mode !== 'basic' && mode !== 'token') throw new Error(`BERTH_AUTH must be "open", "basic" or "token" (got "${mode}")`);

  const writers = parsePairs(env.BERTH_USERS, 'BERTH_USERS');
  const readers = parsePairs(env.BERTH_READERS, 'BERTH_READERS');
  for (const name of readers.keys()) if (writers.has(name)) throw new Error(`user "${name}" is in both BERTH_USERS and BERTH_READERS`);
  if (writers.size + readers.size === 0) throw new Error(`BERTH_AUTH=${mode} needs users: set BERTH_USERS=user:password (and BERTH_READERS for pull-only users)`);
  const anonymousPull = env.BERTH_ANONYMOUS_PULL === '1';
  const publicUrl = env.BERTH_PUBLIC_URL?.replace(/\/+$/, '');
  if (publicUrl !== undefined && !/^https?:\/\/[^/]+$/.test(publicUrl)) throw new Error('BERTH_PUBLIC_URL must be an origin like https://registry.example.com');

  // who may do what: groups, so the session, Basic and tokens share one table
  const table: Rule[] = [
    { repositories: '**', groups: 'writers', actions: '*' },
    { repositories: '**', groups: 'readers', actions: 'pull' },
    ...(anonymousPull ? [{ repositories: '**', anonymous: true, actions: 'pull' } as const] : []),
  ];
  const permissions = rules(table);
  const groupOf = (name: string) => (writers.has(name) ? 'writers' : readers.has(name) ? 'readers' : undefined);
  const identityOf = (name: string): Identity | undefined => {
    const group = groupOf(name);
    return group === undefined ? undefined : { name, groups: [group] };
  };
  const check = passwords(new Map([...writers, ...readers]));
  const verify = async (username: string, password: string, req: express.Request) => (await check(username, password, req)) && identityOf(username);
  // one count of failed logins per client, across the login page, Basic and the token endpoint
  const throttle = loginThrottle<express.Request>();

  const login = async (req: express.Request, username: string, password: string) => {
    const attempt = throttle.attempt(req, username, password);
    const identity = await verify(username, password, req);
    if (identity) attempt.succeeded();
    else attempt.failed();
    return identity || undefined;
  };

  let registry: AuthOptions<express.Request>;
  let endpoint: express.RequestHandler | undefined;
  if (mode === 'basic') {
    registry = hostAuth({ identify: firstOf(sessionUser, basicCredentials(verify, { throttle })), permissions });
  } else {
    // a shared secret lets several instances verify each other's tokens; otherwise a key pair made now
    const secret = env.BERTH_TOKEN_SECRET;
    if (secret !== undefined && secret.length < 32) throw new Error('BERTH_TOKEN_SECRET must be at least 32 characters');
    const key: SigningKey = secret ? { algorithm: 'HS256', key: secret } : { algorithm: 'ES256', key: generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey };
    const service = 'berth';
    const issuer = tokenIssuer({ issuer: 'berth-example', service, key });
    const origin = (req: express.Request) => publicUrl ?? `${(req.socket as Partial<TLSSocket>).encrypted ? 'https' : 'http'}://${req.headers.host ?? 'localhost'}`;
    // the catalog lists what the token holder's groups may pull
    const catalog: Permissions = (identity, accesses) => permissions(identity && identityOf(identity.name), accesses);
    registry = tokenAuth<express.Request>({ realm: (req) => `${origin(req)}/token`, service, keys: issuer.keys, permissions: catalog });
    const handler = tokenEndpoint<express.Request>({ issuer, verify, permissions, identify: sessionUser, throttle });
    endpoint = (req, res, next) => handler(req, res, next);
  }

  const users = [...[...writers.keys()].map((u) => `${u} (pull, push, delete)`), ...[...readers.keys()].map((u) => `${u} (pull)`)];
  const banner = (origin: string) => {
    const host = new URL(publicUrl ?? origin).host;
    const user = writers.keys().next().value ?? readers.keys().next().value ?? 'user';
    const plain = publicUrl?.startsWith('https:') ? '' : ' --plain-http';
    return [
      `BERTH_AUTH=${mode}${mode === 'token' ? ` (token endpoint ${publicUrl ?? origin}/token)` : ''}: users ${users.join(', ')}; anonymous pull ${anonymousPull ? 'on' : 'off'}`,
      `log in: docker login ${host} -u ${user}  |  podman login${plain ? ' --tls-verify=false' : ''} ${host} -u ${user}`,
      `        oras login${plain} ${host} -u ${user}  |  helm registry login${plain} ${host} -u ${user}`,
      `browser: ${publicUrl ?? origin}/login`,
    ];
  };
  return { mode, registry, login, ...(endpoint && { tokenEndpoint: endpoint }), banner };
}
