"""A video in a real Chromium: a silent storyboard first, then a blurred, muted playback
that the browser actually plays, never autoplayed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import blur
from exposure import attachments
from exposure.attachments import MediaFacts, Registration
from tests.blur.video_clips import Clip, make_clip
from tests.wellbeing.test_browser import (  # noqa: F401 - fixtures used by name
    Live,
    browser,
    live,
    net,
    page,
    sign_in_and_open,
)
from wellbeing.db import db

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _video(live: Live) -> int:  # noqa: F811
    data = make_clip(Clip(seconds=3.0))
    info = blur.probe_video(data)
    with live.app.app_context():
        att, _ = attachments.register(
            db.session,
            Registration(
                ticket_ref="T-9",
                external_id="v1",
                filename="clip.mp4",
                flag_state="flagged",
                categories=["graphic_violence"],
                severity=4,
            ),
            data,
            MediaFacts(
                "video",
                info.container,
                info.mime,
                info.width,
                info.height,
                0,
                duration_seconds=info.duration_seconds,
                has_audio=info.has_audio,
            ),
            live.clock.now(),
        )
        db.session.commit()
        return att.id


def test_blurred_muted_playback_plays_in_chromium(page: Any, live: Live, net: Any) -> None:  # noqa: F811
    live.world.user("ana", "associate")
    att = _video(live)
    sign_in_and_open(page, live, att, "ana")
    player = page.locator("#player")
    assert player.is_hidden()
    assert page.evaluate("document.querySelector('#player').autoplay") is False
    page.get_by_role("button", name="Play blurred, muted").click()
    player.wait_for(state="visible")
    assert page.evaluate("document.querySelector('#player').muted") is True
    # Not autoplayed: nothing moves until the associate presses play.
    page.wait_for_timeout(500)
    assert page.evaluate("document.querySelector('#player').currentTime") == 0
    page.evaluate("document.querySelector('#player').play()")
    page.wait_for_function(
        "() => { const v = document.querySelector('#player');"
        " return v.readyState >= 2 && v.currentTime > 0.3; }",
        timeout=15_000,
    )
    assert page.evaluate("document.querySelector('#player').muted") is True
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "viewer-video.png"), full_page=True)
    ranged = [r for r in net.to("/play/")]
    assert ranged, "the player fetched the playback rendition"
