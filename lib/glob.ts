/**
 * Repository and tag globs, as the rule tables of auth, retention and webhooks write them:
 * `*` = any characters but `/`; `**` = any characters; everything else literal; anchored.
 */
export function globToRegExp(glob: string): RegExp {
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '*' && glob[i + 1] === '*') {
      source += '.*';
      i++;
    } else if (c === '*') {
      source += '[^/]*';
    } else {
      source += c.replace(/[.+?^${}()|[\]\\/-]/g, '\\$&');
    }
  }
  return new RegExp(`^${source}$`);
}

/** A matcher for one glob or a list of them (any matches). */
export function globs(patterns: string | readonly string[]): (value: string) => boolean {
  const compiled = (typeof patterns === 'string' ? [patterns] : patterns).map(globToRegExp);
  return (value) => compiled.some((re) => re.test(value));
}
