import { Marked, type Tokens } from 'marked';
import { type Html, escapeHtml, html, safeUrl, trusted } from './html.js';

/** READMEs larger than this are shown as plain text: rendering cost stays bounded. */
const MAX_MARKDOWN = 512 * 1024;

/**
 * Markdown → HTML that cannot carry script, without an HTML sanitizer: marked escapes text, and the
 * renderer below escapes every raw HTML block and inline tag (shown as text), keeps only `http(s)`,
 * `mailto:` and in-page links, and turns images into links (no request leaves the page, and the
 * portal's Content-Security-Policy allows no remote images).
 */
const marked = new Marked({
  gfm: true,
  async: false,
  renderer: {
    html({ text }: Tokens.HTML | Tokens.Tag): string {
      return escapeHtml(text);
    },
    link({ href, title, tokens }: Tokens.Link): string {
      const text = this.parser.parseInline(tokens);
      const url = linkUrl(href);
      if (url === undefined) return text;
      const titled = title ? ` title="${escapeHtml(title)}"` : '';
      return `<a href="${escapeHtml(url)}"${titled} rel="nofollow noopener noreferrer">${text}</a>`;
    },
    image({ href, text }: Tokens.Image): string {
      const url = safeUrl(href);
      const label = `[image: ${escapeHtml(text || 'untitled')}]`;
      return url ? `<a href="${escapeHtml(url)}" rel="nofollow noopener noreferrer">${label}</a>` : label;
    },
    heading({ tokens, depth }: Tokens.Heading): string {
      // the page owns h1 and h2: README headings start at h3
      const level = Math.min(depth + 2, 6);
      return `<h${level}>${this.parser.parseInline(tokens)}</h${level}>\n`;
    },
  },
});

function linkUrl(href: string): string | undefined {
  if (/^#[\w-]*$/.test(href)) return href;
  if (/^mailto:[^\s"'<>]+$/i.test(href)) return href;
  return safeUrl(href);
}

/** A README (Markdown) rendered safely. */
export function renderMarkdown(source: string): Html {
  if (source.length > MAX_MARKDOWN) return html`<pre class="readme-text">${source}</pre>`;
  return trusted(marked.parse(source, { async: false }));
}
