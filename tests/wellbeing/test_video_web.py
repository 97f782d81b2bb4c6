"""Video through the gateway: registered by the API, a silent storyboard by default, blurred
muted playback as a logged view with range requests, reveals and sound through grants."""

from __future__ import annotations

import io
import json

import av
import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from exposure import breaks
from exposure.models import AuditEvent, ExposureEvent
from tests.blur.video_clips import Clip, make_clip

CLIP = make_clip(Clip(seconds=2.0))
META = {
    "ticket_ref": "T-77",
    "external_id": "clip-1",
    "filename": "clip.mp4",
    "flag_state": "flagged",
    "categories": ["graphic_violence"],
    "severity": 4,
}


def _register(world, client, data=CLIP, meta=META):
    token = world.token()
    return client.post(
        "/api/v1/attachments",
        data={"file": (io.BytesIO(data), "clip.mp4"), "metadata": json.dumps(meta)},
        headers={"Authorization": f"Bearer {token}"},
        content_type="multipart/form-data",
    )


def _fetch(client, url, **kwargs):
    """GET a file response and close it (the test client keeps the file open otherwise)."""
    response = client.get(url, **kwargs)
    response.get_data()
    response.close()
    return response


def _streams(data: bytes) -> set[str]:
    with av.open(io.BytesIO(data)) as container:
        return {s.type for s in container.streams}


def _events(app) -> list[ExposureEvent]:
    with app.app_context():
        from wellbeing.db import db

        return list(db.session.scalars(select(ExposureEvent).order_by(ExposureEvent.id)))


@pytest.fixture
def video(world, client, auth):
    world.user("ana", "associate")
    r = _register(world, client)
    assert r.status_code == 201, r.json
    auth.login("ana")
    return r.json


def test_registration_reads_the_headers(video):
    assert video["media_kind"] == "video" and video["format"] == "mp4"
    assert (video["width"], video["height"]) == (480, 270)
    assert video["duration_seconds"] == pytest.approx(2.0, abs=0.1)
    assert video["has_audio"] is True


def test_default_view_is_a_silent_grey_storyboard(app, client, video):
    page = client.get(f"/view/{video['id']}").get_data(as_text=True)
    assert 'id="player"' in page and "autoplay" not in page
    assert "<source" not in page and 'src="/media' in page  # the storyboard image only
    r = client.get(f"/media/{video['id']}/safe")
    assert r.status_code == 200 and r.mimetype == "image/jpeg"
    assert Image.open(io.BytesIO(r.data), formats=["JPEG"]).mode == "L"
    assert [(e.level, e.modality) for e in _events(app)] == [(1, "video")]


def test_blurred_playback_is_a_logged_view_with_ranges(app, client, auth, video):
    r = auth.post(f"/view/{video['id']}/play", {"client_event_id": "evt-play-0001"})
    assert r.status_code == 200
    url = r.json["url"]
    full = _fetch(client, url)
    assert full.status_code == 200 and full.mimetype == "video/mp4"
    assert full.headers["Cache-Control"] == "no-store, private"
    assert full.headers["X-Content-Type-Options"] == "nosniff"
    assert _streams(full.data) == {"video"}  # muted: no audio stream at all
    part = _fetch(client, url, headers={"Range": "bytes=100-299"})
    assert part.status_code == 206
    assert part.data == full.data[100:300]
    assert part.headers["Content-Range"] == f"bytes 100-299/{len(full.data)}"
    with av.open(io.BytesIO(full.data)) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="rgb24")
    spread = np.abs(frame[..., 0].astype(int) - frame[..., 2].astype(int)).max()
    assert spread <= 12  # grey
    assert (_events(app)[-1].level, _events(app)[-1].modality) == (1, "video")


def test_playback_needs_a_logged_view_of_ones_own(app, world, client, auth, video):
    assert client.get(f"/media/{video['id']}/play/evt-never-logged").status_code == 404
    url = auth.post(f"/view/{video['id']}/play", {"client_event_id": "evt-play-0002"}).json["url"]
    world.user("sam", "associate")
    from tests.conftest import Auth

    other = Auth(app.test_client())
    other.login("sam")
    assert _fetch(other.client, url).status_code == 404


def test_revealed_playback_only_through_a_one_time_grant(app, client, auth, video):
    r = auth.post(
        f"/view/{video['id']}/reveal", {"level": "4", "client_event_id": "evt-vreveal-01"}
    )
    assert r.status_code == 200
    # The reveal's own event id does not open the GET playback route.
    assert client.get(f"/media/{video['id']}/play/evt-vreveal-01").status_code == 404
    media = auth.post(r.json["url"])
    assert media.status_code == 200 and media.mimetype == "video/mp4"
    assert _streams(media.data) == {"video"}
    assert auth.post(r.json["url"]).status_code == 404  # spent
    assert (_events(app)[-1].level, _events(app)[-1].modality) == (4, "video")


def test_unmuting_is_its_own_logged_reveal(app, auth, video):
    r = auth.post(
        f"/view/{video['id']}/reveal",
        {"level": "1", "audio": "1", "client_event_id": "evt-unmute-01"},
    )
    assert r.status_code == 200
    event = _events(app)[-1]
    assert (event.level, event.modality) == (1, "audio")
    media = auth.post(r.json["url"])
    assert _streams(media.data) == {"video", "audio"}
    with app.app_context():
        from wellbeing.db import db

        actions = db.session.scalars(select(AuditEvent.action)).all()
    assert "reveal" in actions


def test_region_reveal_is_refused_for_video(auth, video):
    r = auth.post(
        f"/view/{video['id']}/reveal",
        {"level": "3", "region": "0,0,0.5,0.5", "client_event_id": "evt-vregion-1"},
    )
    assert r.status_code == 400 and "images" in r.json["message"]


def test_playback_is_refused_during_a_break(app, world, clock, client, auth, video):
    url = auth.post(f"/view/{video['id']}/play", {"client_event_id": "evt-play-0003"}).json["url"]
    with app.app_context():
        from exposure.models import User
        from wellbeing.db import db

        ana = db.session.scalar(select(User).where(User.username == "ana"))
        clock.advance(seconds=1)
        breaks.start_break(db.session, ana.id, "enforced", clock.now(), minutes=5)
        db.session.commit()
    r = _fetch(client, url)
    assert r.status_code == 423 and b"ftyp" not in r.data


@pytest.mark.parametrize(
    "data, status",
    [
        (b"#EXTM3U\n#EXT-X-VERSION:3\nfile:///etc/passwd\n", 415),
        (CLIP[: len(CLIP) // 3], 422),
        (b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64, 422),
    ],
    ids=["m3u8-playlist", "truncated-mp4", "empty-mp4"],
)
def test_hostile_video_uploads_are_refused(app, world, client, data, status):
    r = _register(world, client, data, {**META, "external_id": "bad"})
    assert r.status_code in (status, 415, 422), r.json
    with app.app_context():
        from wellbeing.db import db

        actions = db.session.scalars(select(AuditEvent.action)).all()
    assert "security.media_rejected" in actions
