/**
 * The portal's stylesheet and its one script. Colours are CSS variables (`--berth-*`) that a host
 * overrides with the `theme` option or its own stylesheet; the defaults meet WCAG AA contrast in
 * the light and the dark scheme.
 */
export const CSS = `:root {
  --berth-font: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  --berth-mono: ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace;
  --berth-bg: #ffffff;
  --berth-fg: #1b1f24;
  --berth-muted: #57606a;
  --berth-surface: #f6f8fa;
  --berth-border: #d0d7de;
  --berth-accent: #0b5cad;
  --berth-accent-fg: #ffffff;
  --berth-danger: #b42318;
  --berth-ok: #1a7f37;
  --berth-focus: #bf4b00;
  --berth-radius: 6px;
  --berth-width: 72rem;
  color-scheme: light dark;
}
@media (prefers-color-scheme: dark) {
  :root {
    --berth-bg: #0d1117;
    --berth-fg: #e6edf3;
    --berth-muted: #a1abb6;
    --berth-surface: #161b22;
    --berth-border: #3d444d;
    --berth-accent: #6cb6ff;
    --berth-accent-fg: #0d1117;
    --berth-danger: #ff7b72;
    --berth-ok: #56d364;
    --berth-focus: #ffa657;
  }
}
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { margin: 0; font: 16px/1.5 var(--berth-font); background: var(--berth-bg); color: var(--berth-fg); }
a { color: var(--berth-accent); }
a:hover { text-decoration-thickness: 2px; }
:focus-visible { outline: 3px solid var(--berth-focus); outline-offset: 2px; }
code, pre, kbd, .mono { font-family: var(--berth-mono); font-size: 0.9em; }
pre { background: var(--berth-surface); border: 1px solid var(--berth-border); border-radius: var(--berth-radius); padding: 0.75rem; overflow: auto; max-height: 40rem; }
.skip { position: absolute; left: -999px; }
.skip:focus { left: 1rem; top: 1rem; background: var(--berth-bg); padding: 0.5rem; z-index: 1; }
header.site { display: flex; flex-wrap: wrap; align-items: center; gap: 0.5rem 1.5rem; padding: 0.75rem max(1rem, calc((100% - var(--berth-width)) / 2)); border-bottom: 1px solid var(--berth-border); background: var(--berth-surface); }
header.site .brand { font-weight: 700; font-size: 1.15rem; color: var(--berth-fg); text-decoration: none; }
header.site nav ul { display: flex; gap: 1rem; list-style: none; margin: 0; padding: 0; }
header.site nav a[aria-current="page"] { font-weight: 700; }
header.site .who { margin-left: auto; color: var(--berth-muted); }
main { max-width: var(--berth-width); margin: 0 auto; padding: 1rem; }
footer { max-width: var(--berth-width); margin: 2rem auto; padding: 0 1rem; color: var(--berth-muted); font-size: 0.875rem; }
h1 { font-size: 1.6rem; margin: 0.5rem 0 1rem; word-break: break-word; }
h2 { font-size: 1.25rem; margin: 1.75rem 0 0.75rem; }
.muted { color: var(--berth-muted); }
.notice { border: 1px solid var(--berth-ok); border-left-width: 6px; padding: 0.5rem 0.75rem; border-radius: var(--berth-radius); }
.error { border: 1px solid var(--berth-danger); border-left-width: 6px; padding: 0.5rem 0.75rem; border-radius: var(--berth-radius); }
form.filters { display: flex; flex-wrap: wrap; gap: 0.75rem 1rem; align-items: end; padding: 0.75rem; border: 1px solid var(--berth-border); border-radius: var(--berth-radius); background: var(--berth-surface); }
label { display: block; font-weight: 600; font-size: 0.9rem; }
input, select, textarea { font: inherit; color: inherit; background: var(--berth-bg); border: 1px solid var(--berth-muted); border-radius: var(--berth-radius); padding: 0.35rem 0.5rem; }
fieldset { border: 1px solid var(--berth-border); border-radius: var(--berth-radius); margin: 0 0 1rem; }
fieldset input[type=radio] + label { font-weight: 400; display: inline-block; margin-right: 1rem; }
.field { margin-bottom: 0.9rem; }
.field input:not([type=radio]):not([type=file]) { width: min(100%, 32rem); }
.field .hint { color: var(--berth-muted); font-size: 0.875rem; margin: 0.2rem 0 0; }
button, .button { font: inherit; cursor: pointer; border: 1px solid var(--berth-accent); background: var(--berth-accent); color: var(--berth-accent-fg); border-radius: var(--berth-radius); padding: 0.35rem 0.9rem; text-decoration: none; display: inline-block; }
button.secondary { background: transparent; color: var(--berth-accent); }
button.danger, .button.danger { background: var(--berth-danger); border-color: var(--berth-danger); color: var(--berth-bg); }
table { border-collapse: collapse; width: 100%; margin: 0.5rem 0 1rem; }
caption { text-align: left; color: var(--berth-muted); padding: 0.25rem 0; }
th, td { text-align: left; padding: 0.45rem 0.6rem; border-bottom: 1px solid var(--berth-border); vertical-align: top; }
th { font-size: 0.875rem; color: var(--berth-muted); font-weight: 600; }
td.num, th.num { text-align: right; white-space: nowrap; }
.badge { display: inline-block; border: 1px solid var(--berth-border); border-radius: 999px; padding: 0 0.55rem; font-size: 0.8rem; margin: 0 0.25rem 0.25rem 0; white-space: nowrap; }
.badge.helm { border-color: var(--berth-accent); }
.pager { display: flex; gap: 1rem; align-items: center; }
.commands { list-style: none; padding: 0; margin: 0.25rem 0; }
.commands li { display: flex; gap: 0.5rem; align-items: center; margin: 0.25rem 0; flex-wrap: wrap; }
.commands code { background: var(--berth-surface); border: 1px solid var(--berth-border); border-radius: var(--berth-radius); padding: 0.15rem 0.4rem; word-break: break-all; }
.copy { padding: 0.05rem 0.5rem; font-size: 0.85rem; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 0.3rem 1rem; }
dl.meta dt { font-weight: 600; color: var(--berth-muted); }
dl.meta dd { margin: 0; word-break: break-word; }
.readme { border: 1px solid var(--berth-border); border-radius: var(--berth-radius); padding: 0 1rem; }
.readme img { max-width: 100%; }
ul.tree, ul.tree ul { list-style: none; padding-left: 1.25rem; border-left: 1px solid var(--berth-border); }
ul.tree li { margin: 0.3rem 0; }
.chart-head { display: flex; gap: 1rem; align-items: center; }
.chart-head img { width: 48px; height: 48px; object-fit: contain; }
.actions { display: flex; flex-wrap: wrap; gap: 0.5rem; align-items: end; }
.actions form { display: flex; gap: 0.5rem; align-items: end; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
`;

/** Progressive enhancement only: copy buttons appear when script runs; everything works without it. */
export const SCRIPT = `document.addEventListener('DOMContentLoaded', function () {
  var status = document.getElementById('copy-status');
  document.querySelectorAll('button[data-copy]').forEach(function (button) {
    if (!navigator.clipboard) return;
    button.hidden = false;
    button.addEventListener('click', function () {
      navigator.clipboard.writeText(button.getAttribute('data-copy')).then(function () {
        if (status) status.textContent = 'Copied: ' + button.getAttribute('data-copy');
        button.textContent = 'Copied';
        setTimeout(function () { button.textContent = 'Copy'; }, 1500);
      });
    });
  });
});
`;

/** The theme option as a stylesheet of `--berth-*` variables (values were checked at creation). */
export function themeCss(theme: Readonly<Record<string, string>>): string {
  const vars = Object.entries(theme).map(([k, v]) => `  --berth-${k}: ${v};`);
  return vars.length === 0 ? '' : `:root {\n${vars.join('\n')}\n}\n`;
}
