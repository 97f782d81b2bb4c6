"""Fetching attachments by URL (wellbeing.upstream) without opening an SSRF hole.

Pure checks of URLs and addresses first, then fetches from a real HTTPS server on 127.0.0.1
whose certificate a test CA issued for media.tickets.test.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import trustme

from tests.wellbeing.upstream_fixtures import (
    BODY,
    HOST,
    Upstream,
    client_context,
    serve,
    server_context,
)
from wellbeing.upstream import UpstreamPolicy, UpstreamRefused, fetch, is_public_address

# Special-purpose addresses that must never be fetched from, in the forms attackers use.
NON_PUBLIC = [
    "127.0.0.1",
    "127.255.255.254",
    "10.0.0.1",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # shared address space, not is_private
    "0.0.0.0",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "198.18.0.1",
    "192.0.2.1",
    "::",
    "::1",
    "::ffff:127.0.0.1",  # IPv4-mapped, not is_loopback in Python
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "::7f00:1",  # IPv4-compatible
    "64:ff9b::7f00:1",  # NAT64, is_global in Python
    "64:ff9b:1::a00:1",
    "2002:7f00:1::",  # 6to4 of 127.0.0.1, is_global in Python
    "2002:a00:1::1",
    "2001::1",  # Teredo
    "2001:db8::1",
    "fc00::1",
    "fd12:3456::1",
    "fe80::1",
    "fe80::1%1",
    "fec0::1",  # site-local, is_global in Python 3.11
    "ff02::1",
]
PUBLIC = ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "151.101.1.1"]


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def trusting(ca: trustme.CA) -> ssl.SSLContext:
    return client_context(ca)


@pytest.fixture
def upstream(ca: trustme.CA) -> Iterator[Upstream]:
    with serve(server_context(ca, HOST)) as running:
        yield running


class Resolver:
    """Answers every lookup with fixed addresses and remembers what was asked."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = list(addresses)
        self.asked: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        return list(self.addresses)


def policy(**overrides: Any) -> UpstreamPolicy:
    settings: dict[str, Any] = {
        "allowed_hosts": frozenset({HOST}),
        "max_bytes": 1 << 20,
        "timeout_seconds": 5.0,
        "allow_private": True,
    }
    settings.update(overrides)
    return UpstreamPolicy(**settings)


def refusal(url: str, pol: UpstreamPolicy, **kwargs: Any) -> UpstreamRefused:
    with pytest.raises(UpstreamRefused) as caught:
        fetch(url, pol, **kwargs)
    return caught.value


# --- addresses and URLs, no network -----------------------------------------------------


@pytest.mark.parametrize("address", NON_PUBLIC)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "url",
    [
        "http://media.tickets.test/image",
        "HTTP://media.tickets.test/image",
        "file:///etc/passwd",
        "ftp://media.tickets.test/image",
        "gopher://media.tickets.test:70/_GET",
        "data:image/png;base64,iVBORw0KGgo=",
        "javascript:alert(1)",
        "//media.tickets.test/image",
        "media.tickets.test/image",
    ],
)
def test_only_https_is_fetched(url: str) -> None:
    resolver = Resolver("127.0.0.1")
    assert refusal(url, policy(), resolver=resolver).code == "scheme_not_allowed"
    assert resolver.asked == []


@pytest.mark.parametrize(
    "url",
    [
        "https://user:secret@media.tickets.test/image",
        "https://user@media.tickets.test/image",
        "https://media.tickets.test@evil.test/image",
        "https://@media.tickets.test/image",
    ],
)
def test_userinfo_is_refused(url: str) -> None:
    assert refusal(url, policy(), resolver=Resolver("127.0.0.1")).code == "bad_url"


@pytest.mark.parametrize(
    "url",
    [
        "https://",
        "https:///image",
        "https://media.tickets.test:99999/image",
        "https://media.tickets.test:0/image",
        "https://media.tickets.test:44x/image",
        "https://media.tickets.test:/image",
        "https://media.tickets.test/an image",
        "https://media.tickets.test/image\n",
        "https://media.tickets.test\t/image",
        "https://evil.test\\@media.tickets.test/image",
        "https://media.tickets.test/bild-\u00e4.png",
        "https://media.tickets.test/" + "a" * 5000,
    ],
)
def test_malformed_urls_are_refused(url: str) -> None:
    assert refusal(url, policy(), resolver=Resolver("127.0.0.1")).code == "bad_url"


@pytest.mark.parametrize(
    "host",
    [
        "evil.test",
        "tickets.test",
        "media.tickets.test.evil.test",
        "evil-media.tickets.test",
        "media.tickets.test.",  # trailing dot
        "media.tickets.test\u3002",  # ideographic full stop, a trailing dot after IDNA
        "m\u0435dia.tickets.test",  # Cyrillic e
        "media%2etickets.test",
        "media_tickets.test",
    ],
)
def test_hosts_outside_the_allow_list_are_refused(host: str) -> None:
    resolver = Resolver("127.0.0.1")
    assert refusal(f"https://{host}/image", policy(), resolver=resolver).code == "host_not_allowed"
    assert resolver.asked == []


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "2130706433",  # decimal
        "0x7f000001",  # hex
        "0X7F000001",
        "017700000001",  # octal
        "0177.0.0.1",
        "0x7f.0.0.1",
        "127.1",  # short form
        "127.0.1",
        "0",
        "127.000.000.001",
        "169.254.169.254",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "\uff11\uff12\uff17.\uff10.\uff10.\uff11",  # full-width digits, 127.0.0.1 after IDNA
        "8.8.8.8",
    ],
)
def test_ip_literal_hosts_are_refused_even_when_allow_listed(host: str) -> None:
    allowed = frozenset({HOST, host.lower(), host.strip("[]").lower()})
    resolver = Resolver("127.0.0.1")
    err = refusal(f"https://{host}/image", policy(allowed_hosts=allowed), resolver=resolver)
    assert err.code == "host_not_allowed"
    assert resolver.asked == []


def test_an_empty_allow_list_allows_nothing() -> None:
    err = refusal(f"https://{HOST}/image", policy(allowed_hosts=frozenset()), resolver=Resolver())
    assert err.code == "host_not_allowed"


@pytest.mark.parametrize("address", NON_PUBLIC)
def test_hosts_resolving_to_non_public_addresses_are_refused(address: str) -> None:
    err = refusal(f"https://{HOST}/image", policy(allow_private=False), resolver=Resolver(address))
    assert err.code == "address_not_allowed"
    assert address not in err.reason  # internal addresses are not leaked to API clients


@pytest.mark.parametrize(
    "addresses", [("8.8.8.8", "127.0.0.1"), ("127.0.0.1", "8.8.8.8"), ("1.1.1.1", "::1")]
)
def test_one_non_public_address_refuses_the_host(
    upstream: Upstream, addresses: tuple[str, ...]
) -> None:
    err = refusal(
        upstream.url("/image"), policy(allow_private=False), resolver=Resolver(*addresses)
    )
    assert err.code == "address_not_allowed"
    assert upstream.hits == []


def test_resolver_failures_are_dns_failed() -> None:
    def broken(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    for resolver in (broken, Resolver(), Resolver("not-an-address")):
        assert refusal(f"https://{HOST}/image", policy(), resolver=resolver).code == "dns_failed"


def test_the_system_resolver_is_the_default() -> None:
    # localhost comes from the hosts file: the default resolver runs without network,
    # and what it returns (loopback) is refused like any other answer.
    pol = policy(allowed_hosts=frozenset({"localhost"}), allow_private=False)
    assert refusal("https://localhost/image", pol).code == "address_not_allowed"


def test_a_hanging_dns_lookup_is_bounded_by_the_deadline() -> None:
    release = threading.Event()

    def hanging(host: str, port: int) -> list[str]:
        release.wait(10)
        return ["127.0.0.1"]

    started = time.monotonic()
    try:
        err = refusal(f"https://{HOST}/image", policy(timeout_seconds=0.5), resolver=hanging)
    finally:
        release.set()
    assert err.code == "timeout"
    assert time.monotonic() - started < 1.5


def test_a_context_that_does_not_verify_is_a_programming_error() -> None:
    lax = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    lax.check_hostname = False
    lax.verify_mode = ssl.CERT_NONE
    with pytest.raises(ValueError):
        fetch(f"https://{HOST}/image", policy(), ssl_context=lax, resolver=Resolver("127.0.0.1"))


def test_policy_limits_must_be_positive() -> None:
    with pytest.raises(ValueError):
        policy(max_bytes=0)
    with pytest.raises(ValueError):
        policy(timeout_seconds=0)


# --- a real HTTPS upstream on 127.0.0.1 ---------------------------------------------------


def test_fetch_returns_the_exact_bytes(upstream: Upstream, trusting: ssl.SSLContext) -> None:
    body = fetch(
        upstream.url("/image?size=full"),
        policy(),
        ssl_context=trusting,
        resolver=Resolver("127.0.0.1"),
    )
    assert body == BODY
    [(path, headers)] = upstream.hits
    assert path == "/image?size=full"
    assert headers["Host"] == f"{HOST}:{upstream.port}"
    assert headers["Accept"] == "image/*,video/*"
    assert headers["Accept-Encoding"] == "identity"
    assert "Cookie" not in headers and "Authorization" not in headers


def test_loopback_is_refused_in_production_mode(
    upstream: Upstream, trusting: ssl.SSLContext
) -> None:
    # The very setup of the happy path, without the test-only allow_private switch.
    err = refusal(
        upstream.url("/image"),
        policy(allow_private=False),
        ssl_context=trusting,
        resolver=Resolver("127.0.0.1"),
    )
    assert err.code == "address_not_allowed"
    assert upstream.hits == []


def test_host_names_are_compared_case_insensitively(
    upstream: Upstream, trusting: ssl.SSLContext
) -> None:
    resolver = Resolver("127.0.0.1")
    url = upstream.url("/image", host="MEDIA.Tickets.TEST")
    assert fetch(url, policy(), ssl_context=trusting, resolver=resolver) == BODY
    assert resolver.asked == [HOST]


def test_chunked_bodies_are_reassembled(upstream: Upstream, trusting: ssl.SSLContext) -> None:
    body = fetch(
        upstream.url("/chunked"), policy(), ssl_context=trusting, resolver=Resolver("127.0.0.1")
    )
    assert body == BODY


@pytest.mark.parametrize("path", ["/redirect-relative", "/redirect-absolute"])
def test_redirects_to_the_same_host_are_followed(
    upstream: Upstream, trusting: ssl.SSLContext, path: str
) -> None:
    resolver = Resolver("127.0.0.1")
    assert fetch(upstream.url(path), policy(), ssl_context=trusting, resolver=resolver) == BODY
    assert upstream.paths == [path, "/image"]
    assert resolver.asked == [HOST, HOST]  # every hop is resolved and vetted again


@pytest.mark.parametrize(
    "path",
    [
        "/redirect-other-host",
        "/redirect-scheme-relative",
        "/redirect-http",
        "/redirect-other-port",
        "/redirect-metadata",
        "/redirect-garbage",
    ],
)
def test_redirects_anywhere_else_are_refused(
    upstream: Upstream, trusting: ssl.SSLContext, path: str
) -> None:
    pol = policy(allowed_hosts=frozenset({HOST, "other.tickets.test"}))
    resolver = Resolver("127.0.0.1")
    err = refusal(upstream.url(path), pol, ssl_context=trusting, resolver=resolver)
    assert err.code == "redirect_refused"
    assert upstream.paths == [path]
    assert resolver.asked == [HOST]


@pytest.mark.parametrize("max_redirects", [0, 3])
def test_redirect_loops_are_bounded(
    upstream: Upstream, trusting: ssl.SSLContext, max_redirects: int
) -> None:
    err = refusal(
        upstream.url("/loop"),
        policy(max_redirects=max_redirects),
        ssl_context=trusting,
        resolver=Resolver("127.0.0.1"),
    )
    assert err.code == "redirect_refused"
    assert upstream.paths == ["/loop"] * (max_redirects + 1)


def test_a_declared_length_over_the_cap_is_refused_before_reading(
    upstream: Upstream, trusting: ssl.SSLContext
) -> None:
    # The server declares 10 MB, sends 10 bytes and stalls: reading would end in a timeout.
    err = refusal(
        upstream.url("/declares-huge"),
        policy(max_bytes=len(BODY)),
        ssl_context=trusting,
        resolver=Resolver("127.0.0.1"),
    )
    assert err.code == "too_large"


def test_a_streamed_body_over_the_cap_is_refused(
    upstream: Upstream, trusting: ssl.SSLContext
) -> None:
    for max_bytes, expected in ((len(BODY) - 1, "too_large"), (len(BODY), None)):
        pol = policy(max_bytes=max_bytes)
        resolver = Resolver("127.0.0.1")
        if expected is None:
            body = fetch(upstream.url("/chunked"), pol, ssl_context=trusting, resolver=resolver)
            assert body == BODY
        else:
            err = refusal(upstream.url("/chunked"), pol, ssl_context=trusting, resolver=resolver)
            assert err.code == expected


@pytest.mark.parametrize("path", ["/trickle-headers", "/trickle-body"])
def test_a_trickling_server_hits_the_total_deadline(
    upstream: Upstream, trusting: ssl.SSLContext, path: str
) -> None:
    started = time.monotonic()
    err = refusal(
        upstream.url(path),
        policy(timeout_seconds=1.0),
        ssl_context=trusting,
        resolver=Resolver("127.0.0.1"),
    )
    elapsed = time.monotonic() - started
    assert err.code == "timeout"
    assert 0.9 < elapsed < 2.0


@pytest.mark.parametrize("path", ["/missing", "/gzip", "/truncated"])
def test_unusable_responses_are_http_status(
    upstream: Upstream, trusting: ssl.SSLContext, path: str
) -> None:
    err = refusal(
        upstream.url(path), policy(), ssl_context=trusting, resolver=Resolver("127.0.0.1")
    )
    assert err.code == "http_status"


def test_a_certificate_for_another_name_is_tls_failed(
    ca: trustme.CA, trusting: ssl.SSLContext
) -> None:
    with serve(server_context(ca, "elsewhere.tickets.test")) as impostor:
        err = refusal(
            impostor.url("/image"), policy(), ssl_context=trusting, resolver=Resolver("127.0.0.1")
        )
    assert err.code == "tls_failed"
    assert impostor.hits == []


def test_an_untrusted_issuer_is_tls_failed(upstream: Upstream) -> None:
    # No ssl_context: the system trust store, which does not know the test CA.
    err = refusal(upstream.url("/image"), policy(), resolver=Resolver("127.0.0.1"))
    assert err.code == "tls_failed"
    assert upstream.hits == []


def test_a_closed_port_is_connect_failed(trusting: ssl.SSLContext) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    err = refusal(
        f"https://{HOST}:{port}/image",
        policy(),
        ssl_context=trusting,
        resolver=Resolver("127.0.0.1"),
    )
    assert err.code == "connect_failed"
