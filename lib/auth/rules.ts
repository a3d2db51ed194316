import type { Access, Identity } from '../auth.js';
import { globToRegExp } from '../glob.js';

/**
 * Whether a caller may do each of `accesses` (repository pulls, pushes and deletes, and `catalog`;
 * never `ping`, which the schemes answer themselves): one boolean per access, in order. `identity` is
 * `undefined` for an anonymous caller. The built-in schemes take one, or a rule table.
 */
export type Permissions = (identity: Identity | undefined, accesses: readonly Access[]) => readonly boolean[] | Promise<readonly boolean[]>;

export type RuleAction = 'pull' | 'push' | 'delete' | '*';

/**
 * One row of a rule table: who may do which actions on which repositories. A caller may do an action
 * when any row allows it. A row names its callers by `users`, `groups` or `anonymous`, at least one.
 */
export interface Rule {
  /** Repository globs: `*` matches within one path component, `**` across components (`team/**`, `**` for all). */
  repositories: string | readonly string[];
  /** User names (`identity.name`); `'*'` is any authenticated user. */
  users?: string | readonly string[];
  /** Group names, matched against `identity.groups` (a string array the identity function sets). */
  groups?: string | readonly string[];
  /** Whether the row also applies to anonymous callers (default: `false`). */
  anonymous?: boolean;
  /** `pull`, `push`, `delete`, or `'*'` for all three. */
  actions: RuleAction | readonly RuleAction[];
}

interface CompiledRule {
  repositories: RegExp[];
  users: Set<string>;
  groups: Set<string>;
  anonymous: boolean;
  actions: Set<string>;
}

const ACTIONS = new Set(['pull', 'push', 'delete', '*']);

/**
 * Permissions from a rule table, checked at creation (a `TypeError` names the bad row). The catalog is
 * open to any authenticated caller, and to anonymous ones when some row lets them pull; it then lists
 * only the repositories the caller may pull.
 *
 *     rules([
 *       { repositories: '**', groups: 'admins', actions: '*' },
 *       { repositories: 'team/**', users: ['alice', 'bob'], actions: ['pull', 'push'] },
 *       { repositories: 'public/**', anonymous: true, users: '*', actions: 'pull' },
 *     ])
 */
export function rules(table: readonly Rule[]): Permissions {
  if (!Array.isArray(table)) throw new TypeError('rules: expected an array of rules like { repositories: "team/**", users: ["alice"], actions: ["pull"] }.');
  const compiled = table.map(compile);
  const anonymousPull = compiled.some((r) => r.anonymous && (r.actions.has('pull') || r.actions.has('*')));
  const applies = (rule: CompiledRule, identity: Identity | undefined, groups: readonly unknown[]) => {
    if (identity === undefined) return rule.anonymous;
    return rule.users.has('*') || rule.users.has(identity.name) || groups.some((g) => typeof g === 'string' && rule.groups.has(g));
  };
  return (identity, accesses) => {
    const groups = Array.isArray(identity?.groups) ? (identity.groups as unknown[]) : [];
    const mine = compiled.filter((rule) => applies(rule, identity, groups));
    return accesses.map((access) => {
      if (access.action === 'ping') return identity !== undefined;
      if (access.action === 'catalog') return identity !== undefined || anonymousPull;
      return mine.some(
        (rule) => (rule.actions.has('*') || rule.actions.has(access.action)) && rule.repositories.some((glob) => glob.test(access.repository)),
      );
    });
  };
}

function compile(rule: Rule, index: number): CompiledRule {
  const fail = (message: string): never => {
    throw new TypeError(`rules: rule ${index} (${JSON.stringify(rule)}) ${message}`);
  };
  const list = (value: unknown, field: string): string[] => {
    if (value === undefined) return [];
    const values: unknown[] = Array.isArray(value) ? value : [value];
    if (!values.every((v) => typeof v === 'string' && v !== '')) fail(`needs \`${field}\` as a string or an array of non-empty strings.`);
    return values as string[];
  };
  if (typeof rule !== 'object' || (rule as unknown) === null) fail('is not an object.');
  const repositories = list(rule.repositories, 'repositories');
  if (repositories.length === 0) fail('names no `repositories` (use "**" for all).');
  const actions = list(rule.actions, 'actions');
  if (actions.length === 0 || !actions.every((a) => ACTIONS.has(a))) fail('needs `actions` from "pull", "push", "delete" and "*".');
  const users = list(rule.users, 'users');
  const groups = list(rule.groups, 'groups');
  if (rule.anonymous !== undefined && typeof rule.anonymous !== 'boolean') fail('needs `anonymous` as true or false.');
  const anonymous = rule.anonymous === true;
  if (users.length === 0 && groups.length === 0 && !anonymous) fail('names nobody: give `users`, `groups` or `anonymous: true`.');
  return { repositories: repositories.map(globToRegExp), users: new Set(users), groups: new Set(groups), anonymous, actions: new Set(actions) };
}
