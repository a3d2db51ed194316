import { fsStorage, memoryStorage, type Storage } from '../lib/index.js';

/** The store the example app serves, chosen by environment variables (see README). */
export function storeFromEnv(env: NodeJS.ProcessEnv = process.env): { storage: Storage; describe: string } {
  const kind = env.BERTH_STORE ?? 'fs';
  const dataDir = env.BERTH_DATA_DIR ?? './data';
  switch (kind) {
    case 'fs':
      return { storage: fsStorage({ root: dataDir }), describe: `fs store, data: ${dataDir}` };
    case 'memory':
      return { storage: memoryStorage(), describe: 'memory store' };
    default:
      throw new Error(`BERTH_STORE must be "fs" or "memory" (got "${kind}")`);
  }
}
