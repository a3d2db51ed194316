import { createHmac, randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import bcrypt from 'bcryptjs';
import type { VerifyPassword } from './basic.js';

/** Right logins remembered, so Basic clients (which send the password with every request) pay bcrypt's cost once a while. */
const CACHE = { ttl: 5 * 60_000, size: 1000 } as const;

/**
 * A password check over an htpasswd file's text, bcrypt entries only (`htpasswd -B`, `$2y$`/`$2a$`/`$2b$`):
 * other formats (MD5 `$apr1$`, SHA-1, crypt, plain) are refused with a `TypeError` naming the line.
 * Right logins are remembered for five minutes under a keyed hash, never in clear.
 */
export function htpasswd(text: string): VerifyPassword {
  const users = parseHtpasswd(text);
  const key = randomBytes(32);
  const remembered = new Map<string, number>();
  // compared when the user is unknown, so a missing user takes as long as a wrong password (made on first use: it costs bcrypt's time)
  const cost = Number(/^\$2.\$(\d\d)\$/.exec(users.values().next().value ?? '')?.[1] ?? 10);
  let dummy: Promise<string> | undefined;
  return async (username, password) => {
    const id = createHmac('sha256', key).update(`${username}\0${password}`).digest('base64');
    const until = remembered.get(id);
    if (until !== undefined && until > Date.now()) return true;
    remembered.delete(id);
    const hash = users.get(username);
    const ok = (await bcrypt.compare(password, hash ?? (await (dummy ??= bcrypt.hash(randomBytes(16).toString('hex'), cost))))) && hash !== undefined;
    if (ok) {
      if (remembered.size >= CACHE.size) remembered.delete(remembered.keys().next().value as string);
      remembered.set(id, Date.now() + CACHE.ttl);
    }
    return ok;
  };
}

/**
 * {@link htpasswd} over a file, read again when it changes (checked at most once a second), so users
 * can be added without a restart. The first read happens now: a missing or malformed file fails at start-up.
 */
export async function htpasswdFile(path: string): Promise<VerifyPassword> {
  const load = async () => {
    const info = await stat(path);
    return { verify: htpasswd(await readFile(path, 'utf8')), version: `${info.mtimeMs}:${info.size}`, checked: Date.now() };
  };
  let current = await load();
  let reloading: Promise<void> | undefined;
  return async (username, password, req) => {
    if (Date.now() - current.checked > 1000) {
      reloading ??= (async () => {
        try {
          const info = await stat(path);
          if (`${info.mtimeMs}:${info.size}` !== current.version) current = await load();
          else current.checked = Date.now();
        } finally {
          reloading = undefined;
        }
      })();
      await reloading;
    }
    return current.verify(username, password, req);
  };
}

/** `user:hash` lines; blank lines and `#` comments are skipped. */
export function parseHtpasswd(text: string): Map<string, string> {
  const users = new Map<string, string>();
  text.split(/\r?\n/).forEach((line, index) => {
    if (line.trim() === '' || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    const user = line.slice(0, colon);
    const hash = line.slice(colon + 1).trim();
    if (colon <= 0) throw new TypeError(`htpasswd: line ${index + 1} is not user:hash.`);
    if (!/^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/.test(hash)) {
      throw new TypeError(`htpasswd: line ${index + 1} (user "${user}") is not a bcrypt hash; create entries with \`htpasswd -B\`.`);
    }
    users.set(user, hash);
  });
  return users;
}
