import { randomBytes } from 'node:crypto';
import express from 'express';
import session from 'express-session';
import { createPortal, createRegistry, RegistryError, type Storage } from '../lib/index.js';
import { authFromEnv, sessionUser } from './auth.js';
import { homePage, loginPage } from './pages.js';

/**
 * The host app: its own pages, login and session, with the registry mounted beside them. Auth comes
 * from BERTH_AUTH and friends (see docs/auth.md); the default, `open`, lets anyone push and delete.
 */
export function createApp(store: { storage: Storage; describe: string }, env: NodeJS.ProcessEnv = process.env): express.Express {
  const auth = authFromEnv(env);
  const app = express();
  app.disable('x-powered-by');

  if (auth.mode !== 'open') {
    // The host's own session: a signed cookie naming a server-side session (memory store: fine for an example,
    // lost on restart; a real app plugs in redis, a database, …). The registry reuses whoever logged in here.
    app.use(
      session({
        name: 'berth.sid',
        secret: env.BERTH_SESSION_SECRET ?? randomBytes(32).toString('hex'),
        resave: false,
        saveUninitialized: false,
        // Lax: a cross-site form or fetch cannot push or delete with this cookie
        cookie: { httpOnly: true, sameSite: 'lax', secure: env.BERTH_PUBLIC_URL?.startsWith('https:') === true, maxAge: 8 * 3600 * 1000 },
      }),
    );
    if (auth.tokenEndpoint) app.use('/token', auth.tokenEndpoint);
  }

  // The registry, after the session and before any body parser.
  const registry = createRegistry<express.Request>({ storage: store.storage, ...auth.registry });
  app.use(registry);
  // The artifact portal (docs/portal.md): pages, search API and Helm repository under the same auth and session.
  app.use('/artifacts', createPortal<express.Request>({ registry, authorize: auth.registry.authorize, ...(auth.login && { loginUrl: '/login' }) }));

  app.use(express.urlencoded({ extended: false, limit: '4kb' }));
  app.get('/', (req, res) => {
    res.type('html').send(homePage({ mode: auth.mode, user: sessionUser(req), banner: auth.banner(origin(req)) }));
  });
  if (auth.login) {
    const login = auth.login;
    app.get('/login', (_req, res) => res.type('html').send(loginPage()));
    app.post('/login', async (req, res, next) => {
      const { username, password } = (req.body ?? {}) as Record<string, unknown>;
      if (typeof username !== 'string' || typeof password !== 'string') return void res.status(400).type('html').send(loginPage('Give a user name and a password.'));
      try {
        const user = await login(req, username, password);
        if (!user) return void res.status(401).type('html').send(loginPage('Wrong user name or password.'));
        // a new session id at login, so a session id planted before cannot be ridden
        req.session.regenerate((err) => {
          if (err) return next(err);
          req.session.user = user;
          res.redirect(303, '/');
        });
      } catch (err) {
        if (err instanceof RegistryError && err.status === 429) {
          res.setHeader('Retry-After', err.headers['Retry-After'] ?? '60');
          return void res.status(429).type('html').send(loginPage(err.message));
        }
        next(err);
      }
    });
    app.post('/logout', (req, res, next) => {
      req.session.destroy((err) => (err ? next(err) : res.redirect(303, '/')));
    });
  }
  app.get('/healthz', (_req, res) => {
    res.json({ ok: true, store: store.describe, auth: auth.mode });
  });

  const host = env.HOST ?? '127.0.0.1';
  const start = env.BERTH_PUBLIC_URL ?? `http://${host.includes(':') ? `[${host}]` : host}:${env.PORT ?? 5000}`;
  for (const line of auth.banner(start)) console.log(line);
  if (auth.mode === 'open' && !/^(127\.|::1$|localhost$)/.test(host)) {
    console.warn(`warning: BERTH_AUTH=open on ${host}: anyone who can reach it may push and delete; set BERTH_AUTH=basic or token`);
  }
  return app;
}

function origin(req: express.Request): string {
  return `${req.protocol}://${req.headers.host ?? 'localhost'}`;
}
