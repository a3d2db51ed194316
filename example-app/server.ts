import express from 'express';
import { allowAll, createRegistry } from '../lib/index.js';
import { storeFromEnv } from './stores.js';

// Configuration (all optional): PORT, BERTH_STORE (fs | memory), BERTH_DATA_DIR.
const port = Number(process.env.PORT ?? 5000);
const store = storeFromEnv();

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

const server = app.listen(port, (error?: Error) => {
  // Express 5 calls back on failure too (e.g. the port is taken): say so and stop, never claim to be up
  if (error) {
    console.error(`berth example app could not listen on port ${port}: ${error.message}`);
    process.exit(1);
  }
  console.log(`berth example app on http://127.0.0.1:${port} (${store.describe})`);
});
// Large blobs take longer than Node's default 5-minute request timeout.
server.requestTimeout = 0;

for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => server.close(() => process.exit(0)));
