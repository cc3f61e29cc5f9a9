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

async function request(method, path, body, headers = {}) {
  const response = await fetch(path, {method, body, headers: {accept: 'application/json', ...headers}});
  const text = await response.text();
  let doc = null;
  if (text) {
    try { doc = JSON.parse(text); } catch { doc = text; }
  }
  if (!response.ok) throw new ApiError(response.status, typeof doc === 'object' ? doc : null);
  return doc;
}

export const get = (path) => request('GET', path);
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
