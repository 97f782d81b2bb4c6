"""A real HTTPS upstream on 127.0.0.1 for the tests of wellbeing.upstream.

A trustme CA issues the server certificate for a made-up host name; the server is a threaded
http.server with canned routes, including misbehaving ones (trickling, lying, redirecting).
"""

from __future__ import annotations

import socket
import socketserver
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import trustme

HOST = "media.tickets.test"
BODY = bytes(range(256)) * 64  # 16 KiB, every byte value
TRICKLE_INTERVAL = 0.1  # far below any socket timeout, so only a total deadline stops it


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    """A verifying client context that trusts only the test CA."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ca.configure_trust(context)
    return context


def server_context(ca: trustme.CA, name: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert(name).configure_cert(context)
    return context


@dataclass
class Upstream:
    port: int
    hits: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def url(self, path: str, host: str = HOST) -> str:
        return f"https://{host}:{self.port}{path}"

    @property
    def paths(self) -> list[str]:
        return [path for path, _ in self.hits]


class _Server(ThreadingHTTPServer):
    # Join handler threads on close, so no socket outlives the test (warnings are errors).
    daemon_threads = False
    block_on_close = True

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context
        self.stop = threading.Event()
        self.upstream = Upstream(port=0)
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream.port = self.server_address[1]

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup; the tests never touch DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name = "127.0.0.1"
        self.server_port = self.server_address[1]

    def get_request(self) -> tuple[socket.socket, object]:
        sock, address = self.socket.accept()
        # The handshake happens on first read, in the handler thread, not the accept loop.
        wrapped = self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return wrapped, address

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients hanging up mid-response are what several tests are about


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 5
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.server.upstream.hits.append((self.path, dict(self.headers.items())))
        route = ROUTES.get(self.path.partition("?")[0])
        if route is None:
            self._simple(404, b"not here")
        else:
            route(self)

    def _simple(self, status: int, body: bytes, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self._simple(302, b"", Location=location.format(port=self.server.upstream.port))

    def _chunked(self) -> None:
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for start in range(0, len(BODY), 1000):
            piece = BODY[start : start + 1000]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.wfile.write(b"0\r\n\r\n")

    def _declares_huge(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "10000000")
        self.end_headers()
        self.wfile.write(BODY[:10])
        # Stall: a client that tried to read the body would run into its deadline.
        self.rfile.read(1)

    def _truncated(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY[:100])
        self.close_connection = True

    def _trickle(self, data: bytes) -> None:
        for i in range(len(data)):
            if self.server.stop.wait(TRICKLE_INTERVAL):
                return
            self.wfile.write(data[i : i + 1])

    def _trickle_headers(self) -> None:
        self.wfile.write(b"HTTP/1.1 200 OK\r\n")
        self._trickle(b"X-Slow: " + b"a" * 1000 + b"\r\nContent-Length: 1\r\n\r\nx")

    def _trickle_body(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        self._trickle(b"x" * 1000)


ROUTES: dict[str, Callable[[_Handler], None]] = {
    "/image": lambda h: h._simple(200, BODY, Content_Type="image/png"),
    "/chunked": _Handler._chunked,
    "/redirect-relative": lambda h: h._redirect("/image"),
    "/redirect-absolute": lambda h: h._redirect("https://MEDIA.tickets.test:{port}/image"),
    "/redirect-other-host": lambda h: h._redirect("https://other.tickets.test:{port}/image"),
    "/redirect-scheme-relative": lambda h: h._redirect("//other.tickets.test:{port}/image"),
    "/redirect-http": lambda h: h._redirect("http://media.tickets.test:{port}/image"),
    "/redirect-other-port": lambda h: h._redirect("https://media.tickets.test:1/image"),
    "/redirect-metadata": lambda h: h._redirect("https://169.254.169.254/latest/meta-data/"),
    "/redirect-garbage": lambda h: h._redirect("https://[::1/image"),
    "/loop": lambda h: h._redirect("/loop"),
    "/declares-huge": _Handler._declares_huge,
    "/truncated": _Handler._truncated,
    "/gzip": lambda h: h._simple(200, BODY, Content_Encoding="gzip"),
    "/trickle-headers": _Handler._trickle_headers,
    "/trickle-body": _Handler._trickle_body,
}


@contextmanager
def serve(context: ssl.SSLContext) -> Iterator[Upstream]:
    """Run the upstream until the block ends, then stop it and join every thread."""
    server = _Server(context)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.start()
    try:
        yield server.upstream
    finally:
        server.stop.set()
        server.shutdown()
        thread.join()
        server.server_close()
