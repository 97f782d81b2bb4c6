"""The safe viewer and reveal flow over HTTP: safe by default, logged before revealed."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from exposure.models import AuditEvent, ExposureEvent, RevealGrant
from tests.conftest import jpeg_bytes


def _pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data), formats=["JPEG", "PNG"]).convert("L"), float)


def _is_gray(data: bytes) -> bool:
    img = Image.open(io.BytesIO(data), formats=["JPEG", "PNG"])
    if img.mode == "L":
        return True
    arr = np.asarray(img.convert("RGB"), int)
    return int(np.abs(arr[..., 0] - arr[..., 1]).max()) <= 3


def _events(world, user_id: int) -> list[ExposureEvent]:
    with world.app.app_context():
        from wellbeing.db import db

        return list(
            db.session.scalars(
                select(ExposureEvent)
                .where(ExposureEvent.user_id == user_id)
                .order_by(ExposureEvent.id)
            )
        )


@pytest.fixture
def associate(world, auth):
    uid = world.user("ana", "associate")
    auth.login("ana")
    return uid


def test_flagged_item_is_served_blurred_gray_and_the_view_is_logged(world, client, associate):
    att = world.attachment(jpeg_bytes((400, 300)))
    page = client.get(f"/view/{att}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "graphic_violence" in html and "Reveal colour" in html
    safe = client.get(f"/media/{att}/safe")
    assert safe.status_code == 200
    assert safe.mimetype == "image/jpeg"
    assert safe.headers["Cache-Control"] == "no-store, private"
    assert safe.headers["X-Content-Type-Options"] == "nosniff"
    assert safe.headers["Content-Security-Policy"] == "default-src 'none'"
    assert "evidence" not in safe.headers.get("Content-Disposition", "")
    assert _is_gray(safe.data)
    original = _pixels(jpeg_bytes((400, 300)))
    shown = _pixels(safe.data)
    assert shown.shape == original.shape
    # Heavily blurred: almost no edge energy left compared with the original.
    import cv2

    assert cv2.Laplacian(shown, cv2.CV_64F).var() < 0.05 * cv2.Laplacian(original, cv2.CV_64F).var()
    events = _events(world, associate)
    assert [(e.level, e.category) for e in events] == [(1, "graphic_violence")]


def test_reveal_logs_before_serving_and_url_is_single_use(world, client, auth, associate):
    data = jpeg_bytes((400, 300))
    att = world.attachment(data)
    client.get(f"/view/{att}")
    reply = auth.post(f"/view/{att}/reveal", {"level": "4", "client_event_id": "evt-colour-0001"})
    assert reply.status_code == 200, reply.data
    url = reply.json["url"]
    # The event is committed before any media request was made.
    levels = [e.level for e in _events(world, associate)]
    assert levels == [1, 4]
    # GET and HEAD (and so prefetch) get nothing.
    assert client.get(url).status_code == 405
    assert client.head(url).status_code == 405
    media = auth.post(url)
    assert media.status_code == 200
    assert not _is_gray(media.data)
    assert np.abs(_pixels(media.data) - _pixels(data)).mean() < 6
    assert auth.post(url).status_code == 404  # replay


def test_grant_is_bound_to_the_person(world, app, auth, associate):
    world.user("sam", "associate")
    att = world.attachment()
    reply = auth.post(f"/view/{att}/reveal", {"level": "3", "client_event_id": "evt-gray-00001"})
    url = reply.json["url"]
    other = app.test_client()
    from tests.conftest import Auth

    other_auth = Auth(other)
    other_auth.login("sam")
    stolen = other_auth.post(url)
    assert stolen.status_code == 404
    assert stolen.mimetype == "application/json"
    # The owner can still use it: the failed attempt did not spend it.
    assert auth.post(url).status_code == 200


def test_expired_grant_gets_nothing(world, clock, auth, associate):
    att = world.attachment()
    url = auth.post(
        f"/view/{att}/reveal", {"level": "3", "client_event_id": "evt-gray-00002"}
    ).json["url"]
    clock.advance(seconds=61)
    assert auth.post(url).status_code == 404


def test_retried_reveal_is_recorded_once(world, auth, associate):
    att = world.attachment()
    for _ in range(3):
        r = auth.post(f"/view/{att}/reveal", {"level": "3", "client_event_id": "evt-retry-0001"})
        assert r.status_code == 200
    assert [e.level for e in _events(world, associate)] == [3]
    with world.app.app_context():
        from wellbeing.db import db

        audits = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "reveal")).all()
        grants = db.session.scalars(select(RevealGrant)).all()
    assert len(audits) == 1
    assert len(grants) == 3


def test_reused_event_id_for_another_level_is_a_conflict(world, auth, associate):
    att = world.attachment()
    auth.post(f"/view/{att}/reveal", {"level": "3", "client_event_id": "evt-conflict-1"})
    r = auth.post(f"/view/{att}/reveal", {"level": "4", "client_event_id": "evt-conflict-1"})
    assert r.status_code == 409


def test_category_caps_the_reveal_level(world, client, auth, associate):
    att = world.attachment(categories=["child_abuse"], severity=5)
    page = client.get(f"/view/{att}").get_data(as_text=True)
    assert 'id="placeholder"' in page
    assert "Reveal colour" not in page
    r = auth.post(f"/view/{att}/reveal", {"level": "4", "client_event_id": "evt-toohigh-1"})
    assert r.status_code == 403
    assert _events(world, associate)[-1].level == 0  # only the placeholder view was logged


def test_placeholder_level_serves_no_source_pixels(world, client, associate):
    a = world.attachment(jpeg_bytes((400, 300), seed=7), categories=["child_abuse"], severity=5)
    b = world.attachment(jpeg_bytes((400, 300), seed=8), categories=["child_abuse"], severity=5)
    shown_a = _pixels(client.get(f"/media/{a}/safe").data)
    shown_b = _pixels(client.get(f"/media/{b}/safe").data)
    # Two different sources give the very same picture: nothing of either got through.
    assert shown_a.shape == shown_b.shape
    assert np.abs(shown_a - shown_b).max() <= 2


def test_unflagged_item_shows_normally(world, client, associate):
    data = jpeg_bytes()
    att = world.attachment(data, flag_state="clear", categories=[])
    page = client.get(f"/view/{att}").get_data(as_text=True)
    assert "Reveal" not in page
    shown = client.get(f"/media/{att}/safe").data
    assert not _is_gray(shown)
    assert _events(world, associate)[0].category == "clear"


def test_unknown_status_is_treated_as_flagged(world, client, associate):
    att = world.attachment(flag_state="unknown", categories=[], severity=0)
    assert _is_gray(client.get(f"/media/{att}/safe").data)


def test_region_reveal_is_logged_with_its_rectangle(world, auth, associate):
    att = world.attachment(jpeg_bytes((400, 300)))
    r = auth.post(
        f"/view/{att}/reveal",
        {"level": "3", "region": "0.25,0.25,0.5,0.5", "client_event_id": "evt-region-01"},
    )
    assert r.status_code == 200
    assert auth.post(r.json["url"]).status_code == 200
    event = _events(world, associate)[-1]
    assert (event.level, event.region) == (3, "0.2500,0.2500,0.5000,0.5000")


@pytest.mark.parametrize(
    "form, reason",
    [
        ({"level": "9", "client_event_id": "evt-badlevel"}, "level"),
        ({"level": "3", "client_event_id": "x"}, "client_event_id"),
        ({"level": "3", "client_event_id": "evt-badregion", "region": "0.9,0.9,0.5,0.5"}, "region"),
        ({"level": "3", "client_event_id": "evt-badregion", "region": "a,b"}, "region"),
        ({"level": "2", "client_event_id": "evt-peekregion", "region": "0,0,0.5,0.5"}, "region"),
    ],
)
def test_bad_reveal_input_is_a_clear_400(world, auth, associate, form, reason):
    att = world.attachment()
    r = auth.post(f"/view/{att}/reveal", form)
    assert r.status_code == 400
    assert reason in r.json["message"]


def test_reveal_without_csrf_is_refused(world, client, associate):
    att = world.attachment()
    r = client.post(f"/view/{att}/reveal", data={"level": "4", "client_event_id": "evt-nocsrf-1"})
    assert r.status_code == 400
    assert "CSRF" in r.json["message"]
    assert _events(world, associate) == []


def test_heartbeats_extend_duration_and_stop_when_quiet(world, clock, auth, client, associate):
    att = world.attachment()
    page = client.get(f"/view/{att}").get_data(as_text=True)
    event_id = re.search(r'data-event="([^"]+)"', page).group(1)
    for _ in range(3):
        clock.advance(seconds=10)
        assert auth.post(f"/events/{event_id}/heartbeat").status_code == 200
    clock.advance(seconds=300)  # tab hidden, no heartbeats: this gap does not count
    r = auth.post(f"/events/{event_id}/heartbeat")
    assert r.json["duration_seconds"] == pytest.approx(30, abs=0.5)
    assert _events(world, associate)[0].duration_seconds == pytest.approx(30, abs=0.5)


def test_heartbeat_for_someone_elses_event_is_404(world, app, client, associate):
    att = world.attachment()
    page = client.get(f"/view/{att}").get_data(as_text=True)
    event_id = re.search(r'data-event="([^"]+)"', page).group(1)
    world.user("sam", "associate")
    from tests.conftest import Auth

    other = Auth(app.test_client())
    other.login("sam")
    assert other.post(f"/events/{event_id}/heartbeat").status_code == 404


def test_missing_attachment_is_404(client, associate):
    assert client.get("/view/999").status_code == 404
    assert client.get("/media/999/safe").status_code == 404
