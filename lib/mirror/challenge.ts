/** One challenge of a `WWW-Authenticate` header: its scheme (lowercase) and parameters (names lowercase). */
export interface AuthChallenge {
  scheme: string;
  params: Record<string, string>;
}

const TOKEN = /[!#$%&'*+\-.^_`|~0-9A-Za-z]+/y;
const SPACE = /[ \t]*/y;

/**
 * Parses `WWW-Authenticate` (RFC 9110 §11.6.1) as registries send it: `Bearer realm="…",service="…",scope="…"`
 * or `Basic realm="…"`, possibly several challenges in one value. Quoted values may hold commas and
 * backslash escapes. What cannot be parsed ends the list; nothing throws.
 */
export function parseChallenges(header: string | readonly string[] | undefined): AuthChallenge[] {
  if (header === undefined) return [];
  const values = typeof header === 'string' ? [header] : header;
  return values.flatMap(parseOne);
}

function parseOne(text: string): AuthChallenge[] {
  const out: AuthChallenge[] = [];
  let i = 0;
  const token = (): string | undefined => {
    TOKEN.lastIndex = i;
    const m = TOKEN.exec(text);
    if (!m) return undefined;
    i = TOKEN.lastIndex;
    return m[0];
  };
  const space = () => {
    SPACE.lastIndex = i;
    SPACE.exec(text);
    i = SPACE.lastIndex;
  };
  const quoted = (): string | undefined => {
    let value = '';
    for (i++; i < text.length; i++) {
      const c = text[i];
      if (c === '\\') value += text[++i] ?? '';
      else if (c === '"') {
        i++;
        return value;
      } else value += c ?? '';
    }
    return undefined;
  };
  for (;;) {
    while (i < text.length && (text[i] === ',' || text[i] === ' ' || text[i] === '\t')) i++;
    if (i >= text.length) return out;
    const scheme = token();
    if (scheme === undefined) return out;
    const challenge: AuthChallenge = { scheme: scheme.toLowerCase(), params: {} };
    out.push(challenge);
    // parameters: name=value pairs separated by commas, until a token not followed by '=' starts the next challenge
    for (;;) {
      space();
      while (text[i] === ',') {
        i++;
        space();
      }
      const start = i;
      const name = token();
      if (name === undefined) break;
      space();
      if (text[i] !== '=') {
        i = start; // the next challenge's scheme
        break;
      }
      i++;
      space();
      const value = text[i] === '"' ? quoted() : token();
      if (value === undefined) return out;
      challenge.params[name.toLowerCase()] = value;
    }
  }
}
