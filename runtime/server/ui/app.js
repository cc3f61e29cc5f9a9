// The UI's router: one page module per view, chosen by the path, so every view has a URL that
// can be shared and reloaded. Links marked `data-nav` change the view without a page load.
//
// A page module exports `render(root, params, query)`; it fills `root` and may return a
// function that stops what it started (SSE streams, timers) when the view changes.

import {NEEDS_TOKEN, SESSION, askEarly, del, get} from './api.js';
import {errorBox, fill, h, loading} from './dom.js';
import {executionReads, flowReads, flowsReads, pluginsReads} from './reads.js';

const none = () => ({});
// Path, page module, its parameters, the navigation section, what it reads first.
const ROUTES = [
  [/^\/flows\/?$/, () => import('./pages/flows.js'), () => ({}), 'flows', flowsReads],
  [/^\/flows\/([^/]+)\/([^/]+)\/run\/?$/, () => import('./pages/run.js'), (m) => ({namespace: m[1], id: m[2]}), 'flows', none],
  [/^\/flows\/([^/]+)\/([^/]+)\/?$/, () => import('./pages/flow.js'), (m) => ({namespace: m[1], id: m[2]}), 'flows', flowReads],
  [/^\/executions\/?$/, () => import('./pages/executions.js'), () => ({}), 'executions', none],
  [/^\/executions\/([^/]+)\/?$/, () => import('./pages/execution.js'), (m) => ({id: m[1]}), 'executions', executionReads],
  [/^\/plugins\/?$/, () => import('./pages/plugins.js'), () => ({}), 'plugins', pluginsReads],
  [/^\/plugins\/([^/]+)\/?$/, () => import('./pages/plugins.js'), (m) => ({name: m[1]}), 'plugins', pluginsReads],
];

const view = document.getElementById('view');
let stop = null;
let generation = 0;

async function show() {
  // The flows are the front page; its one URL is /flows.
  if (location.pathname === '/') history.replaceState(null, '', '/flows' + location.search + location.hash);
  const path = location.pathname;
  const query = new URLSearchParams(location.search);
  if (stop) {
    try { stop(); } catch { /* a page's cleanup must not block the next one */ }
    stop = null;
  }
  const mine = ++generation;
  const route = ROUTES.find(([pattern]) => pattern.test(path));
  for (const a of document.querySelectorAll('header nav a')) {
    a.toggleAttribute('aria-current', Boolean(route) && a.dataset.section === route[3]);
  }
  if (!route) {
    fill(view, errorBox({problem: {title: 'Not found', detail: `no page ${path}`}}));
    return;
  }
  const [pattern, load, paramsOf, , reads] = route;
  const params = Object.fromEntries(Object.entries(paramsOf(path.match(pattern))).map(([k, v]) => [k, decodeURIComponent(v)]));
  askEarly(Object.values(reads(params)));
  fill(view, loading());
  try {
    const page = await load();
    if (mine !== generation) return;
    const root = document.createElement('div');
    root.className = 'page';
    const cleanup = await page.render(root, params, query);
    if (mine !== generation) {
      if (typeof cleanup === 'function') cleanup();
      return;
    }
    fill(view, root);
    // When the page became usable, for the UI's benchmark (and anyone's profile).
    performance.mark('sluice:page');
    stop = typeof cleanup === 'function' ? cleanup : null;
    if (!location.hash) view.focus({preventScroll: true});
  } catch (error) {
    if (mine !== generation || error?.status === 401) return; // the login form is up
    fill(view, errorBox(error));
    console.error(error);
  }
}

/** In place of the page: the login form, then the page again. */
async function askForToken(event) {
  if (document.querySelector('form.login')) return;
  if (stop) {
    try { stop(); } catch { /* as in show */ }
    stop = null;
  }
  const mine = ++generation;
  const login = await import('./pages/login.js');
  if (mine !== generation) return;
  const root = document.createElement('div');
  root.className = 'page';
  login.render(root, event.detail.problem, () => { session(); show(); });
  fill(view, root);
}

/** The header's account corner: the token's name and a way out, when logged in. */
async function session() {
  const corner = document.getElementById('session');
  try {
    const me = await get(SESSION);
    if (!me.token) return fill(corner);
    fill(corner, h('span.muted', me.token), ' ',
      h('button.link', {type: 'button', onclick: async () => { await del(SESSION); fill(corner); show(); }}, 'Log out'));
  } catch {
    fill(corner);
  }
}

/** Goes to `href` within the UI (pushes a history entry). */
export function navigate(href, {replace = false} = {}) {
  if (replace) history.replaceState(null, '', href);
  else history.pushState(null, '', href);
  show();
}

document.addEventListener('click', (event) => {
  const a = event.target.closest('a[data-nav]');
  if (!a || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin) return;
  event.preventDefault();
  navigate(url.pathname + url.search + url.hash);
});
window.addEventListener('popstate', show);
window.addEventListener(NEEDS_TOKEN, askForToken);
show();
session();
