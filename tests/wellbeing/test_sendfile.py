"""X-Accel-Redirect / X-Sendfile: behind nginx or Apache the front-end server sends cached
renditions, after every check ran here; the header only ever names a rendition cache file."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from exposure import breaks
from exposure.models import Blob, ExposureEvent
from tests.conftest import jpeg_bytes, make_app

HEADERS = ("X-Accel-Redirect", "X-Sendfile")
PREFIX = "/_internal/renditions/"


@pytest.fixture(params=HEADERS)
def app(request, db_url, tmp_path, clock):
    return make_app(db_url, tmp_path, clock, SENDFILE_HEADER=request.param, SENDFILE_PREFIX=PREFIX)


@pytest.fixture
def cache_dir(tmp_path) -> Path:
    return tmp_path / "data" / "renditions"


@pytest.fixture
def associate(world, auth):
    uid = world.user("ana", "associate")
    auth.login("ana")
    return uid


def served_file(app, response, cache_dir: Path) -> Path:
    """The file the front-end server would send for this answer, checked to be in the cache."""
    header = app.config["SENDFILE_HEADER"]
    assert response.status_code == 200
    assert response.get_data() == b""
    other = next(h for h in HEADERS if h != header)
    assert other not in response.headers
    target = response.headers[header]
    if header == "X-Accel-Redirect":
        assert target.startswith(PREFIX)
        path = cache_dir / target.removeprefix(PREFIX)
    else:
        path = Path(target)
        assert path.is_absolute()
    real = Path(os.path.realpath(path))
    assert real.parent.parent == Path(os.path.realpath(cache_dir))  # never outside the cache
    assert real.is_file()
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store, private"
    assert response.headers["Content-Security-Policy"] == "default-src 'none'"
    return real


def _gray(data: bytes) -> bool:
    img = Image.open(io.BytesIO(data), formats=["JPEG", "PNG"])
    if img.mode == "L":
        return True
    arr = np.asarray(img.convert("RGB"), int)
    return int(np.abs(arr[..., 0] - arr[..., 1]).max()) <= 3


def _no_sendfile(response) -> bool:
    return not any(h in response.headers for h in HEADERS)


@pytest.mark.parametrize(
    ("header", "prefix", "fragment"),
    [
        ("X-Accel", "/_renditions/", "must be empty, X-Accel-Redirect or X-Sendfile"),
        ("x-sendfile", "/_renditions/", "must be empty, X-Accel-Redirect or X-Sendfile"),
        ("X-LIGHTTPD-send-file", "/_renditions/", "must be empty, X-Accel-Redirect or X-Sendfile"),
        ("X-Accel-Redirect", "_renditions/", "SENDFILE_PREFIX must be an absolute URI path"),
        ("X-Accel-Redirect", "/_renditions", "SENDFILE_PREFIX must be an absolute URI path"),
        ("X-Accel-Redirect", "/a/../b/", "SENDFILE_PREFIX must be an absolute URI path"),
    ],
)
def test_unknown_sendfile_settings_stop_the_app(db_url, tmp_path, clock, header, prefix, fragment):
    with pytest.raises(RuntimeError, match=fragment):
        make_app(db_url, tmp_path, clock, SENDFILE_HEADER=header, SENDFILE_PREFIX=prefix)


def test_safe_view_is_handed_to_the_front_end_server(app, world, client, associate, cache_dir):
    att = world.attachment(jpeg_bytes((400, 300)))
    for _ in range(2):  # rendered and stored, then a cache hit
        r = client.get(f"/media/{att}/safe")
        assert r.mimetype == "image/jpeg"
        path = served_file(app, r, cache_dir)
        assert path.suffix == ".jpg" and _gray(path.read_bytes())


def test_sendfile_answers_only_after_the_checks(app, world, client, clock, associate):
    att = world.attachment()
    anonymous = app.test_client()
    r = anonymous.get(f"/media/{att}/safe")
    assert r.status_code == 401 and _no_sendfile(r)
    with app.app_context():
        from wellbeing.db import db

        breaks.start_break(db.session, associate, "enforced", clock.now(), minutes=10)
        db.session.commit()
    r = client.get(f"/media/{att}/safe")
    assert r.status_code == 423 and _no_sendfile(r)


def test_reveal_is_logged_then_handed_over_once(app, world, auth, associate, cache_dir):
    att = world.attachment(jpeg_bytes((400, 300)))
    reply = auth.post(f"/view/{att}/reveal", {"level": "4", "client_event_id": "evt-sendfile-1"})
    url = reply.json["url"]
    with app.app_context():
        from wellbeing.db import db

        assert [e.level for e in db.session.scalars(select(ExposureEvent))] == [4]
    r = auth.post(url)
    path = served_file(app, r, cache_dir)
    assert not _gray(path.read_bytes())
    replay = auth.post(url)
    assert replay.status_code == 404 and _no_sendfile(replay)


def test_render_failure_sends_placeholder_bytes_not_a_header(app, world, auth, associate):
    data = jpeg_bytes((320, 240))
    att = world.attachment(data)
    with app.app_context():
        from wellbeing.db import db

        db.session.scalars(select(Blob)).one().data = data[:600]
        db.session.commit()
    url = auth.post(f"/view/{att}/reveal", {"level": "4", "client_event_id": "evt-corrupt-2"})
    r = auth.post(url.json["url"])
    assert r.status_code == 200 and _no_sendfile(r)
    shown = np.asarray(Image.open(io.BytesIO(r.data), formats=["JPEG", "PNG"]).convert("L"))
    assert shown.std() < 30  # a flat placeholder


def test_a_path_outside_the_cache_is_never_named(app, tmp_path):
    from wellbeing.renditions import engine, sendfile_response

    outside = tmp_path / "secret.jpg"
    outside.write_bytes(b"\xff\xd8\xff")
    with app.test_request_context():
        root = engine().cache.root
        for path in (
            outside,
            root / ".." / "secret.jpg",
            root / "ab" / ".." / ".." / "secret.jpg",
            root / "ab" / "not-a-key.jpg",
        ):
            with pytest.raises(ValueError):
                sendfile_response(path, "image/jpeg")


def test_video_storyboard_and_playback_are_handed_over(app, world, client, auth, cache_dir):
    from tests.wellbeing.test_video_web import _register

    world.user("ana", "associate")
    video = _register(world, client).json
    auth.login("ana")
    board = client.get(f"/media/{video['id']}/safe")
    assert board.mimetype == "image/jpeg"
    assert _gray(served_file(app, board, cache_dir).read_bytes())
    url = auth.post(f"/view/{video['id']}/play", {"client_event_id": "evt-play-sf01"}).json["url"]
    played = client.get(url, headers={"Range": "bytes=0-99"})
    assert played.mimetype == "video/mp4"
    assert served_file(app, played, cache_dir).read_bytes()[4:8] == b"ftyp"
