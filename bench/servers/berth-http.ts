/**
 * berth served the fast way (README, "Running berth for speed"): the compiled registry answers
 * /v2 straight from node:http, and anything else would go to the host app. Same store defaults
 * as the example app (fs with fsync, or GridFS with MONGODB_URI).
 *
 *   node berth-http.js <compiled lib/index.js> <port> fs <root>
 *   node berth-http.js <compiled lib/index.js> <port> mongo <uri> <database>
 */
import { createServer } from 'node:http';
import type * as Berth from '../../lib/index.js';

const [lib = '', port = '5000', kind = 'fs', where = './data', database = 'berth'] = process.argv.slice(2);
const berth = (await import(lib)) as typeof Berth;
// BERTH_FSYNC=0: the fs store without fsync (what Distribution does), for comparison
const storage = kind === 'mongo' ? berth.mongoStorage({ uri: where, dbName: database }) : berth.fsStorage({ root: where, fsync: process.env.BERTH_FSYNC !== '0' });
const registry = berth.createRegistry({ storage, authorize: berth.allowAll });
await registry.init();
const server = createServer((req, res) =>
  registry(req, res, () => {
    res.statusCode = 404;
    res.end();
  }),
);
server.requestTimeout = 0;
server.listen(Number(port), '127.0.0.1', () => console.log(`berth (node:http) on 127.0.0.1:${port}`));
process.on('SIGTERM', () => server.close(() => void registry.close().then(() => process.exit(0))));
