/** HTML that is already safe to insert: only {@link html} and {@link trusted} make one. */
export class Html {
  readonly value: string;
  constructor(value: string) {
    this.value = value;
  }
  toString(): string {
    return this.value;
  }
}

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for an HTML text node or a quoted attribute value. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);
}

/**
 * A template where every interpolation is escaped unless it is an {@link Html} already; arrays are
 * concatenated, and `undefined`, `null` and `false` render as nothing. Attributes must be quoted.
 */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0] ?? '';
  values.forEach((value, i) => {
    out += render(value) + (strings[i + 1] ?? '');
  });
  return new Html(out);
}

function render(value: unknown): string {
  if (value === undefined || value === null || value === false) return '';
  if (value instanceof Html) return value.value;
  if (Array.isArray(value)) return value.map(render).join('');
  if (typeof value === 'string') return escapeHtml(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return escapeHtml(JSON.stringify(value));
}

/** Marks a string the code produced itself (never user data) as safe HTML. */
export function trusted(value: string): Html {
  return new Html(value);
}

/** An `http:`/`https:` URL, or `undefined` for anything else (`javascript:`, `data:`, relative or malformed). */
export function safeUrl(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > 2048) return undefined;
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : undefined;
  } catch {
    return undefined;
  }
}

/** A `data:image/…;base64` URL (chart icons may be inline), which an `<img>` cannot run script from. */
export function safeImageData(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > 256 * 1024) return undefined;
  return /^data:image\/(?:png|gif|jpeg|webp|svg\+xml);base64,[A-Za-z0-9+/]+={0,2}$/.test(value) ? value : undefined;
}

/** A repository name as a URL path (its components are `[a-z0-9._-]`, but encode anyway). */
export function pathOf(name: string): string {
  return name.split('/').map(encodeURIComponent).join('/');
}

/** `12.3 MB`, in powers of 1000 like the CLIs show. */
export function formatSize(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = -1;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit] ?? 'TB'}`;
}

/** A machine-readable `<time>` with a short UTC text. */
export function time(date: Date | undefined): Html {
  if (!date || Number.isNaN(date.getTime())) return html`<span class="muted">unknown</span>`;
  const iso = date.toISOString();
  return html`<time datetime="${iso}" title="${iso}">${iso.slice(0, 16).replace('T', ' ')} UTC</time>`;
}

/** `sha256:0123456789ab` for tables; the full digest stays in the title and the link. */
export function shortDigest(digest: string): string {
  const colon = digest.indexOf(':');
  return digest.slice(0, colon + 13);
}
