import type { Digest } from '../../digest.js';
import type { Descriptor, Manifest, ManifestInfo, ManifestStore } from '../types.js';
import { type Connection, type ManifestDoc, bytesOf, isDuplicateKey } from './connection.js';
import { listPage } from './pages.js';
import { makeKnown } from './repositories.js';

/** Everything of a manifest document but its bytes (and what only `get` returns). */
const INFO = { _id: 0, digest: 1, mediaType: 1, size: 1, createdAt: 1, artifactType: 1, subject: 1 } as const;

/**
 * Manifests as documents `{ repository, digest, …, body }`: the exact bytes pushed are the source of
 * truth; the fields beside them are what the core parsed out, kept for HEAD, listings and the
 * referrers index `{ repository, subject, digest }`.
 */
export function mongoManifests(connection: Connection): ManifestStore {
  return {
    async get(repository, digest) {
      const mongo = await connection.get();
      const doc = await mongo.manifests.findOne({ repository, digest });
      return doc ? manifestOf(doc) : undefined;
    },

    async stat(repository, digest) {
      const mongo = await connection.get();
      const doc = await mongo.manifests.findOne({ repository, digest }, { projection: INFO });
      return doc ? infoOf(doc) : undefined;
    },

    async put(repository, manifest) {
      const mongo = await connection.get();
      await makeKnown(mongo, repository);
      const doc: ManifestDoc = {
        repository,
        digest: manifest.digest,
        mediaType: manifest.mediaType,
        size: manifest.size,
        createdAt: new Date(),
        references: manifest.references,
        body: mongo.binary(manifest.body),
        ...(manifest.artifactType !== undefined && { artifactType: manifest.artifactType }),
        ...(manifest.subject !== undefined && { subject: manifest.subject }),
        ...(manifest.annotations !== undefined && { annotations: Object.entries(manifest.annotations).map(([key, value]) => ({ key, value })) }),
      };
      try {
        await mongo.manifests.insertOne(doc, { writeConcern: mongo.commit });
        return true;
      } catch (err) {
        if (isDuplicateKey(err)) return false; // stored already: same digest, same bytes
        throw err;
      }
    },

    async delete(repository, digest) {
      const mongo = await connection.get();
      const doc = await mongo.manifests.findOneAndDelete({ repository, digest }, { projection: INFO, writeConcern: mongo.commit });
      return doc ? infoOf(doc) : undefined;
    },

    async referrers(repository, subject, query) {
      if (query.n === 0) return [];
      const mongo = await connection.get();
      const cursor = mongo.manifests
        .find(
          {
            repository,
            subject,
            ...(query.artifactType !== undefined && { artifactType: query.artifactType }),
            ...(query.last !== undefined && { digest: { $gt: query.last } }),
          },
          { projection: { _id: 0, digest: 1, mediaType: 1, size: 1, artifactType: 1, annotations: 1 } },
        )
        .sort({ digest: 1 });
      if (query.n !== undefined) cursor.limit(query.n);
      const found: Descriptor[] = [];
      for await (const doc of cursor) {
        const d: Descriptor = { mediaType: doc.mediaType, digest: doc.digest as Digest, size: doc.size };
        if (doc.artifactType !== undefined) d.artifactType = doc.artifactType;
        if (doc.annotations !== undefined) d.annotations = annotationsOf(doc.annotations);
        found.push(d);
      }
      return found;
    },

    async list(repository, page) {
      return (await listPage((await connection.get()).manifests, { repository }, 'digest', page)) as Digest[];
    },

    async dependents(repository, digest, page) {
      // a multikey index on `references`: the manifest and its index entries are one document, written at once
      return (await listPage((await connection.get()).manifests, { repository, references: digest }, 'digest', page)) as Digest[];
    },
  };
}

function infoOf(doc: Pick<ManifestDoc, 'digest' | 'mediaType' | 'size' | 'createdAt' | 'artifactType' | 'subject'>): ManifestInfo {
  const info: ManifestInfo = { digest: doc.digest as Digest, mediaType: doc.mediaType, size: doc.size, createdAt: doc.createdAt };
  if (doc.artifactType !== undefined) info.artifactType = doc.artifactType;
  if (doc.subject !== undefined) info.subject = doc.subject as Digest;
  return info;
}

function manifestOf(doc: ManifestDoc): Manifest {
  const m: Manifest = { ...infoOf(doc), body: Buffer.from(bytesOf(doc.body)), references: doc.references as Digest[] };
  if (doc.annotations !== undefined) m.annotations = annotationsOf(doc.annotations);
  return m;
}

function annotationsOf(pairs: { key: string; value: string }[]): Record<string, string> {
  return Object.fromEntries(pairs.map((p) => [p.key, p.value]));
}
