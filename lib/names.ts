/** Grammars of distribution-spec v1.1.1 ("Pulling manifests", image-spec descriptor.md). */

const COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const NAME = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

/** Clients cap `host/name` at 255 characters; distribution caps the name itself at 255. */
export const MAX_NAME_LENGTH = 255;

/** True when `name` is a repository name the spec allows (lowercase, `/`-separated components). */
export function isRepositoryName(name: string): boolean {
  return name.length <= MAX_NAME_LENGTH && NAME.test(name);
}

/** True when `tag` matches `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`. */
export function isTag(tag: string): boolean {
  return TAG.test(tag);
}
