"""The evaluator sums rule windows in the database; it must agree with the reference
measurement over the same events, for every metric, window and filter."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from exposure.dose import (
    ended_breaks,
    load_events,
    measure,
    measure_in_database,
    recent_since,
)
from exposure.policy import default_policy
from tests.exposure.conftest import policy

NOW = datetime(2026, 3, 6, 15, 30, tzinfo=UTC)
EXTRA = """
[[rules]]
id = "dose-2h"
description = "d"
metric = "dose"
window = "rolling 2h"
threshold = 1
actions = [{ type = "alert_lead" }]

[[rules]]
id = "shift-graphic"
description = "d"
metric = "graphic_minutes"
window = "shift"
threshold = 1
actions = [{ type = "alert_lead" }]

[[rules]]
id = "severe-murder-week"
description = "d"
metric = "reveals"
window = "week"
categories = ["murder", "graphic_violence"]
min_severity = 3
threshold = 1
actions = [{ type = "alert_lead" }]
"""
CATEGORIES = ["graphic_violence", "murder", "child_abuse", "hate_speech", "clear"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_database_sums_match_the_reference(session, build, seed):
    rng = random.Random(seed)
    ana = build.person("Ana")
    at = NOW - timedelta(days=8)
    while at < NOW:
        at += timedelta(minutes=rng.choice([1, 2, 5, 20, 90, 400]))
        build.event(
            ana,
            at,
            minutes=rng.choice([0, 0.05, 0.5, 2, 7]),
            level=rng.randint(0, 4),
            category=rng.choice(CATEGORIES),
            severity=rng.randint(0, 5),
            modality=rng.choice(["image", "animation", "video"]),
        )
    pols = [default_policy(), policy(EXTRA, timezone="America/New_York")]
    for pol in pols:
        for back in (0, 37, 600, 1500):
            now = NOW - timedelta(minutes=back)
            everything = load_events(session, ana.id, now - timedelta(days=8), now)
            since = recent_since(pol, now)
            recent = load_events(session, ana.id, since, now)
            ends = ended_breaks(session, ana.id, since, now)
            for rule in pol.rules:
                want = measure(rule, everything, ends, pol, now)
                got = measure_in_database(session, rule, ana.id, recent, ends, pol, now)
                assert got.window_key == want.window_key, rule.id
                assert got.value == pytest.approx(want.value, rel=1e-9, abs=1e-9), rule.id
