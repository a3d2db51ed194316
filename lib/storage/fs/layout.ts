import { createHash } from 'node:crypto';
import { resolve, sep } from 'node:path';
import type { Digest } from '../../digest.js';
import { isRepositoryName, isTag } from '../../names.js';

const SAFE_DIGEST = /^(sha256|sha512):([a-f0-9]{64}|[a-f0-9]{128})$/;
const SAFE_ID = /^[a-f0-9-]{36}$/;

/**
 * Where everything lives under the root of an fs store:
 *
 *     blobs/<alg>/<2 hex>/<hex>                                verified blob bytes
 *     uploads/<id>/{data,repository,hash}                      in-progress uploads (data's mtime = last activity)
 *     repositories/<name>/_manifests/<alg>/<hex>               a JSON header line, then the exact manifest bytes
 *     repositories/<name>/_tags/<tag>                          the digest the tag points at
 *     repositories/<name>/_layers/<alg>/<hex>                  empty: the blob is linked into the repository
 *     repositories/<name>/_referrers/<alg>/<hex>/<alg>-<hex>   the referrer's descriptor, as JSON
 *     repositories/<name>/_dependents/<alg>/<hex>/<alg>-<hex>  empty: that manifest references this digest
 *     repositories/<name>/_tagged/<alg>/<hex>/<tag>            empty: the tag (probably) points at this digest
 *     repositories/<name>/_pulled/<tag>                        empty; its mtime is the last recorded pull by the tag
 *     leases/<name>                                            holder and expiry of a lease, as JSON
 *     catalog/<name, with "/" written ",">                     empty: the repository is known
 *     links/<alg>/<hex>/<sha256 of name>                       the name: reverse links, for automatic mounts
 *     tmp/                                                     staging for atomic renames
 *
 * Every path is built from validated names, tags, digests and ids and re-checked to stay inside
 * the root. Repository components start with `[a-z0-9]`, so they never collide with the `_`
 * directories. File names stay short whatever the name's length: a catalog entry has the name's
 * length (at most 255), and reverse links are named by a hash.
 */
export class Layout {
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  /** Joins below root and refuses anything that would escape it. */
  inside(...parts: string[]): string {
    const path = resolve(this.root, ...parts);
    if (!path.startsWith(this.root + sep)) throw new Error(`fsStorage: refusing path outside root: ${path}`);
    return path;
  }

  digestParts(digest: Digest): [string, string] {
    const m = SAFE_DIGEST.exec(digest);
    if (!m) throw new Error(`fsStorage: invalid digest ${JSON.stringify(digest)}`);
    return [m[1] as string, m[2] as string];
  }

  blob(digest: Digest): string {
    const [alg, hex] = this.digestParts(digest);
    return this.inside('blobs', alg, hex.slice(0, 2), hex);
  }

  isUploadId(id: string): boolean {
    return SAFE_ID.test(id);
  }

  upload(id: string, ...rest: string[]): string {
    if (!SAFE_ID.test(id)) throw new Error(`fsStorage: invalid upload id ${JSON.stringify(id)}`);
    return this.inside('uploads', id, ...rest);
  }

  repository(name: string, ...rest: string[]): string {
    if (!isRepositoryName(name)) throw new Error(`fsStorage: invalid repository name ${JSON.stringify(name)}`);
    return this.inside('repositories', ...name.split('/'), ...rest);
  }

  manifest(name: string, digest: Digest): string {
    return this.repository(name, '_manifests', ...this.digestParts(digest));
  }

  tag(name: string, tag: string): string {
    if (!isTag(tag)) throw new Error(`fsStorage: invalid tag ${JSON.stringify(tag)}`);
    return this.repository(name, '_tags', tag);
  }

  layer(name: string, digest: Digest): string {
    return this.repository(name, '_layers', ...this.digestParts(digest));
  }

  referrers(name: string, subject: Digest): string {
    return this.repository(name, '_referrers', ...this.digestParts(subject));
  }

  referrer(name: string, subject: Digest, digest: Digest): string {
    return this.inside(this.referrers(name, subject), this.digestParts(digest).join('-'));
  }

  dependents(name: string, reference: Digest): string {
    return this.repository(name, '_dependents', ...this.digestParts(reference));
  }

  dependent(name: string, reference: Digest, digest: Digest): string {
    return this.inside(this.dependents(name, reference), this.digestParts(digest).join('-'));
  }

  tagged(name: string, digest: Digest): string {
    return this.repository(name, '_tagged', ...this.digestParts(digest));
  }

  taggedAs(name: string, digest: Digest, tag: string): string {
    if (!isTag(tag)) throw new Error(`fsStorage: invalid tag ${JSON.stringify(tag)}`);
    return this.inside(this.tagged(name, digest), tag);
  }

  pulled(name: string, tag: string): string {
    if (!isTag(tag)) throw new Error(`fsStorage: invalid tag ${JSON.stringify(tag)}`);
    return this.repository(name, '_pulled', tag);
  }

  lease(name: string): string {
    if (!/^[a-z0-9][a-z0-9._-]{0,63}$/.test(name)) throw new Error(`fsStorage: invalid lease name ${JSON.stringify(name)}`);
    return this.inside('leases', name);
  }

  catalogEntry(name: string): string {
    if (!isRepositoryName(name)) throw new Error(`fsStorage: invalid repository name ${JSON.stringify(name)}`);
    return this.inside('catalog', name.replaceAll('/', ','));
  }

  reverseLinks(digest: Digest): string {
    return this.inside('links', ...this.digestParts(digest));
  }

  reverseLink(digest: Digest, name: string): string {
    return this.inside(this.reverseLinks(digest), createHash('sha256').update(name).digest('hex').slice(0, 40));
  }
}

/** The directories holding one repository's own records (a nested repository's are elsewhere). */
export const RECORD_DIRECTORIES = ['_tags', '_tagged', '_pulled', '_manifests', '_referrers', '_dependents', '_layers'];

/** A `<alg>-<hex>` entry name back to a digest, when it is one. */
export function digestFromEntry(entry: string): Digest | undefined {
  const dash = entry.indexOf('-');
  return dash < 0 ? undefined : digestFrom(entry.slice(0, dash), entry.slice(dash + 1));
}

/** `<alg>-<hex>` or `<hex>` under `<alg>/` back to a digest, when it is one. */
export function digestFrom(alg: string, hex: string): Digest | undefined {
  const digest = `${alg}:${hex}`;
  return SAFE_DIGEST.test(digest) ? (digest as Digest) : undefined;
}

/** A catalog entry's file name back to the repository name. */
export function nameFromCatalog(entry: string): string | undefined {
  const name = entry.replaceAll(',', '/');
  return isRepositoryName(name) ? name : undefined;
}
