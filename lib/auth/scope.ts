import type { Access } from '../auth.js';
import { isRepositoryName } from '../names.js';

/** One resource scope of a token request, `type:name:action,…` (distribution `docs/spec/auth/scope.md`). */
export interface ResourceScope {
  /** Lowercase alphanumeric; a deprecated class suffix (`repository(plugin)`) is dropped. */
  type: string;
  /** A repository name, optionally after a `host[:port]/`, or `catalog` for `registry:catalog:*`. */
  name: string;
  /** As asked, in order, without duplicates; may be empty (`repository:a:`), which asks for nothing. */
  actions: string[];
}

/** A scope string that does not follow the grammar; the token endpoint answers 400 `invalid_scope`. */
export class ScopeError extends Error {
  override readonly name = 'ScopeError';
}

/** The most a scope parameter may hold: far above what any client sends, far below what would cost memory. */
export const SCOPE_LIMITS = { length: 16384, resources: 64 } as const;

const TYPE = /^([a-z0-9]+)(?:\(([a-z0-9]+)\))?$/;
const HOST_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const HOST = new RegExp(`^${HOST_COMPONENT}(?:\\.${HOST_COMPONENT})*(?::[0-9]{1,5})?$`);
const ACTION = /^(?:[a-z]{1,32}|\*)$/;

/**
 * Parses a scope: one or more resource scopes separated by spaces. type = up to the first `:`, actions =
 * after the last `:`, name = between, so a name may carry one `host:port` colon. Anything else (a name
 * with a stray colon, an action that is not lowercase letters or `*`, an empty part, more than
 * {@link SCOPE_LIMITS}) throws {@link ScopeError}. Unknown actions parse, and are simply never granted.
 */
export function parseScope(scope: string): ResourceScope[] {
  if (scope.length > SCOPE_LIMITS.length) throw new ScopeError(`scope is longer than ${SCOPE_LIMITS.length} characters`);
  const parts = scope.split(' ').filter((part) => part !== '');
  if (parts.length > SCOPE_LIMITS.resources) throw new ScopeError(`more than ${SCOPE_LIMITS.resources} resource scopes`);
  return parts.map(parseResourceScope);
}

function parseResourceScope(text: string): ResourceScope {
  const first = text.indexOf(':');
  const last = text.lastIndexOf(':');
  if (first < 0 || first === last) throw new ScopeError(`"${clip(text)}" is not type:name:actions`);
  const type = TYPE.exec(text.slice(0, first))?.[1];
  if (type === undefined) throw new ScopeError(`"${clip(text)}": the resource type must be lowercase letters and digits`);
  const name = text.slice(first + 1, last);
  if (!isResourceName(name)) throw new ScopeError(`"${clip(text)}": "${clip(name)}" is not a resource name`);
  const list = text.slice(last + 1);
  const actions = list === '' ? [] : list.split(',');
  if (!actions.every((a) => ACTION.test(a))) throw new ScopeError(`"${clip(text)}": actions must be lowercase words or *, separated by commas`);
  return { type, name, actions: [...new Set(actions)] };
}

/** `[host[:port]/]component[/component…]`: a repository name, possibly with a registry host in front. */
function isResourceName(name: string): boolean {
  if (isRepositoryName(name)) return true;
  const slash = name.indexOf('/');
  return slash > 0 && HOST.test(name.slice(0, slash)) && isRepositoryName(name.slice(slash + 1));
}

/** The berth accesses a resource scope asks for: `*` on a repository means pull, push and delete; unknown types and actions ask nothing. */
export function accessesOf(scope: ResourceScope): Access[] {
  if (scope.type === 'registry') return scope.name === 'catalog' && scope.actions.includes('*') ? [{ action: 'catalog' }] : [];
  // a name with a host in front never names a repository of this registry
  if (scope.type !== 'repository' || !isRepositoryName(scope.name)) return [];
  const all = scope.actions.includes('*');
  return (['pull', 'push', 'delete'] as const)
    .filter((action) => all || scope.actions.includes(action))
    .map((action) => ({ action, repository: scope.name }));
}

function clip(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
