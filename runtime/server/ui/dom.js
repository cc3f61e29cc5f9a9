// Building the page: elements from tags, attributes and children, never from HTML strings, so
// nothing a flow, a log line or an API answer contains is ever parsed as markup.

/** h('a.link', {href: '/flows'}, 'Flows') → <a class="link" href="/flows">Flows</a> */
export function h(tag, attrs, ...children) {
  const [name, ...classes] = tag.split('.');
  const el = document.createElement(name || 'div');
  if (classes.length) el.className = classes.join(' ');
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'style' && typeof value === 'object') Object.assign(el.style, value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces what `el` holds. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** An SVG element (the topology and the Gantt chart). */
export function svg(tag, attrs, ...children) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value !== undefined && value !== null) el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

// States: a colour and an icon, so a state never reads by colour alone.
const ICONS = {
  CREATED: '○', QUEUED: '◷', RUNNING: '▶', PAUSED: '⏸', RETRYING: '↻', KILLING: '✕',
  SUCCESS: '✓', WARNING: '!', FAILED: '✗', KILLED: '■', CANCELLED: '⊘', SKIPPED: '»',
};

export function stateBadge(state) {
  const name = state || 'UNKNOWN';
  return h(`span.state.state-${name.toLowerCase()}`, {title: name},
    h('span.icon', {'aria-hidden': 'true'}, ICONS[name] || '?'), ' ', name);
}

export const TERMINAL = new Set(['SUCCESS', 'WARNING', 'FAILED', 'KILLED', 'CANCELLED']);

/** `1.2 s`, `340 ms`, `2 min 5 s`. */
export function duration(ms) {
  if (ms === null || ms === undefined) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60000);
  return `${minutes} min ${Math.round((ms % 60000) / 1000)} s`;
}

/** A local date and time, with the exact RFC 3339 value in its tooltip. */
export function time(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  return h('time', {datetime: iso, title: iso}, date.toLocaleString());
}

/** A link that the router follows without a page load. */
export function link(href, ...children) {
  return h('a', {href, 'data-nav': true}, ...children);
}

/** An API error as a message (a problem document's title and detail), never a blank page. */
export function errorBox(error) {
  const problem = error && error.problem;
  return h('div.error', {role: 'alert'},
    h('strong', problem ? problem.title : 'Error'), ' ',
    problem ? problem.detail || '' : String(error && error.message || error));
}

export function loading() {
  return h('p.muted', {role: 'status'}, 'Loading…');
}

/** Loads a page's own stylesheet once, by its path (from `import.meta.url`, so under the UI's versioned prefix). */
export function useStyle(href) {
  if (!document.querySelector(`link[rel="stylesheet"][href="${href}"]`)) {
    document.head.append(h('link', {rel: 'stylesheet', href}));
  }
}
