import { RegistryError } from '../errors.js';
import { isRepositoryName } from '../names.js';
import type { UpstreamAnswer, UpstreamClient } from './client.js';
import type { ResolvedUpstream } from './options.js';

/** One upstream and what the mirror keeps about it while running. */
export interface UpstreamState {
  upstream: ResolvedUpstream;
  client: UpstreamClient;
  /** Until when (epoch ms) upstream asked us to stay away (a 429 with Retry-After). */
  backoffUntil: number;
}

/** A local repository resolved to its upstream: `name` is the repository's name there. */
export interface Route {
  upstream: ResolvedUpstream;
  client: UpstreamClient;
  state: UpstreamState;
  name: string;
}

/** The upstream whose prefix claims a repository (the longest that matches), or `undefined` for a local repository. */
export function upstreamOf(states: readonly UpstreamState[], repository: string): UpstreamState | undefined {
  let best: UpstreamState | undefined;
  for (const state of states) {
    const { prefix } = state.upstream;
    if (repository.length > prefix.length && repository.startsWith(prefix) && (!best || prefix.length > best.upstream.prefix.length)) best = state;
  }
  return best;
}

/** A mirrored repository's upstream and its name there, or `undefined` for a local repository. */
export function routeFor(states: readonly UpstreamState[], repository: string): Route | undefined {
  const best = upstreamOf(states, repository);
  if (!best) return undefined;
  const name = best.upstream.rewrite(repository.slice(best.upstream.prefix.length));
  if (typeof name !== 'string' || !isRepositoryName(name)) {
    throw new RegistryError('NAME_INVALID', `the mirror's rewrite of ${repository} gave ${JSON.stringify(name)}, which is not a repository name`);
  }
  return { upstream: best.upstream, client: best.client, state: best, name };
}

const DEFAULT_BACKOFF = 10_000;
const MAX_BACKOFF = 10 * 60_000;

/** Milliseconds a `Retry-After` (seconds or an HTTP date) asks for; a default when absent or unreadable. */
export function retryAfter(value: string | undefined, now = Date.now()): number {
  if (value === undefined) return DEFAULT_BACKOFF;
  const seconds = /^\d+$/.test(value.trim()) ? Number(value) * 1000 : Date.parse(value) - now;
  return Number.isFinite(seconds) ? Math.min(Math.max(seconds, 0), MAX_BACKOFF) : DEFAULT_BACKOFF;
}

/** Whether upstream asked us to wait (a 429) and the wait is not over. */
export function backingOff(route: Route): boolean {
  return route.state.backoffUntil > Date.now();
}

/**
 * The answer to a client for a miss upstream could not serve: a 429 is passed on (and remembered,
 * so the mirror stays away until its `Retry-After`), anything else is 503 UNAVAILABLE.
 */
export function upstreamFailure(route: Route, answer: UpstreamAnswer | undefined, reason: string): RegistryError {
  if (answer?.status === 429) {
    const wait = retryAfter(header(answer.headers['retry-after']));
    route.state.backoffUntil = Math.max(route.state.backoffUntil, Date.now() + wait);
    return rateLimited(route);
  }
  return new RegistryError('UNAVAILABLE', `the upstream registry ${route.upstream.origin.host} cannot serve this now (${reason}); try again later`, { headers: { 'Retry-After': '10' } });
}

/** 429 for a miss while upstream is rate-limiting the mirror. */
export function rateLimited(route: Route): RegistryError {
  const seconds = Math.max(1, Math.ceil((route.state.backoffUntil - Date.now()) / 1000));
  return new RegistryError('TOOMANYREQUESTS', `the upstream registry ${route.upstream.origin.host} is rate-limiting this mirror; try again in ${seconds} s`, {
    headers: { 'Retry-After': String(seconds) },
  });
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
