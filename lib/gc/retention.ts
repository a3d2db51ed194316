import { globs } from '../glob.js';
import type { TagInfo } from '../storage/types.js';

/**
 * Which tags of the repositories matching `repositories` to keep. A tag goes when a `delete…`
 * condition holds for it (or, with only `keepLatest`, when it is not among the latest), unless
 * `keepTags` matches it or it is among the `keepLatest` most recently pushed.
 */
export interface RetentionRule {
  /** Repository globs: `*` within one path component, `**` across (`team/**`, `**` for all). */
  repositories: string | readonly string[];
  /** Keep this many most recently pushed (moved) tags, whatever else the rule says. */
  keepLatest?: number;
  /** Tag globs always kept, e.g. `['latest', 'v*', 'release-*']`. */
  keepTags?: string | readonly string[];
  /** Delete tags not pushed (moved) for this many milliseconds. */
  deleteOlderThan?: number;
  /** Delete tags not pulled for this many milliseconds (a tag never pulled counts from when it was pushed). */
  deleteNotPulledFor?: number;
}

export interface CompiledRetention {
  /** The rule for a repository: the first whose globs match it. */
  ruleFor(repository: string): RetentionRule | undefined;
}

export function compileRetention(rules: readonly RetentionRule[]): CompiledRetention {
  const fail = (i: number, message: string): never => {
    throw new TypeError(`createCollector: retention rule ${i}: ${message}`);
  };
  const compiled = rules.map((rule, i) => {
    if (typeof rule !== 'object' || (typeof rule.repositories !== 'string' && !Array.isArray(rule.repositories))) fail(i, 'needs `repositories`, a glob or a list of globs.');
    for (const key of ['keepLatest', 'deleteOlderThan', 'deleteNotPulledFor'] as const) {
      const value = rule[key];
      if (value !== undefined && (!Number.isSafeInteger(value) || value < 0)) fail(i, `\`${key}\` must be a non-negative integer (got ${JSON.stringify(value)}).`);
    }
    if (rule.keepLatest === undefined && rule.deleteOlderThan === undefined && rule.deleteNotPulledFor === undefined) {
      fail(i, 'deletes nothing: give `keepLatest`, `deleteOlderThan` or `deleteNotPulledFor`.');
    }
    return { rule, matches: globs(rule.repositories) };
  });
  return { ruleFor: (repository) => compiled.find((c) => c.matches(repository))?.rule };
}

/** The tags `rule` lets go, in name order. */
export function tagsToDelete(rule: RetentionRule, tags: readonly { tag: string; info: TagInfo }[], now: number): string[] {
  const kept = rule.keepTags === undefined ? () => false : globs(rule.keepTags);
  const latest = new Set(
    [...tags]
      .sort((a, b) => b.info.updatedAt.getTime() - a.info.updatedAt.getTime())
      .slice(0, rule.keepLatest ?? 0)
      .map((t) => t.tag),
  );
  const onlyLatest = rule.deleteOlderThan === undefined && rule.deleteNotPulledFor === undefined;
  return tags
    .filter(({ tag, info }) => {
      if (kept(tag) || latest.has(tag)) return false;
      if (onlyLatest) return true;
      const pushedAge = now - info.updatedAt.getTime();
      const pulledAge = now - (info.pulledAt ?? info.updatedAt).getTime();
      return (rule.deleteOlderThan !== undefined && pushedAge > rule.deleteOlderThan) || (rule.deleteNotPulledFor !== undefined && pulledAge > rule.deleteNotPulledFor);
    })
    .map((t) => t.tag)
    .sort();
}
