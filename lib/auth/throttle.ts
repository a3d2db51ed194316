import { createHash } from 'node:crypto';
import { isIPv6 } from 'node:net';
import { RegistryError } from '../errors.js';
import type { RegistryRequest } from '../http.js';

export interface LoginThrottleOptions<Req extends RegistryRequest = RegistryRequest> {
  /** Failed logins a client may make before it is slowed down (default: 5). */
  free?: number;
  /** The first wait, in milliseconds, doubling with every further failure (default: 1000). */
  delay?: number;
  /** The longest wait, in milliseconds (default: 60000). */
  maxDelay?: number;
  /** A client without a failed login for this many milliseconds starts afresh (default: 15 minutes). */
  forgetAfter?: number;
  /** Clients remembered at once; the longest-quiet are forgotten first (default: 10000). */
  maxClients?: number;
  /**
   * Who the client is (default: `req.ip` when Express set it, honouring `trust proxy`, else the socket
   * address; IPv6 addresses by their /64 network, which one host usually owns whole).
   */
  clientKey?: (req: Req) => string;
}

/** One login attempt: report how it went, so the client's count moves. */
export interface LoginAttempt {
  succeeded(): void;
  failed(): void;
  /** The check itself broke (a store down): neither count. */
  abandoned(): void;
}

/** Slows down failed logins per client: after `free` failures, each further attempt must wait, twice as long every time. */
export interface LoginThrottle<Req extends RegistryRequest = RegistryRequest> {
  /**
   * Starts an attempt by `user` with `secret` (the password; only a hash of it is kept while the
   * attempt runs), or throws a 429 `TOOMANYREQUESTS` `RegistryError` with `Retry-After` when the client
   * must wait first (its password is then not checked at all).
   */
  attempt(req: Req, user: string, secret: string): LoginAttempt;
}

interface Client {
  /** Failed logins per user name: a success forgives only that user's failures, so an attacker's own account resets nothing. */
  failures: Map<string, number>;
  total: number;
  /** Attempts running now, by credentials: the same credentials sent in parallel (docker pulling layers) are one guess. */
  inFlight: Map<string, number>;
  /** No attempt before this time (ms). */
  notBefore: number;
  lastFailure: number;
}

const MAX_USERS_PER_CLIENT = 100;

/**
 * A per-client slow-down of failed logins, kept in memory: other clients are never slowed down by one
 * client's failures. Attempts in flight count as failures until they succeed, so a burst of parallel
 * guesses gets no more than `free` checks; the same credentials in parallel count once.
 */
export function loginThrottle<Req extends RegistryRequest = RegistryRequest>(options: LoginThrottleOptions<Req> = {}): LoginThrottle<Req> {
  const number = (name: keyof LoginThrottleOptions, fallback: number, min: number): number => {
    const value = options[name] ?? fallback;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
      throw new TypeError(`loginThrottle: \`${name}\` must be an integer of at least ${min} (got ${JSON.stringify(value)}).`);
    }
    return value;
  };
  const free = number('free', 5, 0);
  const delay = number('delay', 1000, 1);
  const maxDelay = number('maxDelay', 60_000, delay);
  const forgetAfter = number('forgetAfter', 15 * 60_000, 1);
  const maxClients = number('maxClients', 10_000, 1);
  const clientKey = options.clientKey ?? defaultClientKey;
  const clients = new Map<string, Client>();
  const wait = (count: number) => (count < free ? 0 : Math.min(delay * 2 ** Math.min(count - free, 30), maxDelay));

  function clientOf(key: string, now: number): Client {
    let client = clients.get(key);
    if (client !== undefined && client.inFlight.size === 0 && now - client.lastFailure > forgetAfter) client = undefined;
    if (client === undefined) client = { failures: new Map(), total: 0, inFlight: new Map(), notBefore: 0, lastFailure: now };
    // re-insert, so the map's order is least recently seen first
    clients.delete(key);
    clients.set(key, client);
    for (const [old, c] of clients) {
      if (clients.size <= maxClients) break;
      if (c !== client) clients.delete(old);
    }
    return client;
  }

  return {
    attempt(req, user, secret) {
      const key = clientKey(req);
      const now = Date.now();
      const client = clientOf(key, now);
      if (now < client.notBefore) {
        const seconds = Math.ceil((client.notBefore - now) / 1000);
        throw new RegistryError('TOOMANYREQUESTS', `too many failed logins from this client: retry in ${seconds} s`, {
          headers: { 'Retry-After': String(seconds) },
        });
      }
      const id = createHash('sha256').update(`${user}\0${secret}`).digest('base64');
      client.inFlight.set(id, (client.inFlight.get(id) ?? 0) + 1);
      // the attempts running now count as failures until they prove otherwise
      client.notBefore = now + wait(client.total + client.inFlight.size);
      let done = false;
      const finish = (outcome: 'succeeded' | 'failed' | 'abandoned') => {
        if (done) return;
        done = true;
        const running = (client.inFlight.get(id) ?? 1) - 1;
        if (running > 0) client.inFlight.set(id, running);
        else client.inFlight.delete(id);
        const at = Date.now();
        if (outcome === 'failed') {
          const name = client.failures.has(user) || client.failures.size < MAX_USERS_PER_CLIENT ? user : '';
          client.failures.set(name, (client.failures.get(name) ?? 0) + 1);
          client.total++;
          client.lastFailure = at;
        } else if (outcome === 'succeeded') {
          client.total -= client.failures.get(user) ?? 0;
          client.failures.delete(user);
        }
        const pending = client.total + client.inFlight.size;
        client.notBefore = pending < free ? 0 : Math.max(outcome === 'failed' ? at + wait(pending) : 0, client.notBefore);
        if (pending === 0 && clients.get(key) === client) clients.delete(key);
      };
      return { succeeded: () => finish('succeeded'), failed: () => finish('failed'), abandoned: () => finish('abandoned') };
    },
  };
}

function defaultClientKey(req: RegistryRequest): string {
  const address = (req as { ip?: unknown }).ip ?? req.socket.remoteAddress;
  if (typeof address !== 'string') return 'unknown';
  return isIPv6(address) && !address.toLowerCase().startsWith('::ffff:') ? `${network64(address)}::/64` : address;
}

/** The first four groups of an IPv6 address, expanded. */
function network64(address: string): string {
  const plain = address.split('%')[0] ?? address;
  const [head = '', tail] = plain.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? left : [...left, ...new Array<string>(Math.max(8 - left.length - right.length, 0)).fill('0'), ...right];
  return groups
    .slice(0, 4)
    .map((g) => (/^[0-9a-f]{1,4}$/i.test(g) ? g.toLowerCase().replace(/^0+(?=.)/, '') : g))
    .join(':');
}
