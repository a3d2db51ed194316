import { type Html, html } from '../html.js';
import { KIND_LABELS, type Kind } from '../kinds.js';

export function kindBadge(kind: Kind): Html {
  return html`<span class="badge ${kind}">${KIND_LABELS[kind]}</span>`;
}

/** A command with a copy button that appears only when script runs. */
export function command(label: string, text: string): Html {
  return html`<li><span class="muted">${label}</span> <code>${text}</code> <button type="button" class="copy secondary" data-copy="${text}" hidden aria-label="Copy: ${text}">Copy</button></li>`;
}

/** First/next links for cursor pages. */
export function pager(first: string | undefined, next: string | undefined): Html {
  if (!first && !next) return html``;
  return html`<nav class="pager" aria-label="Pages">${first ? html`<a href="${first}">First page</a>` : ''}${next ? html`<a href="${next}" rel="next">Next page</a>` : ''}</nav>`;
}

/** A `<select>` with its label. */
export function select(name: string, label: string, options: readonly (readonly [string, string])[], selected: string | undefined): Html {
  return html`<div><label for="f-${name}">${label}</label><select id="f-${name}" name="${name}">${options.map(
    ([value, text]) => html`<option value="${value}"${value === (selected ?? '') ? html` selected` : ''}>${text}</option>`,
  )}</select></div>`;
}
