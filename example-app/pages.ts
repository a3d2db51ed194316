import type { Identity } from '../lib/index.js';

const escape = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const layout = (title: string, body: string) =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title>` +
  '<style>body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}code,pre{background:#f3f3f3;padding:.1rem .3rem}' +
  'pre{padding:.6rem;overflow:auto}label{display:block;margin:.5rem 0}.error{color:#a00}</style></head>' +
  `<body><h1>berth example app</h1>${body}</body></html>`;

/** The home page: who is signed in, and how registry clients log in as the same users. */
export function homePage(options: { mode: string; user: Identity | undefined; banner: string[] }): string {
  const { mode, user, banner } = options;
  const who =
    mode === 'open'
      ? '<p>Open mode: anyone may push, pull and delete (<code>BERTH_AUTH=open</code>).</p>'
      : user
        ? `<p>Signed in as <strong>${escape(user.name)}</strong>. This browser session also works on the registry: ` +
          'try <a href="/v2/_catalog">/v2/_catalog</a>.</p><form method="post" action="/logout"><button>Sign out</button></form>'
        : '<p><a href="/login">Sign in</a> to browse the registry as yourself.</p>';
  return layout(
    'berth example app',
    `${who}<p>The registry answers at <code>/v2/</code>. Registry clients log in with the same users:</p><pre>${banner.map(escape).join('\n')}</pre>`,
  );
}

/** The login form, with an error when the last try failed. */
export function loginPage(error?: string): string {
  return layout(
    'Sign in: berth example app',
    (error ? `<p class="error">${escape(error)}</p>` : '') +
      '<form method="post" action="/login"><label>User name <input name="username" autocomplete="username" required autofocus></label>' +
      '<label>Password <input name="password" type="password" autocomplete="current-password" required></label><button>Sign in</button></form>',
  );
}
