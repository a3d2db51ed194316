import { createApp } from './app.js';
import { storeFromEnv } from './stores.js';

// Configuration (all optional): HOST, PORT, BERTH_STORE, BERTH_DATA_DIR (see README).
const host = process.env.HOST ?? '127.0.0.1';
const port = Number(process.env.PORT ?? 5000);
const store = storeFromEnv();
const app = createApp(store);

const server = app.listen(port, host, (error?: Error) => {
  // Express 5 calls back on failure too (e.g. the port is taken): say so and stop, never claim to be up
  if (error) {
    console.error(`berth example app could not listen on ${host}:${port}: ${error.message}`);
    process.exit(1);
  }
  console.log(`berth example app on http://${host.includes(':') ? `[${host}]` : host}:${port} (${store.describe})`);
});
// A large blob may take longer to arrive than Node's default 5 minutes; a stalled one is cut by
// the registry's own idle timeout, so a generous cap on the whole request is enough here.
server.requestTimeout = 2 * 60 * 60 * 1000;

for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => server.close(() => process.exit(0)));
