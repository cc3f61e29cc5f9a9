"""shop: the small HTTP service sluice's CI/CD example builds, tests and deploys.

Standard library only. Environment: PORT (default 8080), VERSION (default "dev").

    GET /            shop <VERSION>
    GET /?item=<n>   shop <VERSION>: item <n> costs <price>
    GET /healthz     ok
    GET /metrics     Prometheus text format: shop_http_requests_total{code="..."}
"""

import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

TEXT = "text/plain; charset=utf-8"
METRICS = "text/plain; version=0.0.4"
# Probes and scrapes would drown the traffic the counter is about.
UNCOUNTED = {"/healthz", "/metrics"}


def price_of(item):
    """The price of item number `item`, in cents."""
    return 250 + 75 * item


def format_price(cents):
    return f"{cents // 100}.{cents % 100:02d}"


def parse_item(values):
    """The item number of a query's `item` values, or None unless it is one non-negative integer."""
    if len(values) != 1 or not (values[0].isascii() and values[0].isdigit()):
        return None
    try:
        return int(values[0])
    except ValueError:  # longer than Python's int conversion limit
        return None


class Metrics:
    """Requests answered, by status code; shared by the server's handler threads."""

    def __init__(self):
        self._lock = threading.Lock()
        self._by_code = {}

    def count(self, code):
        with self._lock:
            self._by_code[code] = self._by_code.get(code, 0) + 1

    def render(self):
        with self._lock:
            counts = sorted(self._by_code.items())
        lines = [
            "# HELP shop_http_requests_total HTTP requests answered, by status code (not /healthz or /metrics).",
            "# TYPE shop_http_requests_total counter",
        ]
        lines += [f'shop_http_requests_total{{code="{code}"}} {n}' for code, n in counts]
        return "\n".join(lines) + "\n"


class Handler(BaseHTTPRequestHandler):
    def version_string(self):  # the Server header: no Python version
        return "shop"

    def do_GET(self):
        url = urlsplit(self.path)
        try:
            status, body, content_type = self.route(url.path, parse_qs(url.query, keep_blank_values=True))
        except Exception as exc:
            print(f"shop: 500 on GET {self.path}: {type(exc).__name__}: {exc}", file=sys.stderr)
            status, body, content_type = 500, "internal error\n", TEXT
        if url.path not in UNCOUNTED:
            self.server.metrics.count(status)
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def route(self, path, query):
        version = self.server.version
        if path == "/healthz":
            return 200, "ok\n", TEXT
        if path == "/metrics":
            return 200, self.server.metrics.render(), METRICS
        if path != "/":
            return 404, "not found\n", TEXT
        if "item" not in query:
            return 200, f"shop {version}\n", TEXT
        item = parse_item(query["item"])
        if item is None:
            return 400, "item must be a non-negative integer\n", TEXT
        return 200, f"shop {version}: item {item} costs {format_price(price_of(item))}\n", TEXT

    def log_message(self, format, *args):
        pass  # one line per request would drown the logs; /metrics counts them


def make_server(port, version):
    """A server on all interfaces at `port` (0: any free port), not yet serving."""
    server = ThreadingHTTPServer(("", port), Handler)
    server.version = version
    server.metrics = Metrics()
    return server


def main():
    version = os.environ.get("VERSION", "dev")
    server = make_server(int(os.environ.get("PORT", "8080")), version)

    # As PID 1 in a container, SIGTERM does nothing unless handled. shutdown() waits for
    # serve_forever() to return, which runs in this thread: call it from another one.
    def stop(signum, frame):
        threading.Thread(target=server.shutdown).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"shop {version} listening on :{server.server_port}", flush=True)
    with server:
        server.serve_forever()


if __name__ == "__main__":
    main()
