"""The ticketing system's JSON API: tokens, registration, hostile uploads, flags, OpenAPI."""

from __future__ import annotations

import io
import json
import struct
import zlib
from collections.abc import Iterator

import pytest
import trustme
from sqlalchemy import func, select

from exposure.models import ApiToken, Attachment, AuditEvent, Blob
from tests.conftest import jpeg_bytes
from tests.wellbeing import upstream_fixtures
from tests.wellbeing.upstream_fixtures import HOST, client_context, serve, server_context

META = {
    "ticket_ref": "T-1042",
    "external_id": "att-1",
    "filename": "photo.jpg",
    "flag_state": "flagged",
    "categories": ["graphic_violence"],
    "severity": 4,
    "flag_source": "ticket_label",
    "labels": ["gore"],
}


def _upload(client, token, data, meta=None, **extra):
    return client.post(
        "/api/v1/attachments",
        data={"file": (io.BytesIO(data), "photo.jpg"), "metadata": json.dumps(meta or META)},
        headers={"Authorization": f"Bearer {token}", **extra},
        content_type="multipart/form-data",
    )


def _count(world, model) -> int:
    with world.app.app_context():
        from wellbeing.db import db

        return db.session.scalar(select(func.count()).select_from(model))


def _security_actions(world) -> list[str]:
    with world.app.app_context():
        from wellbeing.db import db

        return list(
            db.session.scalars(
                select(AuditEvent.action).where(AuditEvent.action.like("security.%"))
            )
        )


def test_register_upload_then_read_it(world, client):
    token = world.token()
    r = _upload(client, token, jpeg_bytes((320, 240)))
    assert r.status_code == 201, r.json
    body = r.json
    assert (body["width"], body["height"], body["format"]) == (320, 240, "jpeg")
    assert body["flag_state"] == "flagged" and body["categories"] == ["graphic_violence"]
    assert body["viewer_url"].endswith(f"/view/{body['id']}")
    got = client.get(
        f"/api/v1/attachments/{body['id']}", headers={"Authorization": f"Bearer {token}"}
    )
    assert got.status_code == 200 and got.json["sha256"] == body["sha256"]


def test_registration_is_idempotent(world, client):
    token = world.token()
    first = _upload(client, token, jpeg_bytes())
    again = _upload(client, token, jpeg_bytes(seed=2))  # a retry, even with other bytes
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json["id"] == again.json["id"]
    assert _count(world, Attachment) == 1
    other = _upload(client, token, jpeg_bytes(), {**META, "external_id": "att-2"})
    assert other.status_code == 201
    assert _count(world, Attachment) == 2
    assert _count(world, Blob) == 1  # same bytes stored once


@pytest.mark.parametrize(
    "meta, reason",
    [
        ({**META, "categories": ["made_up"]}, "unknown categories"),
        ({**META, "severity": 9}, "severity"),
        ({**META, "flag_state": "maybe"}, "flag_state"),
        ({**META, "ticket_ref": ""}, "ticket_ref"),
        ({**META, "flag_source": "rumour"}, "flag_source"),
        ({**META, "categories": []}, "at least one category"),
        ({**META, "surprise": 1}, "unknown fields"),
        ({**META, "labels": "x"}, "labels"),
    ],
)
def test_bad_metadata_is_a_clear_400(world, client, meta, reason):
    r = _upload(client, world.token(), jpeg_bytes(), meta)
    assert r.status_code == 400
    assert reason in r.json["message"]
    assert _count(world, Attachment) == 0


def _png_flood(side: int) -> bytes:
    """A valid PNG header declaring side x side pixels, with a tiny compressed body."""
    raw = zlib.compress(b"\x00" * (side + 1) * 8, 9)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    "data, status",
    [
        (b"", 422),
        (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", 415),
        (b"GIF89a<script>alert(1)</script>", 422),
        (b"\x00" * 100, 415),
        (_png_flood(20000), 422),
        (jpeg_bytes()[:200], 422),
    ],
    ids=["empty", "eps", "gif-polyglot", "zeros", "pixel-flood", "truncated-jpeg"],
)
def test_hostile_uploads_get_a_4xx_and_a_security_event(world, client, data, status):
    r = _upload(client, world.token(), data)
    assert r.status_code in (status, 413, 415, 422), r.json
    assert r.json["message"]
    assert _count(world, Attachment) == 0
    assert "security.media_rejected" in _security_actions(world)


def test_oversized_request_is_413(world, db_url, tmp_path, clock):
    from tests.conftest import World, make_app

    app = make_app(db_url, tmp_path, clock, MAX_UPLOAD_BYTES=10_000)
    token = World(app, clock).token()
    r = _upload(app.test_client(), token, b"\xff\xd8" + b"\x00" * 200_000)
    assert r.status_code == 413
    assert r.mimetype == "application/json"


def test_tokens_are_required_and_cookies_are_not_enough(world, client, auth):
    world.user("ada", "admin", "associate")
    auth.login("ada")
    r = _upload(client, "", jpeg_bytes())  # a signed-in browser session, no token
    assert r.status_code == 401
    r = client.get("/api/v1/attachments/1")
    assert r.status_code == 401 and "bearer token" in r.json["message"]
    r = client.get("/api/v1/attachments/1", headers={"Authorization": "Bearer svg_nope"})
    assert r.status_code == 401
    assert {"security.api_no_token", "security.api_bad_token"} <= set(_security_actions(world))


def test_token_scope_and_revocation(world, client):
    read_only = world.token("attachments:read")
    r = _upload(client, read_only, jpeg_bytes())
    assert r.status_code == 403 and "attachments:write" in r.json["message"]
    writer = world.token()
    assert _upload(client, writer, jpeg_bytes()).status_code == 201
    with world.app.app_context():
        from exposure import accounts
        from wellbeing.db import db

        token_id = db.session.scalar(select(ApiToken.id).where(ApiToken.scopes.contains("write")))
        accounts.revoke_api_token(db.session, token_id, world.clock.now())
        db.session.commit()
    assert _upload(client, writer, jpeg_bytes(), {**META, "external_id": "x2"}).status_code == 401


def test_tokens_are_stored_hashed(world):
    plaintext = world.token()
    with world.app.app_context():
        from wellbeing.db import db

        stored = db.session.scalars(select(ApiToken)).one()
    assert plaintext not in (stored.token_hash, stored.prefix)
    assert len(stored.token_hash) == 64


def test_flag_and_unflag_change_what_associates_see(world, client, auth):
    token = world.token()
    att = _upload(client, token, jpeg_bytes(), {**META, "flag_state": "unknown", "categories": []})
    att_id = att.json["id"]
    headers = {"Authorization": f"Bearer {token}"}
    r = client.post(
        f"/api/v1/attachments/{att_id}/flag", json={"flag_state": "clear"}, headers=headers
    )
    assert r.status_code == 200 and r.json["flag_state"] == "clear"
    r = client.post(
        f"/api/v1/attachments/{att_id}/flag",
        json={"flag_state": "flagged", "categories": ["suicide"], "severity": 5},
        headers=headers,
    )
    assert r.json["categories"] == ["suicide"] and r.json["flag_source"] == "manual"
    bad = client.post(
        f"/api/v1/attachments/{att_id}/flag", json={"categories": ["nope"]}, headers=headers
    )
    assert bad.status_code == 400
    missing = client.post("/api/v1/attachments/999/flag", json={}, headers=headers)
    assert missing.status_code == 404


def test_openapi_matches_the_routes(app, client):
    doc = client.get("/api/v1/openapi.json").json
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    served = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = rule.rule.removeprefix("/api/v1").replace("<int:attachment_id>", "{attachment_id}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            served.add((path, method))
    assert documented == served


# Registration by URL, against a real HTTPS server on loopback with a test CA.


@pytest.fixture
def upstream_app(world, monkeypatch) -> Iterator[tuple]:
    ca = trustme.CA()
    photo = jpeg_bytes((200, 150))
    monkeypatch.setitem(upstream_fixtures.ROUTES, "/photo.jpg", lambda h: h._simple(200, photo))
    app = world.app
    app.config.update(UPSTREAM_ALLOWED_HOSTS=HOST, UPSTREAM_ALLOW_PRIVATE=True)
    app.extensions["wellbeing.upstream_tls"] = client_context(ca)
    app.extensions["wellbeing.upstream_resolver"] = lambda host, port: ["127.0.0.1"]
    with serve(server_context(ca, HOST)) as upstream:
        yield app, upstream


def test_register_by_url_on_an_allowed_host(world, client, upstream_app):
    _, upstream = upstream_app
    token = world.token()
    meta = {**META, "source_url": upstream.url("/photo.jpg")}
    r = client.post("/api/v1/attachments", json=meta, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 201, r.json
    assert (r.json["width"], r.json["height"]) == (200, 150)
    assert upstream.paths == ["/photo.jpg"]


@pytest.mark.parametrize(
    "url, code",
    [
        ("http://media.tickets.test/photo.jpg", "scheme_not_allowed"),
        ("https://elsewhere.test/photo.jpg", "host_not_allowed"),
        ("https://127.0.0.1/photo.jpg", "host_not_allowed"),
    ],
)
def test_register_by_url_refuses_unsafe_urls(world, client, upstream_app, url, code):
    token = world.token()
    r = client.post(
        "/api/v1/attachments",
        json={**META, "source_url": url},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 422
    assert code in r.json["message"]
    assert "security.upstream_refused" in _security_actions(world)


def test_loopback_upstream_is_refused_in_production_settings(world, client, upstream_app):
    app, upstream = upstream_app
    app.config["UPSTREAM_ALLOW_PRIVATE"] = False
    token = world.token()
    r = client.post(
        "/api/v1/attachments",
        json={**META, "source_url": upstream.url("/photo.jpg")},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 422 and "address_not_allowed" in r.json["message"]
    assert upstream.paths == []
