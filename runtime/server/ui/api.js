// The API the pages read: JSON over fetch, RFC 9457 problem documents as errors, and the
// server's Server-Sent Events streams.

/** An error answer; `problem` is the problem document when the server sent one. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem ? `${problem.title}: ${problem.detail || ''}` : `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

/** Where the UI logs in and out. */
export const SESSION = '/api/v1/session';
/** The event a 401 answer raises on `window`, with the error as its detail. */
export const NEEDS_TOKEN = 'sluice:needs-token';

async function request(method, path, body, headers = {}) {
  const response = await fetch(path, {method, body, headers: {accept: 'application/json', ...headers}});
  const text = await response.text();
  let doc = null;
  if (text) {
    try { doc = JSON.parse(text); } catch { doc = text; }
  }
  if (!response.ok) {
    const error = new ApiError(response.status, typeof doc === 'object' ? doc : null);
    // Whichever page asked, the server wants a token: the router shows the login form.
    if (response.status === 401 && path !== SESSION) dispatchEvent(new CustomEvent(NEEDS_TOKEN, {detail: error}));
    throw error;
  }
  return doc;
}

/** A GET, or the answer of the same GET asked for early ([`early`]), which it takes. */
export function get(path) {
  const asked = early.get(path);
  early.delete(path);
  return asked && performance.now() - asked.at < EARLY_FOR_MS ? asked.answer : request('GET', path);
}

/** Answers asked for before their page wanted them, by path; each is taken once. */
const early = new Map();
/** An early answer older than this is not used (the page asks again). */
const EARLY_FOR_MS = 2000;

/** Asks for `paths` now, for a page about to `get` them; earlier unused ones are dropped. */
export function askEarly(paths) {
  early.clear();
  for (const path of paths) {
    const answer = request('GET', path);
    answer.catch(() => {}); // the page that takes it sees the failure; unused, it is no error
    early.set(path, {answer, at: performance.now()});
  }
}
export const post = (path, body, type = 'application/json') =>
  request('POST', path, typeof body === 'string' || body instanceof FormData ? body : JSON.stringify(body ?? {}),
    body instanceof FormData ? {} : {'content-type': type});
export const put = (path, body, type) => request('PUT', path, body, {'content-type': type});
export const del = (path) => request('DELETE', path);

/** `/api/v1/...` with each path segment encoded. */
export function api(...segments) {
  return '/api/v1/' + segments.map((s) => encodeURIComponent(s)).join('/');
}

/**
 * Follows an SSE stream: `handlers` maps event names to functions of the parsed data. The
 * browser's EventSource reconnects by itself with Last-Event-ID. Returns a function that stops.
 */
export function follow(path, handlers) {
  const source = new EventSource(path);
  for (const [event, handle] of Object.entries(handlers)) {
    if (event === 'error') continue;
    source.addEventListener(event, (e) => handle(JSON.parse(e.data), e));
  }
  if (handlers.error) source.onerror = handlers.error;
  return () => source.close();
}
