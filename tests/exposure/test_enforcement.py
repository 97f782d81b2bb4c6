"""Synchronous enforcement over HTTP: the reveal that crosses a break rule is served (it was
logged), the next one is refused with 423 and the time left, and it all ends on time."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import select

from exposure.models import Break, ExposureEvent
from tests.conftest import Auth, World, make_app

BURST = """
version = "http-burst-1"
timezone = "UTC"

[[rules]]
id = "burst"
description = "Three severe reveals in 15 minutes: a 5-minute break."
metric = "reveals"
min_severity = 4
window = "rolling 15m"
threshold = 3
cooldown_minutes = 20
actions = [{ type = "break", minutes = 5 }]
"""


@pytest.fixture
def burst_app(db_url, tmp_path, clock) -> Iterator[Flask]:
    path = tmp_path / "policy.toml"
    path.write_text(BURST)
    app = make_app(db_url, tmp_path, clock, POLICY_FILE=str(path))
    yield app
    with app.app_context():
        from wellbeing.db import db

        db.session.close()
        db.dispose()


def reveal(auth: Auth, attachment_id: int, n: int):
    return auth.post(
        f"/view/{attachment_id}/reveal", {"level": "3", "client_event_id": f"evt-http-{n:04d}"}
    )


def test_the_reveal_that_crosses_the_rule_is_served_and_the_next_is_refused(burst_app, clock):
    world = World(burst_app, clock)
    world.user("ana", "associate")
    att = world.attachment(severity=4, external_id="severe")
    mild = world.attachment(severity=2, external_id="mild")
    clear = world.attachment(flag_state="clear", categories=[], external_id="clear")
    client = burst_app.test_client()
    auth = Auth(client)
    auth.login("ana")

    assert reveal(auth, mild, 0).status_code == 200  # not severe: does not count
    urls = []
    for n in range(1, 4):
        r = reveal(auth, att, n)
        assert r.status_code == 200, r.get_data(as_text=True)
        assert r.json["break_started"] is (n == 3)
        urls.append(r.json["url"])
        clock.advance(seconds=10)
    clock.advance(seconds=-10)  # the next request arrives in the same second as the third

    # The third reveal was logged before the break: its one-time URL still serves the image.
    image = auth.post(urls[-1])
    assert image.status_code == 200
    assert image.mimetype.startswith("image/")

    refused = reveal(auth, att, 4)
    assert refused.status_code == 423
    assert refused.json["seconds_left"] == 300
    assert refused.json["kind"] == "enforced"
    safe = client.get(f"/media/{att}/safe")
    assert safe.status_code == 423 and safe.json["seconds_left"] == 300
    assert client.get(f"/view/{att}").status_code == 423
    assert client.get(f"/media/{clear}/safe").status_code == 200  # unflagged work goes on

    with burst_app.app_context():
        from wellbeing.db import db

        logged = set(db.session.scalars(select(ExposureEvent.client_event_id)))
        assert "evt-http-0004" not in logged  # a refused reveal is not exposure
        assert len(db.session.scalars(select(Break)).all()) == 1
        db.session.close()

    clock.advance(seconds=299)
    assert client.get(f"/media/{att}/safe").json["seconds_left"] == 1
    clock.advance(seconds=1)
    assert client.get(f"/media/{att}/safe").status_code == 200
    assert reveal(auth, att, 5).status_code == 200
