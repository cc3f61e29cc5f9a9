#!/usr/bin/python3
"""A real SMTP server for notify.email's tests: Debian's aiosmtpd on 127.0.0.1, three ports.

- starttls: plain until STARTTLS (required before anything else), then AUTH (PLAIN or LOGIN)
  required before MAIL;
- tls: TLS from the first byte (implicit TLS), AUTH required, only LOGIN offered;
- plain: no TLS and no AUTH (a local relay).

Every received message is written to OUT/<n>.eml (the bytes as received, after the SMTP
layer's dot-unstuffing) and OUT/<n>.json (the envelope, and the message as Python's own email
parser reads it: decoded headers, each part's type, name and decoded bytes in base64), so the
Rust tests check it with a parser that is not ours. Each connection is logged in
OUT/connections.log and each AUTH attempt in OUT/auth.log. A recipient whose local part starts
with `reject` is refused as Postfix refuses an unknown user; one starting with `greylist` is
greylisted (451 on its first try, accepted after). When all three listen, one line
`READY {"starttls": port, "tls": port, "plain": port}` goes to stdout.

Usage: smtp_server.py OUT CERT KEY USER PASSWORD
"""

import base64
import email
import email.policy
import json
import signal
import socket
import ssl
import sys
import threading
import warnings
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

OUT, CERT, KEY, USER, PASSWORD = sys.argv[1:6]
OUT = Path(OUT)
# The implicit-TLS server requires AUTH with aiosmtpd's STARTTLS check off: it is TLS already.
warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
LOCK = threading.Lock()
COUNT = [0]
GREYLISTED = set()


def append(name, line):
    with LOCK, open(OUT / name, "a") as f:
        f.write(line + "\n")


def parsed(content):
    """The message as the stdlib's parser reads it."""
    message = email.message_from_bytes(content, policy=email.policy.default)
    headers = {name: str(value) for name, value in message.items()}
    parts = []
    for part in message.walk():
        if part.is_multipart():
            parts.append({"contentType": part.get_content_type(), "multipart": True})
            continue
        payload = part.get_payload(decode=True) or b""
        parts.append({
            "contentType": part.get_content_type(),
            "charset": part.get_content_charset(),
            "filename": part.get_filename(),
            "disposition": part.get_content_disposition(),
            "transferEncoding": part.get("Content-Transfer-Encoding"),
            "base64": base64.b64encode(payload).decode(),
        })
    return {"headers": headers, "structure": message.get_content_type(), "parts": parts}


class Recorder:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@")[0]
        if local.startswith("reject"):
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown in local recipient table"
        # Greylisting, as postgrey does it: the first try of an address is told to come back.
        if local.startswith("greylist") and address not in GREYLISTED:
            GREYLISTED.add(address)
            return f"451 4.7.1 <{address}>: Recipient address rejected: Greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with LOCK:
            COUNT[0] += 1
            n = COUNT[0]
        content = envelope.original_content or envelope.content
        (OUT / f"{n}.eml").write_bytes(content)
        record = {
            "mailFrom": envelope.mail_from,
            "rcptTos": envelope.rcpt_tos,
            # session.ssl is set by STARTTLS only; an implicit-TLS transport says so itself.
            "tls": session.ssl is not None or server.transport.get_extra_info("sslcontext") is not None,
            "message": parsed(content),
        }
        (OUT / f"{n}.json.tmp").write_text(json.dumps(record))
        (OUT / f"{n}.json.tmp").rename(OUT / f"{n}.json")
        return f"250 2.0.0 Ok: queued as Q{n}"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode() \
        and auth_data.password == PASSWORD.encode()
    append("auth.log", f"{mechanism} {auth_data.login.decode(errors='replace') if isinstance(auth_data, LoginPassword) else '?'} {'ok' if ok else 'failed'}")
    # handled=False: aiosmtpd answers a failure itself (535), as a real server does.
    return AuthResult(success=ok, handled=False)


class RecordingSMTP(SMTP):
    def connection_made(self, transport):
        append("connections.log", f"{self.hostname} {transport.get_extra_info('peername')}")
        super().connection_made(transport)


class Server(Controller):
    def __init__(self, port, name, **smtp_kwargs):
        self.smtp_kwargs = smtp_kwargs
        self.name = name
        super().__init__(Recorder(), hostname="127.0.0.1", port=port, **self.ssl_kwarg())

    def ssl_kwarg(self):
        return {"ssl_context": self.smtp_kwargs.pop("ssl_context")} if "ssl_context" in self.smtp_kwargs else {}

    def factory(self):
        return RecordingSMTP(self.handler, hostname=self.name, **self.smtp_kwargs)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def context():
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(CERT, KEY)
    return ctx


def main():
    auth = {"authenticator": authenticator, "auth_required": True}
    servers = {
        "starttls": Server(free_port(), "starttls.test", tls_context=context(), require_starttls=True, **auth),
        "tls": Server(free_port(), "tls.test", ssl_context=context(), auth_exclude_mechanism=["PLAIN"],
                      auth_require_tls=False, **auth),
        "plain": Server(free_port(), "plain.test", auth_require_tls=False),
    }
    for server in servers.values():
        server.start()
    print("READY " + json.dumps({name: s.port for name, s in servers.items()}), flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    # Also end when the test process goes away (stdin closes).
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    done.wait()
    for server in servers.values():
        server.stop()


if __name__ == "__main__":
    main()
