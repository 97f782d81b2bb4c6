"""My day and Exposure: the numbers on the pages against numbers computed here, from events
recorded through the ledger with the fake clock; who may see which page; the CSV export.

Expected values are computed in this file from the events it records (minutes floored at
10 s, the default policy's weights and factors, linear-interpolated percentiles by numpy),
not by the code under test.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import numpy as np
import pytest
from flask import Flask
from sqlalchemy import select

from exposure import breaks, checkins, ledger
from exposure.models import Attachment, AuditEvent, CheckIn, Team, User
from exposure.policy import parse_policy
from tests.conftest import Auth, World, make_app
from wellbeing import charts
from wellbeing.clock import FakeClock
from wellbeing.dashboards import Caps, caps, csv_safe
from wellbeing.db import db

# The default policy's numbers, written out here so the test does not ask the code.
WEIGHT = {"graphic_violence": 3.5, "self_harm": 3.5, "torture": 4.5, "murder": 4.5}
LEVEL_FACTOR = {1: 0.05, 2: 0.3, 3: 0.7, 4: 1.0}
FLOOR_SECONDS = 10
DAILY_CAP = 240
WEEKLY_DOSE = 1500

START = datetime(2025, 12, 29, 8, 0, tzinfo=UTC)  # a Monday
W1, W2 = date(2025, 12, 29), date(2026, 1, 5)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


# -- recording exposure through the ledger ----------------------------------------------------


@dataclass(frozen=True)
class Seen:
    user: int
    at: datetime
    category: str
    level: int
    seconds: float

    @property
    def minutes(self) -> float:
        return max(self.seconds, FLOOR_SECONDS) / 60

    @property
    def graphic(self) -> float:
        return self.minutes if self.level >= 2 else 0.0

    @property
    def dose(self) -> float:
        return self.minutes * WEIGHT[self.category] * LEVEL_FACTOR[self.level]


_serial = itertools.count(1)


class Recorder:
    """Moves the fake clock forward and records views (and their heartbeats) in the ledger."""

    def __init__(self, app: Flask, clock: FakeClock, world: World) -> None:
        self.app, self.clock, self.world = app, clock, world
        self.items: dict[str, int] = {}
        self.seen: list[Seen] = []

    def item(self, category: str) -> int:
        if category not in self.items:
            self.items[category] = self.world.attachment(categories=[category])
        return self.items[category]

    def at(self, when: datetime) -> None:
        assert when >= self.clock.now(), "the timeline must move forward"
        self.clock.advance((when - self.clock.now()).total_seconds())

    def view(self, user: int, when: datetime, category: str, level: int, seconds: float) -> Seen:
        attachment = self.item(category)
        self.at(when)
        event_id = f"evt-{next(_serial):08d}"
        with self.app.app_context():
            att = db.session.get(Attachment, attachment)
            ledger.record_view(
                db.session,
                user,
                att,
                level=level,
                region=None,
                modality="image",
                client_event_id=event_id,
                now=self.clock.now(),
            )
            db.session.commit()
            if seconds:
                self.clock.advance(seconds)
                ledger.heartbeat(
                    db.session,
                    user,
                    event_id,
                    self.clock.now(),
                    grace_seconds=10**6,
                    cap_seconds=10**6,
                )
                db.session.commit()
        seen = Seen(user, when, category, level, seconds)
        self.seen.append(seen)
        return seen


@pytest.fixture
def rec(app: Flask, clock: FakeClock, world: World) -> Recorder:
    return Recorder(app, clock, world)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


# -- reading pages -------------------------------------------------------------------------


class _Tables(HTMLParser):
    """Every <table id=...> as rows of cell texts (header row first)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.links: dict[str, list[str]] = defaultdict(list)
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "table":
            self._table = found.get("id") or ""
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "a" and self._table is not None:
            self.links[self._table].append(found.get("href") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def tables(html: str) -> _Tables:
    parser = _Tables()
    parser.feed(html)
    return parser


def records(html: str, table_id: str) -> dict[str, dict[str, str]]:
    """A table as {row header: {column header: cell}}."""
    head, *rows = tables(html).tables[table_id]
    return {row[0]: dict(zip(head, row, strict=True)) for row in rows}


def stat(html: str, stat_id: str) -> float:
    match = re.search(rf'id="{stat_id}".*?<span class="value">([^<]+)</span>', html, re.S)
    assert match, stat_id
    return float(match[1])


def near(expected: float) -> Any:
    """Pages show one decimal."""
    return pytest.approx(expected, abs=0.05 + 1e-9)


def num(text: str) -> float:
    return float(text)


def sign_in(app: Flask, username: str) -> Auth:
    auth = Auth(app.test_client())
    assert auth.login(username).status_code == 302
    return auth


# -- charts and CSV cells, no database --------------------------------------------------------


def test_nice_scale_covers_the_largest_value_with_round_steps() -> None:
    assert charts.nice_scale(0) == (4.0, 1.0)
    assert charts.nice_scale(240) == (300, 100)
    assert charts.nice_scale(1575) == (2000, 500)
    assert charts.nice_scale(5.7) == (6, 2)
    for value in (0.3, 7, 19.8, 99, 101, 1234.5):
        top, step = charts.nice_scale(value)
        assert top >= value and top / step <= 5


def test_chart_is_accessible_svg_with_escaped_text() -> None:
    import xml.etree.ElementTree as ET

    chart = charts.bar_chart(
        "c1",
        title="<script>alert(1)</script>",
        desc="a & b",
        labels=["09", "10"],
        series=[charts.Series("Dose", [1.0, 2.5]), charts.Series("Graphic", [0.0, 3.0])],
        unit="minutes",
        reference=charts.Reference(4, "cap 4"),
    )
    assert "<script>" not in chart.svg
    root = ET.fromstring(str(chart.svg))
    ns = "{http://www.w3.org/2000/svg}"
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "c1-title c1-desc"
    assert root.find(f"{ns}title").text == "<script>alert(1)</script>"
    assert root.find(f"{ns}desc").text == "a & b"
    bars = [r for r in root.iter(f"{ns}rect") if r.find(f"{ns}title") is not None]
    assert [b.find(f"{ns}title").text for b in bars] == [
        "09: Dose 1",
        "09: Graphic 0",
        "10: Dose 2.5",
        "10: Graphic 3",
    ]
    # Taller bars for larger values; the zero bar has no height.
    heights = [float(b.get("height")) for b in bars]
    assert heights[1] == 0 and heights[0] < heights[2] < heights[3]
    assert root.find(f"{ns}line[@class='reference']") is not None
    # The key is HTML next to the chart: a box per series, a dashed line for the cap.
    assert chart.legend.count("<li>") == 3 and "key line dashed rust" in chart.legend


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("Queue A", "Queue A"),
        ("12.5", "12.5"),
    ],
)
def test_csv_cells_that_start_a_formula_are_quoted(cell: str, written: str) -> None:
    assert csv_safe(cell) == written


NO_CAPS = """
version = "no-caps"
[[rules]]
id = "micro-break"
description = "Reveals in a burst: a short break."
metric = "reveals"
window = "rolling 15m"
threshold = 5
actions = [{ type = "break", minutes = 5 }]
"""


def _rule(rule_id: str, metric: str, window: str, threshold: int, action: str, extra: str = ""):
    return f"""
[[rules]]
id = "{rule_id}"
description = "test"
metric = "{metric}"
window = "{window}"
threshold = {threshold}
actions = [{{ type = "{action}" }}]
{extra}"""


def test_caps_are_the_policys_thresholds_on_a_persons_totals() -> None:
    text = "\n".join(
        [
            'version = "caps"',
            _rule("warn", "graphic_minutes", "day", 50, "alert_lead"),  # a warning, not a cap
            _rule("cap", "graphic_minutes", "day", 100, "rotate"),
            _rule("severe", "dose", "week", 300, "alert_wellbeing", 'categories = ["torture"]'),
            _rule("week", "dose", "week", 900, "alert_wellbeing"),
            _rule("day-dose", "dose", "day", 400, "alert_wellbeing"),
        ]
    )
    assert caps(parse_policy(text)) == Caps(
        daily_graphic=100, daily_dose=400, weekly_graphic=None, weekly_dose=900
    )
    assert caps(parse_policy(NO_CAPS)) == Caps(None, None, None, None)


def test_pages_without_caps_or_people_still_read_plainly(db_url, tmp_path, clock):
    policy_file = tmp_path / "policy.toml"
    policy_file.write_text(NO_CAPS)
    app = make_app(db_url, tmp_path, clock, POLICY_FILE=str(policy_file))
    world = World(app, clock)
    world.user("wanda", "wellbeing")
    auth = sign_in(app, "wanda")
    page = auth.client.get("/exposure").get_data(as_text=True)
    assert "Over the weekly dose threshold (none set)" in page
    assert records(page, "by-team")["All teams"]["People"] == "0"
    assert tables(page).tables["by-category"][1] == ["Nothing to show for this week."]
    assert [row[1] for row in tables(page).tables["trend"][1:]] == ["0"] * 8

    ana = world.user("ana", "associate")
    Recorder(app, clock, world).view(ana, clock.now(), "torture", 4, 60)
    page = sign_in(app, "ana").client.get("/").get_data(as_text=True)
    assert stat(page, "today-graphic") == 1.0
    assert page.count("no cap set") == 4 and "<meter" not in page
    assert 'class="reference"' not in page
    page = auth.client.get("/exposure").get_data(as_text=True)
    assert records(page, "by-team")["All teams"]["Over the weekly dose threshold (none set)"] == (
        "n/a"
    )


# -- My day ----------------------------------------------------------------------------------


def test_my_day_shows_own_exposure_today_and_this_week(app, clock, world, rec):
    ana = world.user("ana", "associate")
    bob = world.user("bob", "associate")
    rec.view(ana, at(date(2025, 12, 30), 10), "graphic_violence", 4, 120)  # 8 days ago
    rec.view(ana, at(date(2026, 1, 2), 10), "self_harm", 2, 30)
    rec.view(ana, at(date(2026, 1, 2), 10, 5), "graphic_violence", 1, 5)
    today = date(2026, 1, 7)
    rec.view(ana, at(today, 9, 10), "graphic_violence", 4, 300)
    rec.view(ana, at(today, 9, 20), "torture", 3, 40)
    rec.view(bob, at(today, 10), "murder", 4, 600)
    for i in range(8):
        rec.view(ana, at(today, 13, i), "graphic_violence", 1, 5)
    rec.at(at(today, 15))

    def total(since: datetime, what: str) -> float:
        return sum(getattr(s, what) for s in rec.seen if s.user == ana and s.at >= since)

    midnight, week_start = at(today, 0), at(today - timedelta(days=6), 0)
    auth = sign_in(app, "ana")
    for path in ("/", "/me", f"/me?user={bob}"):
        page = auth.client.get(path).get_data(as_text=True)
        assert "Hello, ana" in page
        assert stat(page, "today-graphic") == near(total(midnight, "graphic"))
        assert stat(page, "today-dose") == near(total(midnight, "dose"))
        assert stat(page, "week-graphic") == near(total(week_start, "graphic"))
        assert stat(page, "week-dose") == near(total(week_start, "dose"))
        assert stat(page, "today-reveals") == 2
        assert stat(page, "week-reveals") == 3
        # Only ana's own: bob's murder views appear nowhere on her page.
        assert "murder" not in page

    # Against the caps: the daily graphic cap and the weekly dose threshold of the policy.
    assert 'id="today-graphic-meter" min="0" max="240"' in page
    assert 'id="week-dose-meter" min="0" max="1500"' in page

    # The hour-by-hour and day-by-day tables behind the charts.
    hours = records(page, "table-today")
    assert len(hours) == 24
    nine = [s for s in rec.seen if s.user == ana and at(today, 9) <= s.at < at(today, 10)]
    assert num(hours["09:00 to 10:00"]["Graphic minutes"]) == near(sum(s.graphic for s in nine))
    assert num(hours["09:00 to 10:00"]["Dose"]) == near(sum(s.dose for s in nine))
    assert num(hours["13:00 to 14:00"]["Dose"]) == near(8 * 10 / 60 * 3.5 * 0.05)
    assert hours["10:00 to 11:00"]["Dose"] == "0.0"
    days = records(page, "table-week")
    assert list(days) == [
        f"{d:%A} {d.day} January" for d in (date(2026, 1, n) for n in range(1, 8))
    ]
    assert num(days["Friday 2 January"]["Dose"]) == near(
        (30 / 60) * 3.5 * 0.3 + (10 / 60) * 3.5 * 0.05
    )
    assert days["Friday 2 January"]["Reveals"] == "1"

    # Two SVG charts with text alternatives, the week's with the daily cap drawn on it.
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart"') == 2
    assert '<title id="chart-week-title">' in page
    assert "Daily cap on graphic minutes (240)" in page

    # Recent views: the last 10, newest first, without any link to the media.
    recent = tables(page).tables["recent"][1:]
    assert len(recent) == 10
    assert [r[1:3] for r in recent[:8]] == [["graphic violence", "safe"]] * 8
    assert recent[8][1:] == ["torture", "grayscale", "40"]
    assert recent[9][1:] == ["graphic violence", "original", "300"]
    assert f"/media/{rec.items['torture']}" not in page and "/view/" not in page


def test_my_day_break_countdown_and_step_away_still_work(app, world):
    world.user("ana", "associate")
    auth = sign_in(app, "ana")
    page = auth.client.get("/").get_data(as_text=True)
    assert "Sensitive media is available to you." in page
    assert "Nothing viewed yet." in page
    response = auth.post("/step-away", {"minutes": "15"})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    page = auth.client.get("/").get_data(as_text=True)
    assert "You are on a break" in page
    assert 'class="countdown" data-seconds="900"' in page
    assert "countdown.js" in page


def test_my_day_is_for_associates_and_home_stays_for_others(app, world):
    world.user("lee", "lead")
    world.user("wanda", "wellbeing")
    for name in ("lee", "wanda"):
        auth = sign_in(app, name)
        assert auth.client.get("/me").status_code == 403
        home = auth.client.get("/").get_data(as_text=True)
        assert f"Hello, {name}" in home and "Graphic minutes" not in home
    assert Auth(app.test_client()).client.get("/me").status_code == 302


# -- Exposure --------------------------------------------------------------------------------


@dataclass
class Org:
    a: int
    b: int
    people: dict[str, int]


@pytest.fixture
def org(app, clock, world, rec) -> Org:
    """Two teams over two weeks; ana's team has someone over both caps."""
    a, b = world.team("Queue A"), world.team("Queue B")
    people = {n: world.user(n, "associate", team_id=a) for n in ("a1", "a2", "a3")}
    people |= {n: world.user(n, "associate", team_id=b) for n in ("b1", "b2")}
    people["lee"] = world.user("lee", "lead", team_id=a, lead_of=True)
    people["wanda"] = world.user("wanda", "wellbeing")
    p = people
    # Week 1
    rec.view(p["b1"], at(date(2025, 12, 30), 10), "torture", 4, 100 * 60)
    rec.view(p["b2"], at(date(2025, 12, 31), 10), "graphic_violence", 4, 20 * 60)
    rec.view(p["a1"], at(date(2026, 1, 1), 9), "graphic_violence", 2, 60 * 60)
    with app.app_context():
        breaks.start_break(db.session, p["b2"], "enforced", clock.now(), minutes=5)
        db.session.commit()
    # Week 2
    mon, tue, wed = date(2026, 1, 5), date(2026, 1, 6), date(2026, 1, 7)
    rec.view(p["a1"], at(mon, 9), "graphic_violence", 4, 250 * 60)
    with app.app_context():
        s = db.session
        breaks.start_break(s, p["a1"], "rotation", clock.now(), minutes=12 * 60)
        rec.at(at(mon, 13, 15))
        breaks.start_break(s, p["a1"], "enforced", clock.now(), minutes=10)
        s.commit()
    rec.view(p["a2"], at(mon, 14), "self_harm", 2, 30 * 60)
    rec.view(p["a2"], at(mon, 14, 40), "graphic_violence", 1, 10 * 60)
    rec.view(p["a1"], at(tue, 9), "graphic_violence", 4, 200 * 60)
    rec.view(p["b1"], at(tue, 13), "torture", 3, 60 * 60)
    with app.app_context():
        s = db.session
        now = clock.now()
        ended = breaks.start_break(s, p["b1"], "enforced", now, minutes=30)
        breaks.end_break(s, ended.id, now, by_user_id=p["lee"], reason="test")
        breaks.start_break(s, p["a2"], "step_away", now, minutes=10)  # confidential
        due = at(wed, 12)
        cid = {}
        for name, key in (("a1", "x1"), ("a2", "x2"), ("b1", "x3")):
            row = checkins.schedule(
                s, p[name], key=key, reason="periodic", instrument="who5", due_at=due, now=now
            )
            assert row is not None
            cid[name] = row.id
        checkins.schedule(
            s, p["b2"], key="old", reason="periodic", instrument="who5", due_at=at(W1, 9), now=now
        )
        checkins.answer(s, cid["a1"], p["a1"], [1, 1, 1, 1, 1], now)  # escalates
        checkins.answer(s, cid["b1"], p["b1"], [4, 4, 4, 4, 4], now)
        row = s.get(CheckIn, cid["a2"])
        assert row is not None
        row.overdue_alerted_at = now
        s.commit()
    rec.at(at(wed, 14, 55))
    with app.app_context():
        breaks.start_break(db.session, p["a2"], "enforced", clock.now(), minutes=30)
        db.session.commit()
    rec.at(at(wed, 15))
    return Org(a, b, people)


def weekly(rec: Recorder, monday: date, ids: list[int]) -> dict[int, dict[str, float]]:
    start, end = at(monday, 0), at(monday + timedelta(days=7), 0)
    out: dict[int, dict[str, float]] = {
        i: {"graphic": 0.0, "dose": 0.0, "busiest": 0.0} for i in ids
    }
    per_day: dict[tuple[int, date], float] = defaultdict(float)
    for s in rec.seen:
        if s.user in out and start <= s.at < end:
            out[s.user]["graphic"] += s.graphic
            out[s.user]["dose"] += s.dose
            per_day[(s.user, s.at.date())] += s.graphic
    for (user, _), minutes in per_day.items():
        out[user]["busiest"] = max(out[user]["busiest"], minutes)
    return out


def check_team_row(row: dict[str, str], values: list[dict[str, float]]) -> None:
    graphic = [v["graphic"] for v in values]
    dose = [v["dose"] for v in values]
    assert int(row["People"]) == len(values)
    assert num(row["Graphic minutes: median"]) == near(np.percentile(graphic, 50))
    assert num(row["Graphic minutes: p90"]) == near(np.percentile(graphic, 90))
    assert num(row["Dose: median"]) == near(np.percentile(dose, 50))
    assert num(row["Dose: p90"]) == near(np.percentile(dose, 90))
    assert int(row["Over the weekly dose threshold (1500)"]) == sum(d >= WEEKLY_DOSE for d in dose)
    assert int(row["Hit the daily graphic-minutes cap (240) on any day"]) == sum(
        v["busiest"] >= DAILY_CAP for v in values
    )


def test_exposure_shows_distributions_per_team_and_category(app, org, rec):
    p = org.people
    team_a = [p["a1"], p["a2"], p["a3"]]
    team_b = [p["b1"], p["b2"]]
    week = weekly(rec, W2, team_a + team_b)
    assert week[p["a1"]]["dose"] >= WEEKLY_DOSE and week[p["a1"]]["busiest"] >= DAILY_CAP

    auth = sign_in(app, "wanda")
    page = auth.client.get("/exposure").get_data(as_text=True)
    assert "Week of Monday 5 January 2026" in page
    by_team = records(page, "by-team")
    assert list(by_team) == ["Queue A", "Queue B", "All teams"]
    check_team_row(by_team["Queue A"], [week[i] for i in team_a])
    check_team_row(by_team["Queue B"], [week[i] for i in team_b])
    check_team_row(by_team["All teams"], list(week.values()))
    assert by_team["Queue A"]["Over the weekly dose threshold (1500)"] == "1"

    # Per category, across the people who saw it this week.
    by_category = records(page, "by-category")
    assert list(by_category) == ["torture", "graphic violence", "self harm"]
    for name, category in (("torture", "torture"), ("graphic violence", "graphic_violence")):
        seen = [s for s in rec.seen if s.category == category and s.at >= at(W2, 0)]
        people = sorted({s.user for s in seen})
        graphic = [sum(s.graphic for s in seen if s.user == u) for u in people]
        dose = [sum(s.dose for s in seen if s.user == u) for u in people]
        row = by_category[name]
        assert int(row["People exposed"]) == len(people)
        assert num(row["Graphic minutes: median"]) == near(np.percentile(graphic, 50))
        assert num(row["Graphic minutes: p90"]) == near(np.percentile(graphic, 90))
        assert num(row["Dose: median"]) == near(np.percentile(dose, 50))
        assert num(row["Dose: p90"]) == near(np.percentile(dose, 90))
        assert int(row["Reveals"]) == sum(1 for s in seen if s.level >= 2)

    # Trend: eight weeks, ending with this one; the week before has its own numbers.
    trend = records(page, "trend")
    assert list(trend)[-2:] == ["2025-12-29", "2026-01-05"] and len(trend) == 8
    before = weekly(rec, W1, team_a + team_b)
    for monday, values in (("2025-12-29", before), ("2026-01-05", week)):
        row = trend[monday]
        dose = [v["dose"] for v in values.values()]
        assert num(row["Dose: p90"]) == near(np.percentile(dose, 90))
        assert num(row["Graphic minutes: median"]) == near(
            np.percentile([v["graphic"] for v in values.values()], 50)
        )
    assert trend["2025-12-22"]["Dose: p90"] == "0.0"
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart"') == 2

    # Breaks scheduled against taken, check-in completion and escalations: counts only.
    care = records(page, "care")
    assert care["Queue A"] == {
        "Team": "Queue A",
        "Enforced breaks": "2",
        "Taken in full": "1",
        "Ended early": "0",
        "In progress": "1",
        "Rotations off sensitive work": "1",
        "Check-ins due": "2",
        "Check-ins completed": "1",
        "Completion": "50%",
        "Escalated by answers": "1",
        "Escalated as overdue": "1",
    }
    assert [care["Queue B"][k] for k in ("Enforced breaks", "Ended early", "Completion")] == [
        "1",
        "1",
        "100%",
    ]
    assert "step" not in str(care).lower()

    # Drill-down: the people over a cap and the highest doses, linked to their audited page.
    people = records(page, "people")
    assert list(people) == ["a1", "b1", "a2"]
    assert people["a1"]["Hit the daily graphic-minutes cap (240)"] == "yes"
    assert num(people["a1"]["Busiest day: graphic minutes"]) == near(250)
    assert tables(page).links["people"] == [f"/people/{p[n]}" for n in ("a1", "b1", "a2")]
    # No check-in answers or scores on the page.
    assert "At no time" not in page and "score" not in page.lower()


def test_exposure_week_and_team_selectors(app, org, rec):
    p = org.people
    auth = sign_in(app, "wanda")
    # Any day of a week selects the week (Monday to Sunday).
    page = auth.client.get(f"/exposure?week=2025-12-31&team={org.b}").get_data(as_text=True)
    assert "Week of Monday 29 December 2025" in page
    assert f'<option value="{org.b}" selected>Queue B</option>' in page
    by_team = records(page, "by-team")
    assert list(by_team) == ["Queue B"]
    before = weekly(rec, W1, [p["b1"], p["b2"]])
    check_team_row(by_team["Queue B"], list(before.values()))
    assert list(records(page, "by-category")) == ["torture", "graphic violence"]
    assert list(records(page, "care")) == ["Queue B"]
    assert records(page, "care")["Queue B"]["Enforced breaks"] == "1"
    assert list(records(page, "people")) == ["b1", "b2"]
    assert "Next week" in page

    for bad, status in (
        ("week=2026-13-01", 400),
        ("week=5.1.2026", 400),
        ("week=0001-01-01", 400),
        ("week=9999-12-31", 400),
        ("team=x", 400),
    ):
        assert auth.client.get(f"/exposure?{bad}").status_code == status
        assert auth.client.get(f"/exposure.csv?{bad}").status_code == status
    assert auth.client.get("/exposure?team=99999").status_code == 404


def test_exposure_is_for_wellbeing_staff_only_and_every_read_is_audited(app, org):
    world_people = org.people
    for name in ("a1", "lee"):
        auth = sign_in(app, name)
        assert auth.client.get("/exposure").status_code == 403
        assert auth.client.get("/exposure.csv").status_code == 403
    assert Auth(app.test_client()).client.get("/exposure.csv").status_code == 302

    auth = sign_in(app, "wanda")
    assert auth.client.get(f"/exposure?team={org.a}").status_code == 200
    assert auth.client.get("/exposure.csv?week=2025-12-30").status_code == 200
    with app.app_context():
        rows = db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "wellbeing.read_exposure")
            .order_by(AuditEvent.id)
        ).all()
        assert [(r.actor_id, r.detail) for r in rows] == [
            (
                world_people["wanda"],
                {"week": "2026-01-05", "team_id": org.a, "format": "html"},
            ),
            (
                world_people["wanda"],
                {"week": "2025-12-29", "team_id": None, "format": "csv"},
            ),
        ]
        denied = db.session.scalars(
            select(AuditEvent.detail).where(AuditEvent.action == "security.forbidden")
        ).all()
        assert {"path": "/exposure.csv"} in denied


def csv_sections(text: str) -> tuple[list[str], dict[str, list[list[str]]]]:
    rows = list(csv.reader(io.StringIO(text)))
    heading, sections = rows[0], {}
    chunk: list[list[str]] = []
    for row in [*rows[1:], []]:
        if row:
            chunk.append(row)
        elif chunk:
            sections[chunk[0][0]] = chunk[1:]
            chunk = []
    return heading, sections


def test_csv_is_what_the_page_shows_and_cannot_inject_formulas(app, org, rec, world):
    # Hostile names from the admin forms: a team and people whose names start formulas.
    with app.app_context():
        team = db.session.get(Team, org.b)
        assert team is not None
        team.name = '=HYPERLINK("http://evil.example","x")'
        for name, shown in (("b1", "@SUM(1+1)"), ("b2", "-2+3")):
            user = db.session.get(User, org.people[name])
            assert user is not None
            user.display_name = shown
        db.session.commit()
    rec.view(org.people["b2"], at(date(2026, 1, 7), 15), "self_harm", 3, 60)

    auth = sign_in(app, "wanda")
    page = auth.client.get("/exposure").get_data(as_text=True)
    response = auth.client.get("/exposure.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv" and response.mimetype_params["charset"] == "utf-8"
    assert (
        response.headers["Content-Disposition"]
        == 'attachment; filename="exposure-2026-01-05-all.csv"'
    )
    assert response.headers["Cache-Control"] == "no-store, private"
    heading, sections = csv_sections(response.get_data(as_text=True))
    assert heading[:5] == ["Exposure", "week starting", "2026-01-05", "scope", "All teams"]

    shown = tables(page).tables
    titles = {
        "By team": "by-team",
        "By category": "by-category",
        "Trend": "trend",
        "Breaks and check-ins": "care",
        "People to look at": "people",
    }
    assert list(sections) == list(titles)
    for title, table_id in titles.items():
        expected = [[c if c[:1] not in "=+-@" else "'" + c for c in row] for row in shown[table_id]]
        assert sections[title] == expected, title
    team_cell = '\'=HYPERLINK("http://evil.example","x")'
    assert [row[0] for row in sections["By team"][1:]] == [team_cell, "Queue A", "All teams"]
    people = {row[0]: row for row in sections["People to look at"][1:]}
    assert people["'@SUM(1+1)"][1] == team_cell
    assert "'-2+3" in people
    # The page shows the names as they are, escaped as text.
    assert "=HYPERLINK(&#34;http://evil.example&#34;,&#34;x&#34;)" in page

    # A team's CSV carries the same scope as its page.
    scoped = auth.client.get(f"/exposure.csv?team={org.a}&week=2026-01-06")
    assert (
        scoped.headers["Content-Disposition"]
        == f'attachment; filename="exposure-2026-01-05-team-{org.a}.csv"'
    )
    _, team_sections = csv_sections(scoped.get_data(as_text=True))
    team_page = tables(
        auth.client.get(f"/exposure?team={org.a}&week=2026-01-06").get_data(as_text=True)
    ).tables
    assert team_sections["By team"] == team_page["by-team"]
