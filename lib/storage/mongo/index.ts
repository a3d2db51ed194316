import type { Storage } from '../types.js';
import { mongoBlobs } from './blobs.js';
import { Connection } from './connection.js';
import { mongoLeases } from './leases.js';
import { mongoLinks } from './links.js';
import { mongoManifests } from './manifests.js';
import { type MongoStorageOptions, settingsOf } from './options.js';
import { mongoRepositories } from './repositories.js';
import { mongoTags } from './tags.js';
import { mongoUploads } from './uploads.js';

export type { MongoClientLike, MongoStorageOptions, WriteConcernLike } from './options.js';

/**
 * A store in MongoDB: blobs in a GridFS bucket (one file per digest, under a random id), every
 * other record in ordinary collections, and upload sessions in the database, so any number of app
 * instances can share one database and serve any request of any upload. Writes that make something
 * visible use `writeConcern` (journaled, majority by default). Needs the `mongodb` package (v7),
 * loaded at `init()`.
 *
 *     mongoStorage({ uri: 'mongodb://db1,db2,db3/?replicaSet=rs0', dbName: 'registry' })
 *     mongoStorage({ client: app.locals.mongoClient, dbName: 'registry' })
 */
export function mongoStorage(options: MongoStorageOptions): Storage {
  const connection = new Connection(settingsOf(options));
  const blobs = mongoBlobs(connection);
  return {
    blobs,
    uploads: mongoUploads(connection, blobs),
    manifests: mongoManifests(connection),
    tags: mongoTags(connection),
    links: mongoLinks(connection),
    repositories: mongoRepositories(connection),
    leases: mongoLeases(connection),
    async init() {
      await connection.get();
    },
    async close() {
      await connection.close();
    },
  };
}
