"""Metrics measured from the ledger: dose, graphic minutes, reveals, continuous minutes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from exposure import breaks, ledger
from exposure.dose import ended_breaks, load_events, measure
from exposure.dose import summarise as summarise_events
from tests.exposure.conftest import policy

NOW = datetime(2026, 1, 5, 14, 0, tzinfo=UTC)


def rule_toml(metric: str, window: str = "day", extra: str = "") -> str:
    return f"""
[[rules]]
id = "r"
description = "measured"
metric = "{metric}"
window = "{window}"
threshold = 100000
{extra}
actions = [{{ type = "alert_lead" }}]
"""


def value(session, person, metric, window="day", extra="", now=NOW, timezone="UTC") -> float:
    pol = policy(rule_toml(metric, window, extra), timezone=timezone)
    since = now - timedelta(days=8)
    events = load_events(session, person.id, since, now)
    ends = ended_breaks(session, person.id, since, now)
    return measure(pol.rule("r"), events, ends, pol, now).value


def at(hh: int, mm: int = 0, day: int = 5) -> datetime:
    return datetime(2026, 1, day, hh, mm, tzinfo=UTC)


def test_dose_is_minutes_times_weight_level_and_modality(session, build):
    ana = build.person("Ana")
    # 2 minutes of graphic violence (weight 3.5) in grayscale (0.7) on video (1.5).
    build.event(ana, at(10), minutes=2, level=3, category="graphic_violence", modality="video")
    assert value(session, ana, "dose") == pytest.approx(2 * 3.5 * 0.7 * 1.5)


def test_a_glance_counts_as_the_minimum_event_length(session, build):
    ana = build.person("Ana")
    build.event(ana, at(10), minutes=0.05, level=4, category="murder")  # three seconds
    assert value(session, ana, "dose") == pytest.approx(10 / 60 * 4.5 * 1.0)
    assert value(session, ana, "graphic_minutes") == pytest.approx(10 / 60)


def test_a_blurred_view_counts_a_little_and_a_placeholder_and_clear_items_nothing(session, build):
    ana = build.person("Ana")
    build.event(ana, at(10), minutes=10, level=1, category="graphic_violence")
    build.event(ana, at(10, 20), minutes=10, level=0, category="child_abuse")
    build.event(ana, at(10, 40), minutes=10, level=4, category="clear", severity=0)
    assert value(session, ana, "dose") == pytest.approx(10 * 3.5 * 0.05)


def test_weights_and_factors_come_from_the_policy(session, build):
    ana = build.person("Ana")
    build.event(ana, at(10), minutes=3, level=2, category="bullying", modality="animation")
    settings = '[categories.bullying]\nweight = 2.0\n[factors.level]\n"2" = 0.5\n'
    pol = policy(rule_toml("dose"), settings=settings)
    events = load_events(session, ana.id, at(0), NOW)
    assert measure(pol.rule("r"), events, [], pol, NOW).value == pytest.approx(3 * 2.0 * 0.5 * 1.2)


def test_graphic_minutes_count_only_revealed_sensitive_items(session, build):
    ana = build.person("Ana")
    build.event(ana, at(9), minutes=10, level=1)  # safe blur: not graphic
    build.event(ana, at(9, 20), minutes=5, level=2)  # peek
    build.event(ana, at(9, 30), minutes=7, level=4)  # colour
    build.event(ana, at(9, 40), minutes=30, level=4, category="clear", severity=0)
    assert value(session, ana, "graphic_minutes") == pytest.approx(12)


def test_reveals_count_revealed_sensitive_items(session, build):
    ana = build.person("Ana")
    for minute in range(3):
        build.event(ana, at(11, minute), level=2 + minute)
    build.event(ana, at(11, 5), level=1)
    build.event(ana, at(11, 6), level=4, category="clear", severity=0)
    assert value(session, ana, "reveals") == 3


def test_category_and_severity_filters(session, build):
    ana = build.person("Ana")
    build.event(ana, at(11), category="murder", severity=5)
    build.event(ana, at(11, 1), category="murder", severity=3)
    build.event(ana, at(11, 2), category="torture", severity=5)
    build.event(ana, at(11, 3), category="child_abuse", severity=4)
    assert value(session, ana, "reveals", extra='categories = ["murder"]') == 2
    assert value(session, ana, "reveals", extra="min_severity = 4") == 3
    both = 'categories = ["murder", "child_abuse"]\nmin_severity = 4'
    assert value(session, ana, "reveals", extra=both) == 2


def test_rolling_windows_look_back_exactly_that_long(session, build):
    ana = build.person("Ana")
    build.event(ana, NOW - timedelta(minutes=16))
    build.event(ana, NOW - timedelta(minutes=14))
    build.event(ana, NOW - timedelta(minutes=1))
    assert value(session, ana, "reveals", "rolling 15m") == 2
    assert value(session, ana, "reveals", "rolling 1h") == 3


def test_the_week_is_the_last_seven_days(session, build):
    ana = build.person("Ana")
    build.event(ana, NOW - timedelta(days=7, minutes=5))
    build.event(ana, NOW - timedelta(days=6, hours=23))
    assert value(session, ana, "reveals", "week") == 1


def test_the_day_starts_at_midnight_in_the_policy_timezone(session, build):
    ana = build.person("Ana")
    # 14:00 UTC is 09:00 in New York (EST, UTC-5).
    build.event(ana, at(4, 30))  # 23:30 yesterday in New York
    build.event(ana, at(5, 30))  # 00:30 today in New York
    assert value(session, ana, "reveals", "day", timezone="America/New_York") == 1
    assert value(session, ana, "reveals", "day", timezone="UTC") == 2
    # At 04:45 UTC it is still yesterday (23:45) in New York: the 23:30 view is "today".
    assert value(session, ana, "reveals", "day", now=at(4, 45), timezone="America/New_York") == 1


def test_the_shift_starts_after_a_long_pause(session, build):
    ana = build.person("Ana")
    build.event(ana, at(1), minutes=30)  # a night shift that ended at 01:30
    build.event(ana, at(9), minutes=10)  # more than 6 hours later: a new shift
    build.event(ana, at(12), minutes=10)  # a lunch break, same shift
    assert value(session, ana, "reveals", "shift") == 2


def test_continuous_minutes_run_through_short_pauses(session, build):
    ana = build.person("Ana")
    build.event(ana, at(13), minutes=20)  # 13:00-13:20
    build.event(ana, at(13, 25), minutes=15)  # a 5-minute pause, shorter than the gap
    assert value(session, ana, "continuous_minutes", now=at(13, 45)) == pytest.approx(45)


def test_a_pause_longer_than_the_gap_starts_a_new_run(session, build):
    ana = build.person("Ana")
    build.event(ana, at(13), minutes=20)
    build.event(ana, at(13, 35), minutes=5)  # a 15-minute pause
    assert value(session, ana, "continuous_minutes", now=at(13, 45)) == pytest.approx(10)


def test_no_run_in_progress_after_a_long_pause(session, build):
    ana = build.person("Ana")
    build.event(ana, at(13), minutes=40)
    assert value(session, ana, "continuous_minutes", now=at(13, 55)) == 0


def test_clear_items_are_not_sensitive_work(session, build):
    ana = build.person("Ana")
    build.event(ana, at(13), minutes=20)
    build.event(ana, at(13, 20), minutes=25, level=4, category="clear", severity=0)
    assert value(session, ana, "continuous_minutes", now=at(13, 45)) == 0


def test_an_ended_break_resets_the_run(session, build):
    ana = build.person("Ana")
    build.event(ana, at(13), minutes=20)
    breaks.start_break(session, ana.id, "step_away", at(13, 20), minutes=3)
    build.event(ana, at(13, 23), minutes=20)
    assert value(session, ana, "continuous_minutes", now=at(13, 45)) == pytest.approx(22)


def test_a_break_overridden_early_also_resets_the_run(session, build):
    ana = build.person("Ana")
    lead = build.person("Lee", "lead")
    build.event(ana, at(13), minutes=20)
    brk = breaks.start_break(session, ana.id, "enforced", at(13, 20), minutes=30)
    breaks.end_break(session, brk.id, at(13, 22), by_user_id=lead.id, reason="urgent queue")
    build.event(ana, at(13, 22), minutes=20)
    assert value(session, ana, "continuous_minutes", now=at(13, 42)) == pytest.approx(20)


def test_views_and_heartbeats_feed_the_dose(session, build):
    """Through the ledger: heartbeats extend a view; a viewer gone quiet stops accruing."""
    ana = build.person("Ana")
    item = build.item("murder", severity=5)
    start = at(10)
    ledger.record_view(
        session,
        ana.id,
        item,
        level=4,
        region=None,
        modality="image",
        client_event_id="evt-heartbeats",
        now=start,
    )
    for seconds in range(15, 121, 15):  # two minutes on screen
        ledger.heartbeat(
            session,
            ana.id,
            "evt-heartbeats",
            start + timedelta(seconds=seconds),
            grace_seconds=30,
            cap_seconds=3600,
        )
    # The tab was hidden for ten minutes: that time does not count.
    ledger.heartbeat(
        session,
        ana.id,
        "evt-heartbeats",
        start + timedelta(minutes=12),
        grace_seconds=30,
        cap_seconds=3600,
    )
    assert value(session, ana, "graphic_minutes") == pytest.approx(2)
    assert value(session, ana, "dose") == pytest.approx(2 * 4.5)
    week = summarise_events(load_events(session, ana.id, at(0), NOW), policy())
    assert (week.reveals, week.graphic_minutes) == (1, pytest.approx(2))
