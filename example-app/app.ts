import express from 'express';
import { allowAll, createRegistry, type Storage } from '../lib/index.js';

/** The host app: its own pages and routes, with the registry mounted beside them. */
export function createApp(store: { storage: Storage; describe: string }): express.Express {
  const app = express();
  app.disable('x-powered-by');

  // The registry. allowAll lets anyone push and delete: fine on 127.0.0.1, never on a shared network.
  const registry = createRegistry({
    storage: store.storage,
    authorize: allowAll,
  });
  app.use(registry); // first, so no body parser touches registry traffic

  // The host app's own middleware and routes live beside the registry.
  app.use(express.json());
  app.get('/', (_req, res) => {
    res.type('html').send(`<h1>berth example app</h1><p>The registry answers at <code>/v2/</code>; try <a href="/v2/_catalog">/v2/_catalog</a>.</p>`);
  });
  app.get('/healthz', (_req, res) => {
    res.json({ ok: true, store: store.describe });
  });
  return app;
}
