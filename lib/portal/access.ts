import { type Access, type Authorize, type Identity, grants } from '../auth.js';
import type { RegistryRequest } from '../http.js';

/** The registry's decision on a set of accesses, as the portal uses it. */
export interface Answer {
  identity?: Identity;
  /** Credentials were presented and are wrong. */
  invalid: boolean;
  granted: boolean[];
}

/** Questions the most accesses asked in one call of the hook (the catalog asks at most 1000 as well). */
export const BATCH = 1000;

/**
 * Asks the host's `authorize` hook, exactly as the registry does: once per question, every access
 * of the question at once, same request object. The portal never decides on its own.
 */
export class Gate {
  readonly #authorize: Authorize;

  constructor(authorize: Authorize) {
    this.#authorize = authorize;
  }

  async ask(req: RegistryRequest, accesses: readonly Access[]): Promise<Answer> {
    const decision = await this.#authorize(req, accesses);
    const invalid = decision.invalid === true;
    const granted = invalid ? accesses.map(() => false) : grants(decision, accesses.length);
    return { ...(decision.identity !== undefined && { identity: decision.identity }), invalid, granted };
  }

  /** Which of `names` the caller may pull, asking in batches of {@link BATCH} (at least once, to learn who is asking). */
  async pullable(req: RegistryRequest, names: readonly string[]): Promise<Answer> {
    if (names.length === 0) {
      const answer = await this.ask(req, [{ action: 'catalog' }]);
      return { ...answer, granted: [] };
    }
    const granted: boolean[] = [];
    let identity: Identity | undefined;
    let invalid = false;
    for (let i = 0; i < names.length; i += BATCH) {
      const batch = names.slice(i, i + BATCH);
      const answer = await this.ask(req, batch.map((repository) => ({ action: 'pull', repository }) as const));
      identity ??= answer.identity;
      invalid ||= answer.invalid;
      granted.push(...answer.granted);
    }
    return { ...(identity && { identity }), invalid, granted };
  }
}
