"""The safe viewer in a real Chromium: what an associate sees, and what the ledger records.

An associate signs in through the login form, opens a flagged photo and gets the server's
level-1 rendition on screen; revealing colour, holding to peek and revealing a region each
put the matching rendition on screen and an exposure event in the ledger; a break replaces
the viewer with a countdown. The browser never receives the original bytes, and revealed
bytes only ever come from a POST. Screenshots land in test-artifacts/ for a human to look at.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from flask import Flask
from PIL import Image
from sqlalchemy import select

import blur
from exposure.breaks import start_break
from exposure.models import ExposureEvent
from tests.conftest import PASSWORD, World, make_app
from tests.wellbeing.browser_fixtures import (
    Network,
    chromium,
    screen_pixels,
    serve,
    shown_pixels,
)
from wellbeing.clock import FakeClock
from wellbeing.db import db

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
MEDIA = "#media"


@dataclass
class Live:
    url: str
    app: Flask
    clock: FakeClock
    world: World

    def events(self, user_id: int) -> list[ExposureEvent]:
        """The person's ledger as committed: read in a session of its own, not the server's."""
        with self.app.app_context():
            return list(
                db.session.scalars(
                    select(ExposureEvent)
                    .where(ExposureEvent.user_id == user_id)
                    .order_by(ExposureEvent.id)
                )
            )


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as found:
        yield found


@pytest.fixture
def live(db_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Live]:
    # The fake clock only moves when a test says so, so heartbeat durations are exact.
    app = make_app(db_url, tmp_path, clock, HEARTBEAT_SECONDS=1, HEARTBEAT_GRACE_SECONDS=5)
    try:
        with serve(app) as url:
            yield Live(url, app, clock, World(app, clock))
    finally:
        with app.app_context():
            db.dispose()


@pytest.fixture
def net() -> Network:
    return Network()


@pytest.fixture
def page(browser: Any, live: Live, net: Network) -> Iterator[Any]:
    context = browser.new_context(base_url=live.url, viewport={"width": 1000, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    net.attach(page)
    yield page
    context.close()


@pytest.fixture(scope="module")
def photo() -> bytes:
    """A real photograph with faces and fine detail, as a ticket attachment would carry."""
    from skimage import data

    out = io.BytesIO()
    Image.fromarray(data.astronaut()).save(out, "JPEG", quality=92)
    return out.getvalue()


# -- pixels ---------------------------------------------------------------------------------


def rendered(photo: bytes, level: int, region: Any = None) -> np.ndarray:
    """What the server renders at this level (the same engine and spec the app uses)."""
    spec = blur.Spec(level=level, region=region, max_size=1280)
    return decoded(blur.render(photo, spec).data)


def decoded(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data), formats=["JPEG", "PNG"]).convert("RGB"))


def luma(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(float) @ np.array([0.299, 0.587, 0.114])


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference per channel value, 0-255."""
    assert a.shape == b.shape
    return float(np.abs(a.astype(float) - b.astype(float)).mean())


def colourfulness(rgb: np.ndarray) -> float:
    """Mean spread between the channels of a pixel: about 0 for a grayscale image."""
    channels = rgb.astype(float)
    return float((channels.max(axis=2) - channels.min(axis=2)).mean())


def edge_energy(rgb: np.ndarray) -> float:
    """Variance of the Laplacian: high for sharp detail, near 0 after a heavy blur."""
    return float(cv2.Laplacian(luma(rgb), cv2.CV_64F).var())


# -- the page -------------------------------------------------------------------------------


def sign_in_and_open(page: Any, live: Live, attachment_id: int, username: str) -> None:
    """Open the viewer link as a ticket would, sign in on the form it leads to, land back."""
    page.goto(f"/view/{attachment_id}")
    page.wait_for_url(re.compile(r"/login\?next="))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live.url}/view/{attachment_id}")
    wait_for_image(page, revealed=None)


def wait_for_image(page: Any, revealed: str | None) -> None:
    """Wait until #media has loaded, showing a reveal of that level (None: the safe src)."""
    page.wait_for_function(
        """(level) => {
          const img = document.getElementById("media");
          const shown = level === null
            ? img.getAttribute("src") === document.getElementById("viewer").dataset.safeUrl
            : img.dataset.revealed === level;
          return shown && img.complete && img.naturalWidth > 0;
        }""",
        arg=revealed,
    )


def drag_region(page: Any, start: tuple[float, float], end: tuple[float, float]) -> None:
    """Turn on region drawing and drag between two points given as fractions of the image."""
    page.get_by_role("button", name="Reveal a region").click()
    assert page.locator("#region").get_attribute("aria-pressed") == "true"
    box = page.locator(MEDIA).bounding_box()

    def point(fraction: tuple[float, float]) -> tuple[float, float]:
        return box["x"] + fraction[0] * box["width"], box["y"] + fraction[1] * box["height"]

    page.mouse.move(*point(start))
    page.mouse.down()
    page.mouse.move(*point(end), steps=8)
    page.mouse.up()


def screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"viewer-{name}.png", full_page=True)


def wait_until(read: Callable[[], Any], ok: Callable[[Any], bool], seconds: float = 5) -> Any:
    """Poll ``read`` until ``ok`` holds or time runs out; return the last value."""
    deadline = time.monotonic() + seconds
    value = read()
    while not ok(value) and time.monotonic() < deadline:
        time.sleep(0.1)
        value = read()
    return value


def assert_original_never_reached_the_browser(
    net: Network, live: Live, photo: bytes, *, revealed: bool
) -> None:
    once = net.to("/media/once/")
    assert bool(once) == revealed, once
    assert all(method == "POST" for method, _ in once), once
    assert net.received(photo) == []
    assert [url for url in net.unreadable if "/media/" in url] == []
    # Everything came from the gateway itself: no CDN, no third party.
    strangers = [url for _, url in net.requests if not url.startswith((live.url, "blob:"))]
    assert strangers == []


# -- tests ----------------------------------------------------------------------------------


def test_safe_by_default_then_colour_reveal_is_logged_and_timed(
    page: Any, live: Live, net: Network, photo: bytes
) -> None:
    ana = live.world.user("ana", "associate")
    att = live.world.attachment(photo)
    original = decoded(photo)

    sign_in_and_open(page, live, att, "ana")
    assert page.locator("#category").inner_text() == "graphic_violence"
    assert page.locator("#level-name").inner_text() == "Showing: safe"
    screenshot(page, "safe")

    # On screen: the server's level-1 rendition, nothing like the photo.
    safe = shown_pixels(page)
    assert safe.shape == original.shape
    assert distance(safe, rendered(photo, 1)) < 2
    assert colourfulness(original) > 20
    assert colourfulness(safe) < 1
    assert edge_energy(safe) < 0.02 * edge_energy(original)
    on_screen = screen_pixels(page)
    # What the screen shows is that image, unscaled (the stage's rounded corners aside).
    assert distance(on_screen[8:-8, 8:-8], safe[8:-8, 8:-8]) < 2
    assert [(e.level, e.region) for e in live.events(ana)] == [(1, None)]

    page.get_by_role("button", name="Reveal colour").click()
    wait_for_image(page, revealed="4")
    colour = shown_pixels(page)
    assert distance(colour, original) < 3
    assert colourfulness(colour) > 0.9 * colourfulness(original)
    assert page.locator("#level-name").inner_text() == "Showing: original"
    assert page.get_by_role("button", name="Blur again").is_visible()
    screenshot(page, "colour")

    # The reveal is in the ledger, committed (read in a session of our own), at level 4.
    reveal = [e for e in live.events(ana) if e.level == 4]
    assert len(reveal) == 1
    assert (reveal[0].attachment_id, reveal[0].duration_seconds) == (att, 0)

    # Heartbeats extend it while the page is visible and focused: the server counts time
    # between heartbeats, and only the test moves the clock.
    def colour_seconds() -> float:
        return next(e.duration_seconds for e in live.events(ana) if e.level == 4)

    live.clock.advance(3)
    first = wait_until(colour_seconds, lambda s: s > 0)
    live.clock.advance(3)
    second = wait_until(colour_seconds, lambda s: s > first)
    assert (first, second) == (pytest.approx(3), pytest.approx(6))

    # Blurred again: the safe image is back and the colour view stops counting.
    page.get_by_role("button", name="Blur again").click()
    wait_for_image(page, revealed=None)
    assert distance(shown_pixels(page), safe) < 2
    assert page.locator("#level-name").inner_text() == "Showing: safe"
    view_event = page.locator("#viewer").get_attribute("data-event")
    live.clock.advance(3)
    with page.expect_response(lambda r: f"/events/{view_event}/heartbeat" in r.url):
        pass
    assert colour_seconds() == pytest.approx(6)

    assert_original_never_reached_the_browser(net, live, photo, revealed=True)


def test_hold_to_peek_shows_level_two_until_released(
    page: Any, live: Live, net: Network, photo: bytes
) -> None:
    ana = live.world.user("ana", "associate")
    att = live.world.attachment(photo)
    sign_in_and_open(page, live, att, "ana")
    safe = shown_pixels(page)

    page.get_by_role("button", name="Hold to peek").hover()
    page.mouse.down()
    wait_for_image(page, revealed="2")
    peek = shown_pixels(page)
    screenshot(page, "peek")
    assert distance(peek, rendered(photo, 2)) < 2
    assert distance(peek, safe) > 10
    assert page.locator("#level-name").inner_text() == "Showing: peek"
    assert colourfulness(peek) < 1
    # Less blurred than the safe look, still far from the sharp photo.
    assert edge_energy(safe) < edge_energy(peek) < 0.5 * edge_energy(decoded(photo))

    page.mouse.up()
    wait_for_image(page, revealed=None)
    assert distance(shown_pixels(page), safe) < 2
    assert page.locator("#level-name").inner_text() == "Showing: safe"
    assert [e.level for e in live.events(ana)] == [1, 2]
    assert_original_never_reached_the_browser(net, live, photo, revealed=True)


def test_region_reveal_is_sharp_only_inside_the_dragged_rectangle(
    page: Any, live: Live, net: Network, photo: bytes
) -> None:
    ana = live.world.user("ana", "associate")
    att = live.world.attachment(photo)
    sign_in_and_open(page, live, att, "ana")

    drawn = (0.30, 0.20, 0.40, 0.35)  # x, y, w, h as fractions of the image
    drag_region(page, drawn[:2], (drawn[0] + drawn[2], drawn[1] + drawn[3]))
    wait_for_image(page, revealed="3")
    assert page.locator("#level-name").inner_text() == "Showing: grayscale (one region)"
    screenshot(page, "region")

    regions = [e for e in live.events(ana) if e.level == 3]
    assert len(regions) == 1 and regions[0].region is not None
    logged = tuple(float(v) for v in regions[0].region.split(","))
    assert logged == pytest.approx(drawn, abs=0.01)

    shown = shown_pixels(page)
    assert distance(shown, rendered(photo, 3, logged)) < 2
    assert colourfulness(shown) < 1
    height, width = shown.shape[:2]
    x0, y0 = round(drawn[0] * width), round(drawn[1] * height)
    x1, y1 = x0 + round(drawn[2] * width), y0 + round(drawn[3] * height)
    inside = (slice(y0 + 4, y1 - 4), slice(x0 + 4, x1 - 4))
    original = decoded(photo)
    # Sharp inside: the detail of the photo (in gray); blurred outside, left and right.
    assert edge_energy(shown[inside]) > 0.7 * edge_energy(original[inside])
    for outside in (np.s_[:, : x0 - 4], np.s_[:, x1 + 4 :]):
        assert edge_energy(shown[outside]) < 0.05 * edge_energy(original[outside])

    # A drag that ends past the image's corner still reveals, clipped to the image.
    first_src = page.locator(MEDIA).get_attribute("src")
    drag_region(page, (0.6, 0.6), (1.15, 1.15))
    page.wait_for_function(
        """(before) => {
          const img = document.getElementById("media");
          return img.getAttribute("src") !== before && img.complete && img.naturalWidth > 0;
        }""",
        arg=first_src,
    )
    assert page.locator("#region-box").is_hidden()
    regions = [e for e in live.events(ana) if e.level == 3]
    assert len(regions) == 2 and regions[1].region is not None
    clipped = tuple(float(v) for v in regions[1].region.split(","))
    assert clipped == pytest.approx((0.6, 0.6, 0.4, 0.4), abs=0.01)
    assert distance(shown_pixels(page), rendered(photo, 3, clipped)) < 2
    assert_original_never_reached_the_browser(net, live, photo, revealed=True)


def test_break_replaces_the_viewer_with_a_countdown(
    page: Any, live: Live, net: Network, photo: bytes
) -> None:
    ana = live.world.user("ana", "associate")
    att = live.world.attachment(photo)
    sign_in_and_open(page, live, att, "ana")

    with live.app.app_context():
        start_break(db.session, ana, "enforced", live.clock.now(), minutes=5)
        db.session.commit()
    response = page.reload()
    assert response is not None and response.status == 423

    assert page.get_by_role("heading", name="Time to pause").is_visible()
    assert page.locator(MEDIA).count() == 0
    assert page.locator("#viewer").count() == 0
    countdown = page.locator(".countdown")
    seconds = [_seconds(countdown.inner_text())]
    page.wait_for_function(
        "(before) => document.querySelector('.countdown').textContent !== before",
        arg=countdown.inner_text(),
    )
    seconds.append(_seconds(countdown.inner_text()))
    assert 290 <= seconds[1] < seconds[0] <= 300
    screenshot(page, "break")

    # The page is only a courtesy: the server refuses the media itself, too.
    status = page.evaluate(f"fetch('/media/{att}/safe').then((r) => r.status)")
    assert status == 423
    assert_original_never_reached_the_browser(net, live, photo, revealed=False)


def _seconds(text: str) -> int:
    match = re.fullmatch(r"(\d+) min (\d+) s", text.strip())
    assert match, text
    return int(match[1]) * 60 + int(match[2])
