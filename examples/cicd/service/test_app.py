import http.client
import os
import signal
import threading
import time

import pytest

import app


@pytest.fixture
def server():
    """The service at a free port on 127.0.0.1, serving from a thread."""
    srv = app.make_server(0, "1.2.3")
    thread = threading.Thread(target=srv.serve_forever, args=(0.01,), daemon=True)  # quick shutdown
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join()


def get(server, path):
    """(status, content type, body) of GET path."""
    conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=5)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type"), resp.read().decode()
    finally:
        conn.close()


def test_home(server):
    assert get(server, "/") == (200, "text/plain; charset=utf-8", "shop 1.2.3\n")


def test_item_price(server):
    assert get(server, "/?item=7")[::2] == (200, "shop 1.2.3: item 7 costs 7.75\n")
    assert get(server, "/?item=10")[::2] == (200, "shop 1.2.3: item 10 costs 10.00\n")


@pytest.mark.parametrize(
    "query", ["item=", "item=abc", "item=-1", "item=1.5", "item=%D9%A1", "item=1&item=2", "item=" + "9" * 5000]
)
def test_bad_item(server, query):
    status, _, body = get(server, "/?" + query)
    assert (status, body) == (400, "item must be a non-negative integer\n")


def test_healthz(server):
    assert get(server, "/healthz") == (200, "text/plain; charset=utf-8", "ok\n")


def test_not_found(server):
    assert get(server, "/nope")[0] == 404


def test_metrics_count_requests_by_code(server):
    for path in ["/", "/?item=1", "/?item=x", "/nope", "/healthz", "/metrics"]:
        get(server, path)
    status, content_type, body = get(server, "/metrics")
    assert (status, content_type) == (200, "text/plain; version=0.0.4")
    assert body.splitlines() == [
        "# HELP shop_http_requests_total HTTP requests answered, by status code (not /healthz or /metrics).",
        "# TYPE shop_http_requests_total counter",
        'shop_http_requests_total{code="200"} 2',
        'shop_http_requests_total{code="400"} 1',
        'shop_http_requests_total{code="404"} 1',
    ]


def test_a_failing_handler_answers_500(server, monkeypatch, capsys):
    def broken(item):
        raise RuntimeError("price list unavailable")

    monkeypatch.setattr(app, "price_of", broken)
    assert get(server, "/?item=1")[::2] == (500, "internal error\n")
    assert 'shop_http_requests_total{code="500"} 1' in get(server, "/metrics")[2]
    assert "RuntimeError: price list unavailable" in capsys.readouterr().err


@pytest.mark.parametrize("item, cents", [(1, 325), (2, 400), (7, 775), (10, 1000)])
def test_price_of(item, cents):
    assert app.price_of(item) == cents


def test_format_price():
    assert [app.format_price(c) for c in (5, 775, 1000)] == ["0.05", "7.75", "10.00"]


def test_main_serves_until_sigterm(monkeypatch, capsys):
    """main() in this (the main) thread; another one checks it answers, then sends SIGTERM."""
    monkeypatch.setenv("PORT", "0")
    monkeypatch.setenv("VERSION", "9.9")
    servers, real_make_server = [], app.make_server

    def make_server(port, version):
        servers.append(real_make_server(port, version))
        return servers[0]

    def probe_then_stop():
        while not servers:
            time.sleep(0.01)
        answers.append(get(servers[0], "/healthz"))
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(app, "make_server", make_server)
    answers = []
    previous = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    try:
        threading.Thread(target=probe_then_stop, daemon=True).start()
        app.main()
    finally:
        signal.signal(signal.SIGTERM, previous[0])
        signal.signal(signal.SIGINT, previous[1])
    assert answers == [(200, "text/plain; charset=utf-8", "ok\n")]
    assert capsys.readouterr().out == f"shop 9.9 listening on :{servers[0].server_port}\n"
