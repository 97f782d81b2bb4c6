"""Fetch an attachment that the ticketing system registered by URL instead of by bytes.

That fetch is an SSRF surface, so it goes only over https to allow-listed host names, only to
public addresses we resolved and vetted ourselves, within a byte cap and one total deadline.
"""

from __future__ import annotations

import functools
import http.client
import io
import ipaddress
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeAlias, cast
from urllib.parse import urljoin, urlsplit

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = ["UpstreamPolicy", "UpstreamRefused", "fetch", "is_public_address"]

RefusalCode = Literal[
    "bad_url",
    "scheme_not_allowed",
    "host_not_allowed",
    "address_not_allowed",
    "dns_failed",
    "connect_failed",
    "tls_failed",
    "redirect_refused",
    "http_status",
    "too_large",
    "timeout",
]

Resolver: TypeAlias = Callable[[str, int], list[str]]
IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CHUNK_BYTES = 64 * 1024
_MAX_URL_CHARS = 4096
# LDH labels only: anything else (percent signs, underscores, brackets) is not a host we
# would put in an allow-list, and refusing it early keeps parser differentials out.
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
# No top-level domain is numeric; resolvers (and browsers) read such names as IPv4 in
# decimal, octal, hex or short form, e.g. 2130706433, 0x7f.1, 127.1.
_NUMERIC_LABEL = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)")

_DENIED_V4 = tuple(
    ipaddress.IPv4Network(net)
    for net in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",  # shared address space (carrier-grade NAT); not is_private
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, home of cloud metadata services
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",  # multicast counts as is_global in Python 3.11
        "240.0.0.0/4",
    )
)
# Prefixes that carry or translate to an address we cannot see from here. Python counts
# several of them as global (64:ff9b::7f00:1 and 2002:7f00:1:: are loopback in disguise).
_DENIED_V6 = tuple(
    ipaddress.IPv6Network(net)
    for net in (
        "::/96",  # unspecified, loopback and the deprecated IPv4-compatible form
        "::ffff:0:0:0/96",  # IPv4-translated (SIIT)
        "64:ff9b::/96",  # NAT64 well-known prefix
        "64:ff9b:1::/48",  # NAT64 local-use prefix, may map onto private IPv4
        "100::/64",
        "2001::/32",  # Teredo
        "2001:db8::/32",
        "2002::/16",  # 6to4
        "fc00::/7",  # unique local
        "fe80::/10",
        "fec0::/10",  # site-local (deprecated; is_global in Python 3.11)
        "ff00::/8",
    )
)


class UpstreamRefused(Exception):
    """An upstream fetch was refused or failed; `reason` is safe to show to the API client.

    Reasons never carry resolved addresses or raw socket errors (they could map our internal
    network); the underlying exception, if any, is chained as `__cause__` for the logs.
    A response that is not valid HTTP, or is cut short, is reported as 'http_status'.
    """

    def __init__(self, code: RefusalCode, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code: RefusalCode = code
        self.reason = reason


@dataclass(frozen=True)
class UpstreamPolicy:
    allowed_hosts: frozenset[str]  # exact lowercase ASCII (IDNA) host names
    max_bytes: int
    timeout_seconds: float  # total wall time for the whole fetch, redirects included
    allow_private: bool = False  # tests only: permit loopback and private addresses
    max_redirects: int = 3  # same host, still https; anything else is refused

    def __post_init__(self) -> None:
        if self.max_bytes <= 0 or self.timeout_seconds <= 0 or self.max_redirects < 0:
            raise ValueError("max_bytes and timeout_seconds must be > 0, max_redirects >= 0")


@dataclass(frozen=True)
class _Target:
    host: str
    port: int
    request_target: str

    @property
    def host_header(self) -> str:
        return self.host if self.port == 443 else f"{self.host}:{self.port}"


def fetch(
    url: str,
    policy: UpstreamPolicy,
    *,
    ssl_context: ssl.SSLContext | None = None,
    resolver: Resolver | None = None,
) -> bytes:
    """Return the body of `url`, or raise UpstreamRefused; never another network exception."""
    context = ssl_context if ssl_context is not None else _default_context()
    if context.verify_mode != ssl.CERT_REQUIRED or not context.check_hostname:
        raise ValueError("ssl_context must verify certificates and host names")
    deadline = time.monotonic() + policy.timeout_seconds
    resolve = resolver if resolver is not None else _system_resolver

    target = _parse(url, policy)
    redirects = 0
    while True:
        status, location, body = _fetch_once(target, policy, context, resolve, deadline)
        if status not in _REDIRECT_STATUSES:
            return body
        if location is None:
            raise UpstreamRefused("redirect_refused", "upstream redirected without a Location")
        redirects += 1
        if redirects > policy.max_redirects:
            raise UpstreamRefused("redirect_refused", "upstream redirected too many times")
        try:
            url = urljoin(url, location)
            next_target = _parse(url, policy)
        except ValueError as exc:
            raise UpstreamRefused("redirect_refused", "upstream redirected to a bad URL") from exc
        except UpstreamRefused as exc:
            raise UpstreamRefused(
                "redirect_refused", f"upstream redirected to a refused URL ({exc.reason})"
            ) from exc
        if (next_target.host, next_target.port) != (target.host, target.port):
            raise UpstreamRefused("redirect_refused", "upstream redirected to another host")
        target = next_target


def is_public_address(address: IPAddress) -> bool:
    """True if `address` is globally routable and not a disguise for a non-public one."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            # The socket layer connects to the embedded IPv4 address: judge that one.
            return is_public_address(address.ipv4_mapped)
        if address.scope_id or any(address in net for net in _DENIED_V6):
            return False
        site_local = address.is_site_local
    else:
        if any(address in net for net in _DENIED_V4):
            return False
        site_local = False
    return address.is_global and not (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or site_local
    )


def _parse(url: str, policy: UpstreamPolicy) -> _Target:
    if len(url) > _MAX_URL_CHARS:
        raise UpstreamRefused("bad_url", "URL is too long")
    # urlsplit silently drops tabs and newlines and treats backslashes unlike browsers do;
    # refusing them avoids parsing one URL two ways.
    if any(ch <= " " or ch == "\x7f" or ch == "\\" for ch in url):
        raise UpstreamRefused("bad_url", "URL contains whitespace, control or backslash characters")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise UpstreamRefused("bad_url", "URL cannot be parsed") from exc
    if parts.scheme != "https":
        raise UpstreamRefused("scheme_not_allowed", "only https URLs can be fetched")
    netloc = parts.netloc
    if not netloc:
        raise UpstreamRefused("bad_url", "URL has no host")
    if "@" in netloc:
        raise UpstreamRefused("bad_url", "URL must not carry a user name or password")
    if netloc.startswith("["):
        raise UpstreamRefused("host_not_allowed", "IP address hosts are not allowed")
    raw_host, has_port, port_text = netloc.partition(":")
    port = 443
    if has_port:
        if not (port_text.isascii() and port_text.isdigit()) or not 0 < int(port_text) < 65536:
            raise UpstreamRefused("bad_url", "URL has an invalid port")
        port = int(port_text)
    host = _normalise_host(raw_host)
    if host not in policy.allowed_hosts:
        raise UpstreamRefused("host_not_allowed", f"host {host} is not in the allow-list")

    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    if not target.isascii() or not target.startswith("/"):
        raise UpstreamRefused("bad_url", "URL path must be ASCII (percent-encoded)")
    return _Target(host=host, port=port, request_target=target)


def _normalise_host(raw_host: str) -> str:
    try:
        # The codec lowercases and maps look-alike dots and full-width characters, so the
        # IP-literal checks below see what a resolver would see.
        host = raw_host.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise UpstreamRefused("host_not_allowed", "host name is not a valid domain") from exc
    if host.endswith("."):
        # A trailing dot names the same host but dodges exact matching and certificate
        # checks in some stacks; nobody registers attachments that way.
        raise UpstreamRefused("host_not_allowed", "host name must not end with a dot")
    if _NUMERIC_LABEL.fullmatch(host.rsplit(".", 1)[-1]) or _parses_as_ip(host):
        raise UpstreamRefused("host_not_allowed", "IP address hosts are not allowed")
    if not _HOSTNAME.fullmatch(host) or len(host) > 253:
        raise UpstreamRefused("host_not_allowed", "host name is not a valid domain")
    return host


def _parses_as_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return True
    try:
        socket.inet_aton(host)  # the permissive parser resolvers use
    except OSError:
        return False
    return True


def _fetch_once(
    target: _Target,
    policy: UpstreamPolicy,
    context: ssl.SSLContext,
    resolve: Resolver,
    deadline: float,
) -> tuple[int, str | None, bytes]:
    addresses = _resolve(target, policy, resolve, deadline)
    sock = _connect(target, addresses, policy, deadline)
    try:
        tls = _handshake(sock, target, context, deadline)
    except BaseException:
        sock.close()
        raise
    with tls:
        return _exchange(tls, target, policy, deadline)


def _resolve(
    target: _Target, policy: UpstreamPolicy, resolve: Resolver, deadline: float
) -> list[IPAddress]:
    # getaddrinfo has no timeout of its own; a worker thread lets the deadline cover DNS.
    # A lookup that overruns is abandoned (daemon thread) rather than waited for.
    outcome: list[list[str] | Exception] = []

    def run() -> None:
        try:
            outcome.append(resolve(target.host, target.port))
        except Exception as exc:
            outcome.append(exc)

    timeout = deadline - time.monotonic()
    if timeout > 0:
        worker = threading.Thread(target=run, name="upstream-resolve", daemon=True)
        worker.start()
        worker.join(timeout)
    if not outcome:
        raise UpstreamRefused("timeout", "upstream did not answer in time (DNS lookup)")
    result = outcome[0]
    if isinstance(result, Exception):
        raise UpstreamRefused("dns_failed", f"host {target.host} could not be resolved") from result
    try:
        addresses = list(dict.fromkeys(ipaddress.ip_address(text) for text in result))
    except (TypeError, ValueError) as exc:
        raise UpstreamRefused("dns_failed", f"host {target.host} resolved to garbage") from exc
    if not addresses:
        raise UpstreamRefused("dns_failed", f"host {target.host} has no addresses")
    # One bad address refuses the host: round-robin or a rebinding resolver could hand us
    # the private one on any later connect.
    if not policy.allow_private and not all(is_public_address(a) for a in addresses):
        raise UpstreamRefused(
            "address_not_allowed", f"host {target.host} resolves to a non-public address"
        )
    return addresses


def _connect(
    target: _Target, addresses: list[IPAddress], policy: UpstreamPolicy, deadline: float
) -> socket.socket:
    cause: OSError | None = None
    for address in addresses:
        family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(_remaining(deadline))
            # A literal address: no second lookup that a rebinding DNS server could answer.
            sock.connect((str(address), target.port))
            peer = ipaddress.ip_address(sock.getpeername()[0])
        except OSError as exc:
            sock.close()
            cause = exc
            continue
        if not policy.allow_private and not is_public_address(peer):
            sock.close()
            raise UpstreamRefused(
                "address_not_allowed", "upstream connection reached a non-public address"
            )
        return sock
    if isinstance(cause, TimeoutError) or time.monotonic() >= deadline:
        raise UpstreamRefused("timeout", "upstream did not answer in time (connect)") from cause
    raise UpstreamRefused("connect_failed", f"could not connect to {target.host}") from cause


def _handshake(
    sock: socket.socket, target: _Target, context: ssl.SSLContext, deadline: float
) -> ssl.SSLSocket:
    tls = context.wrap_socket(sock, server_hostname=target.host, do_handshake_on_connect=False)
    try:
        try:
            tls.settimeout(_remaining(deadline))
            tls.do_handshake()
        except TimeoutError as exc:
            raise UpstreamRefused("timeout", "upstream did not answer in time (TLS)") from exc
        except ssl.SSLError as exc:
            raise UpstreamRefused("tls_failed", f"TLS with {target.host} failed") from exc
        except OSError as exc:
            raise UpstreamRefused("connect_failed", f"{target.host} closed the connection") from exc
    except BaseException:
        tls.close()
        raise
    return tls


def _exchange(
    tls: ssl.SSLSocket, target: _Target, policy: UpstreamPolicy, deadline: float
) -> tuple[int, str | None, bytes]:
    request = (
        f"GET {target.request_target} HTTP/1.1\r\n"
        f"Host: {target.host_header}\r\n"
        "Accept: image/*,video/*\r\n"
        "Accept-Encoding: identity\r\n"
        "User-Agent: safe-view-gateway\r\n"
        "Connection: close\r\n"
        "\r\n"
    ).encode("ascii")
    # http.client only needs makefile() from its socket; ours bounds every read by the
    # deadline, so a server trickling bytes cannot stretch the fetch.
    response = http.client.HTTPResponse(cast(socket.socket, _DeadlineSocket(tls, deadline)))
    try:
        tls.settimeout(_remaining(deadline))
        tls.sendall(request)
        response.begin()
        if response.status in _REDIRECT_STATUSES:
            return response.status, response.getheader("Location"), b""
        if not 200 <= response.status < 300:
            raise UpstreamRefused("http_status", f"upstream answered HTTP {response.status}")
        encoding = response.getheader("Content-Encoding", "identity").strip().lower()
        if encoding != "identity":
            raise UpstreamRefused("http_status", "upstream sent an encoded body")
        return response.status, None, _read_body(response, policy)
    except TimeoutError as exc:
        raise UpstreamRefused("timeout", "upstream did not answer in time") from exc
    except http.client.HTTPException as exc:
        raise UpstreamRefused("http_status", "upstream sent an invalid HTTP response") from exc
    except OSError as exc:
        raise UpstreamRefused("connect_failed", f"connection to {target.host} broke") from exc
    finally:
        response.close()


def _read_body(response: http.client.HTTPResponse, policy: UpstreamPolicy) -> bytes:
    declared = response.length  # None when chunked or absent
    if declared is not None and declared > policy.max_bytes:
        raise UpstreamRefused("too_large", f"upstream body exceeds {policy.max_bytes} bytes")
    body = bytearray()
    while True:
        # Ask for at most one byte past the cap so memory never exceeds it by much.
        chunk = response.read(min(_CHUNK_BYTES, policy.max_bytes + 1 - len(body)))
        if not chunk:
            break
        body += chunk
        if len(body) > policy.max_bytes:
            raise UpstreamRefused("too_large", f"upstream body exceeds {policy.max_bytes} bytes")
    if declared is not None and len(body) != declared:
        # http.client returns a short body silently when the server hangs up early.
        raise UpstreamRefused("http_status", "upstream body was cut short")
    return bytes(body)


class _DeadlineSocket:
    def __init__(self, sock: ssl.SSLSocket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline))


class _DeadlineReader(io.RawIOBase):
    def __init__(self, sock: ssl.SSLSocket, deadline: float) -> None:
        super().__init__()
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        # Per-operation socket timeouts restart on every byte; the deadline does not.
        self._sock.settimeout(_remaining(self._deadline))
        return self._sock.recv_into(buffer)


def _remaining(deadline: float) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("upstream fetch deadline passed")
    return remaining


def _system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


@functools.cache
def _default_context() -> ssl.SSLContext:
    # Loading the system trust store costs milliseconds per call; a context is thread-safe.
    return ssl.create_default_context()
