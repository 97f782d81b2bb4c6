"""Real receivers for alert delivery tests: an SMTP server (aiosmtpd) that keeps what it is
sent, and an HTTP webhook receiver (http.server in a thread) that can be told to fail, or to
hold a request until released. Both bind to 127.0.0.1 on a free port and shut down cleanly."""

from __future__ import annotations

import json
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


def free_port() -> int:
    """A port nothing listens on (bound and released at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    message: Message

    @property
    def body(self) -> str:
        payload = self.message.get_payload(decode=True)
        assert isinstance(payload, bytes)
        return payload.decode(self.message.get_content_charset() or "utf-8")


@dataclass
class SmtpSink:
    """The aiosmtpd handler: keeps every accepted envelope, parsed."""

    port: int = 0
    mails: list[Mail] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        mail = Mail(str(envelope.mail_from), list(envelope.rcpt_tos), message_from_bytes(raw))
        with self.lock:
            self.mails.append(mail)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Mail]:
        with self.lock:
            return [m for m in self.mails if address in m.rcpt_tos]


class Authenticator:
    def __init__(self, sink: SmtpSink, username: str, password: str) -> None:
        self.sink = sink
        self.username = username
        self.password = password

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword):
            user, password = data.login.decode(), data.password.decode()
            if (user, password) == (self.username, self.password):
                self.sink.logins.append(user)
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


@contextmanager
def smtp_server(**kwargs: Any) -> Iterator[SmtpSink]:
    """A running aiosmtpd on 127.0.0.1; kwargs go to aiosmtpd's SMTP (TLS, auth)."""
    sink = SmtpSink()
    auth = kwargs.pop("login", None)
    if auth is not None:
        kwargs["authenticator"] = Authenticator(sink, *auth)
    controller = Controller(
        sink,
        hostname="127.0.0.1",
        port=free_port(),
        server_hostname="mail.test",
        ready_timeout=5,
        **kwargs,
    )
    controller.start()
    sink.port = controller.port
    try:
        yield sink
    finally:
        controller.stop()


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class _Server(ThreadingHTTPServer):
    # Join handler threads on close, so no socket outlives the test (warnings are errors).
    daemon_threads = False
    block_on_close = True

    def __init__(self) -> None:
        self.hits: list[Hit] = []
        self.failures_left = 0
        self.status = 500
        self.hold: threading.Event | None = None
        self.delay = 0.0
        self.arrived = threading.Event()
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup; the tests never touch DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name = "127.0.0.1"
        self.server_port = self.server_address[1]

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that timed out and hung up is what one test is about


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        srv = self.server
        with srv.lock:
            srv.hits.append(Hit(self.path, dict(self.headers.items()), body))
            failing = srv.failures_left > 0
            if failing:
                srv.failures_left -= 1
        srv.arrived.set()
        if srv.hold is not None:
            srv.hold.wait(timeout=10)
        if srv.delay:
            time.sleep(srv.delay)
        status = srv.status if failing else 200
        reply = b"error" if failing else b"ok"
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(reply)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Webhook:
    """Handle on a running receiver: its URL, what it got, and how it should misbehave."""

    def __init__(self, server: _Server) -> None:
        self._server = server

    def url(self, path: str = "/hooks/lead") -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    @property
    def hits(self) -> list[Hit]:
        with self._server.lock:
            return list(self._server.hits)

    def fail_next(self, count: int, status: int = 500) -> None:
        with self._server.lock:
            self._server.failures_left = count
            self._server.status = status

    def hold_requests(self) -> threading.Event:
        """Make requests wait until the returned event is set (or 10 s pass)."""
        self._server.hold = threading.Event()
        return self._server.hold

    def slow_down(self, seconds: float) -> None:
        self._server.delay = seconds

    def wait_for_request(self, timeout: float = 5) -> bool:
        return self._server.arrived.wait(timeout)


@contextmanager
def webhook_receiver() -> Iterator[Webhook]:
    server = _Server()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield Webhook(server)
    finally:
        if server.hold is not None:
            server.hold.set()
        server.shutdown()
        server.server_close()
        thread.join()


def server_tls_context(ca: Any, name: str = "127.0.0.1") -> ssl.SSLContext:
    """A server context with a certificate from the trustme CA `ca` for `name`."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert(name).configure_cert(context)
    return context
