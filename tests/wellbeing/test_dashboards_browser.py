"""My day and Exposure in a real Chromium: they load, show the numbers the ledger holds,
and their controls work (stepping away starts a break with a countdown; the week and team
selectors change what the Exposure page shows; the CSV downloads). Screenshots of each page,
wide and narrow, land in test-artifacts/ for a human to look at.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.conftest import PASSWORD, World, make_app
from tests.wellbeing.browser_fixtures import Network, chromium, serve
from tests.wellbeing.test_dashboards import START, Recorder, at, weekly
from wellbeing.clock import FakeClock
from wellbeing.db import db

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@dataclass
class Live:
    url: str
    app: Flask
    clock: FakeClock
    world: World
    rec: Recorder


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as found:
        yield found


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def live(db_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Live]:
    app = make_app(db_url, tmp_path, clock)
    world = World(app, clock)
    try:
        with serve(app) as url:
            yield Live(url, app, clock, world, Recorder(app, clock, world))
    finally:
        with app.app_context():
            db.dispose()


@pytest.fixture
def net() -> Network:
    return Network()


@pytest.fixture
def page(browser: Any, live: Live, net: Network) -> Iterator[Any]:
    context = browser.new_context(
        base_url=live.url, viewport={"width": 1100, "height": 900}, accept_downloads=True
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    net.attach(page)
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Refused to" in m.text else None)
    yield page
    context.close()
    # The CSP refuses inline styles and scripts: the pages must not need any.
    assert refused == []


def sign_in(page: Any, username: str) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/$"))


def screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"dashboard-{name}.png", full_page=True)


def narrow_screenshot(page: Any, name: str) -> None:
    """The same page on a phone-sized screen: nothing may be cut off or overflow the page."""
    size = page.viewport_size
    page.set_viewport_size({"width": 390, "height": 844})
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    screenshot(page, f"{name}-narrow")
    page.set_viewport_size(size)
    assert overflow <= 0


def only_the_gateway(net: Network, live: Live) -> None:
    strangers = [url for _, url in net.requests if not url.startswith(live.url)]
    assert strangers == []  # no CDN, no third-party chart library


def countdown_seconds(page: Any) -> int:
    match = re.fullmatch(r"(\d+) min (\d+) s", page.locator(".countdown").inner_text().strip())
    assert match
    return int(match[1]) * 60 + int(match[2])


def test_my_day_shows_the_numbers_and_stepping_away_starts_a_break(
    page: Any, live: Live, net: Network
) -> None:
    ana = live.world.user("ana", "associate")
    rec = live.rec
    today = date(2026, 1, 7)
    rec.view(ana, at(today - timedelta(days=2), 10), "self_harm", 2, 20 * 60)
    rec.view(ana, at(today - timedelta(days=1), 14), "graphic_violence", 4, 45 * 60)
    rec.view(ana, at(today, 9, 5), "graphic_violence", 4, 25 * 60)
    rec.view(ana, at(today, 10, 10), "torture", 3, 12 * 60)
    rec.view(ana, at(today, 11), "graphic_violence", 1, 30)
    rec.at(at(today, 11, 30))
    week_start = at(today - timedelta(days=6), 0)
    graphic_today = sum(s.graphic for s in rec.seen if s.at >= at(today, 0))
    dose_week = sum(s.dose for s in rec.seen if s.at >= week_start)

    sign_in(page, "ana")
    assert page.get_by_role("heading", name="Hello, ana").is_visible()
    shown = page.locator("#today-graphic .value").inner_text()
    assert float(shown) == pytest.approx(graphic_today, abs=0.05)
    assert float(page.locator("#week-dose .value").inner_text()) == pytest.approx(
        dose_week, abs=0.05
    )
    percent = round(100 * graphic_today / 240)
    assert page.locator("#today-graphic .of-cap").inner_text() == f"of 240 ({percent}%)"
    # The charts are drawn by the server and named for assistive technology.
    today_chart = page.get_by_role("img", name="Today, hour by hour: graphic minutes and dose")
    assert today_chart.is_visible()
    week_chart = page.get_by_role("img", name=re.compile("^The last 7 days, day by day"))
    assert week_chart.is_visible()
    assert week_chart.locator("line.reference").count() == 1
    # Without JavaScript the numbers are there too, as a table behind a disclosure.
    page.locator("#week-heading ~ details summary").click()
    yesterday = page.locator("#table-week tr", has_text="Tuesday 6 January")
    assert yesterday.locator("td").first.inner_text() == "45.0"
    recent = page.locator("#recent tbody tr")
    assert recent.count() == 5
    assert recent.first.locator("td").all_inner_texts() == ["graphic violence", "safe", "30"]
    screenshot(page, "my-day")
    narrow_screenshot(page, "my-day")

    # Step away: a confidential break starts, with a countdown, and media is refused.
    page.get_by_label("Step away for").select_option("5")
    page.get_by_role("button", name="Step away").click()
    page.wait_for_selector("#break-status .countdown")
    assert "You are on a break" in page.locator("#break-status").inner_text()
    first = countdown_seconds(page)
    page.wait_for_function(
        "(before) => document.querySelector('.countdown').textContent !== before",
        arg=page.locator(".countdown").inner_text(),
    )
    assert 290 <= countdown_seconds(page) < first <= 300
    attachment = live.rec.items["graphic_violence"]
    status = page.evaluate(f"fetch('/media/{attachment}/safe').then((r) => r.status)")
    assert status == 423
    screenshot(page, "my-day-break")
    only_the_gateway(net, live)


def test_exposure_selectors_change_the_week_and_team_and_the_csv_downloads(
    page: Any, live: Live, net: Network
) -> None:
    world, rec = live.world, live.rec
    a, b = world.team("Queue A"), world.team("Queue B")
    people = {n: world.user(n, "associate", team_id=a) for n in ("Ana", "Ade", "Abe")}
    people |= {n: world.user(n, "associate", team_id=b) for n in ("Bea", "Bo")}
    world.user("wanda", "wellbeing")
    w1, w2 = START.date(), START.date() + timedelta(days=7)
    rec.view(people["Bea"], at(w1, 10), "torture", 4, 90 * 60)
    rec.view(people["Bo"], at(w1 + timedelta(days=2), 10), "graphic_violence", 3, 40 * 60)
    for day in range(3):
        rec.view(people["Ana"], at(w2 + timedelta(days=day), 9), "graphic_violence", 4, 150 * 60)
        if day == 0:
            rec.view(people["Ade"], at(w2, 13), "self_harm", 2, 35 * 60)
        if day == 1:
            rec.view(people["Bea"], at(w2 + timedelta(days=1), 14), "murder", 3, 70 * 60)
    rec.at(at(w2 + timedelta(days=3), 10))

    sign_in(page, "wanda")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Exposure").click()
    page.wait_for_url(re.compile(r"/exposure$"))
    values = weekly(rec, w2, list(people.values()))
    ana = values[people["Ana"]]
    assert ana["dose"] >= 1500  # over the weekly threshold
    row = page.locator("#by-team tr", has_text="All teams")
    cells = row.locator("td").all_inner_texts()
    assert cells[0] == "5" and cells[5] == "1"
    trend = page.get_by_role("img", name=re.compile("Weekly dose per person over 8 weeks"))
    assert trend.is_visible()
    screenshot(page, "exposure")
    narrow_screenshot(page, "exposure")

    # Choose the week before and one team, the way a person would.
    page.get_by_label("Week containing").fill((w1 + timedelta(days=3)).isoformat())
    page.get_by_label("Team", exact=True).select_option(label="Queue B")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(rf"/exposure\?week={w1 + timedelta(days=3)}&team={b}$"))
    assert "Week of Monday 29 December 2025" in page.locator("#scope").inner_text()
    assert page.locator("#by-team tbody tr").count() == 1
    before = weekly(rec, w1, [people["Bea"], people["Bo"]])
    median = (before[people["Bea"]]["graphic"] + before[people["Bo"]]["graphic"]) / 2
    cells = page.locator("#by-team tr", has_text="Queue B").locator("td").all_inner_texts()
    assert float(cells[1]) == pytest.approx(median, abs=0.05)
    assert page.locator("#people tbody tr").all_inner_texts()[0].startswith("Bea")
    screenshot(page, "exposure-team")

    # The CSV of this view downloads with the same numbers.
    with page.expect_download() as info:
        page.get_by_role("link", name="Download this page as CSV").click()
    download = info.value
    assert download.suggested_filename == f"exposure-2025-12-29-team-{b}.csv"
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    queue_b = next(r for r in rows if r[:1] == ["Queue B"])
    assert queue_b[1:] == cells

    # Drill down to one person (their page is audited).
    page.get_by_role("link", name="Bea").click()
    page.wait_for_url(re.compile(rf"/people/{people['Bea']}$"))
    assert page.get_by_role("heading", name="Bea").is_visible()
    only_the_gateway(net, live)
