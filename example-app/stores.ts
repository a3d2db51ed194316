import { fsStorage, memoryStorage, mongoStorage, type Storage } from '../lib/index.js';

/**
 * The store the example app serves, chosen by environment variables (see README): `BERTH_STORE` is
 * `fs` (default), `memory` or `mongo`; with `MONGODB_URI` set and `BERTH_STORE` unset it is `mongo`.
 * The mongo store reads `MONGODB_URI`, `BERTH_MONGO_DB` (database, default `berth`) and
 * `BERTH_MONGO_BUCKET` (GridFS bucket and collection prefix, default `berth`).
 */
export function storeFromEnv(env: NodeJS.ProcessEnv = process.env): { storage: Storage; describe: string } {
  const kind = env.BERTH_STORE ?? (env.MONGODB_URI ? 'mongo' : 'fs');
  const dataDir = env.BERTH_DATA_DIR ?? './data';
  switch (kind) {
    case 'fs':
      return { storage: fsStorage({ root: dataDir }), describe: `fs store, data: ${dataDir}` };
    case 'memory':
      return { storage: memoryStorage(), describe: 'memory store' };
    case 'mongo': {
      const uri = env.MONGODB_URI;
      if (!uri) throw new Error('BERTH_STORE=mongo needs MONGODB_URI, e.g. mongodb://127.0.0.1:27017 (`bash scripts/mongo-server.sh start` starts a local one)');
      const dbName = env.BERTH_MONGO_DB ?? 'berth';
      const bucketName = env.BERTH_MONGO_BUCKET ?? 'berth';
      // never print a password that the connection string carries
      const where = uri.replace(/\/\/[^@/]*@/, '//…@');
      return { storage: mongoStorage({ uri, dbName, bucketName }), describe: `mongo store, ${where}, database ${dbName}, bucket ${bucketName}` };
    }
    default:
      throw new Error(`BERTH_STORE must be "fs", "memory" or "mongo" (got "${kind}")`);
  }
}
