"""Policy files: the shipped default, windows, and broken files that must never half-load."""

from __future__ import annotations

from datetime import timedelta

import pytest

from exposure.policy import PolicyError, Window, default_policy, parse_policy
from tests.exposure.conftest import policy

GOOD_RULE = """
[[rules]]
id = "ok"
description = "A rule that is fine."
metric = "reveals"
window = "rolling 15m"
threshold = 3
actions = [{ type = "break", minutes = 5 }]
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text)
    return caught.value.problems


def test_the_shipped_default_parses_and_every_rule_says_what_and_why():
    pol = default_policy()
    assert pol.rules
    for rule in pol.rules:
        assert rule.description.strip(), rule.id
        assert rule.source.strip(), rule.id
    assert pol.checkins.instrument == "who5"
    assert pol.checkins.periodic_days == 7


def test_the_default_policy_has_the_rules_the_issue_promises():
    pol = default_policy()
    burst = pol.rule("burst-severe-reveals")
    assert (burst.metric, burst.min_severity, burst.window, burst.threshold) == (
        "reveals",
        4,
        Window("rolling", 15),
        5,
    )
    assert [(a.type, a.minutes) for a in burst.actions] == [("break", 5)]
    cap = pol.rule("daily-graphic-cap")
    assert (cap.metric, cap.window.kind, cap.threshold) == ("graphic_minutes", "day", 240)
    assert {a.type for a in cap.actions} >= {"rotate", "alert_lead"}
    warning = pol.rule("daily-graphic-warning")
    assert warning.window.kind == "day" and warning.threshold < cap.threshold
    assert [a.type for a in warning.actions] == ["alert_lead"]
    severe = pol.rule("severe-category-checkin")
    assert {"child_abuse", "sexual_assault"} <= severe.categories
    assert [a.type for a in severe.actions] == ["checkin"]
    # The most severe categories start as a placeholder and never show in colour.
    assert pol.categories["child_abuse"].default_level == 0
    assert pol.categories["child_abuse"].max_level < 4


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rolling 15m", Window("rolling", 15)),
        ("rolling 2h", Window("rolling", 120)),
        ("Rolling 90M", Window("rolling", 90)),
        ("shift", Window("shift")),
        ("day", Window("day")),
        ("week", Window("week")),
    ],
)
def test_windows_parse(text, expected):
    pol = policy(GOOD_RULE.replace('"rolling 15m"', f'"{text}"'))
    assert pol.rule("ok").window == expected


@pytest.mark.parametrize(
    "text", ["rolling", "rolling 0m", "rolling 15s", "15m", "month", "rolling 200h", "rolling -5m"]
)
def test_bad_windows_are_named_with_rule_and_field(text):
    problems = problems_of('version = "v"\n' + GOOD_RULE.replace('"rolling 15m"', f'"{text}"'))
    assert len(problems) == 1
    assert "id=ok" in problems[0] and "window" in problems[0]


def test_cooldown_and_categories_are_read():
    pol = policy(
        GOOD_RULE.replace(
            "threshold = 3", 'threshold = 3\ncooldown_minutes = 20\ncategories = ["murder"]'
        )
    )
    rule = pol.rule("ok")
    assert rule.cooldown == timedelta(minutes=20)
    assert rule.categories == frozenset({"murder"})


BROKEN = """
version = "broken-1"
timezone = "Mars/Olympus_Mons"
colour = "blue"

[categories.torture]
default_level = 1
max_level = 0

[[rules]]
id = "bad-metric"
description = "d"
metric = "heartache"
threshold = 1
actions = [{ type = "alert_lead" }]

[[rules]]
id = "bad-window"
description = "d"
metric = "reveals"
window = "fortnight"
threshold = 1
actions = [{ type = "alert_lead" }]

[[rules]]
id = "negative-threshold"
description = "d"
metric = "dose"
threshold = -5
actions = [{ type = "alert_lead" }]

[[rules]]
id = "bad-action"
description = "d"
metric = "dose"
threshold = 5
actions = [{ type = "fire_them" }]

[[rules]]
id = "break-without-minutes"
description = "d"
metric = "dose"
threshold = 5
actions = [{ type = "break" }]

[[rules]]
id = "twice"
description = "d"
metric = "dose"
threshold = 5
actions = [{ type = "alert_lead" }]

[[rules]]
id = "twice"
description = "d"
metric = "dose"
threshold = 6
actions = [{ type = "alert_lead" }]

[[rules]]
id = "bad-category"
description = "d"
metric = "reveals"
categories = ["gore"]
threshold = 1
actions = [{ type = "alert_lead" }]
"""


@pytest.mark.parametrize(
    ("where", "field"),
    [
        ("id=bad-metric", "metric"),
        ("id=bad-window", "window"),
        ("id=negative-threshold", "threshold"),
        ("id=bad-action", "actions[0]"),
        ("id=break-without-minutes", "actions[0].minutes"),
        ("id=twice", ".id"),
        ("id=bad-category", "categories"),
        ("categories.torture", "default_level"),
        ("timezone", "Mars/Olympus_Mons"),
        ("(top level)", "colour"),
    ],
)
def test_a_broken_policy_reports_every_problem_by_rule_and_field(where, field):
    with pytest.raises(PolicyError) as caught:
        parse_policy(BROKEN)
    message = str(caught.value)
    assert any(where in p and field in p for p in caught.value.problems), message
    assert len(caught.value.problems) == 10
    assert all(p in message for p in caught.value.problems)


def test_invalid_toml_is_a_policy_error_with_the_line():
    problems = problems_of('version = "v"\n[[rules]\nid = "x"\n')
    assert len(problems) == 1
    assert "not valid TOML" in problems[0] and "line 2" in problems[0]


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ('description = "A rule that is fine."', "description"),
        ("threshold = 3", "threshold"),
        ('actions = [{ type = "break", minutes = 5 }]', "actions"),
    ],
)
def test_a_rule_missing_a_required_field_is_refused(change, fragment):
    problems = problems_of('version = "v"\n' + GOOD_RULE.replace(change, ""))
    assert any("id=ok" in p and fragment in p for p in problems), problems


def test_a_misspelt_key_is_reported_rather_than_silently_ignored():
    problems = problems_of('version = "v"\n' + GOOD_RULE.replace("threshold", "treshold"))
    assert any("unknown keys: treshold" in p for p in problems), problems
    assert any("threshold" in p and "number" in p for p in problems), problems


@pytest.mark.parametrize(
    ("table", "fragment"),
    [
        ("[categories.gore]\nweight = 2", "categories.gore"),
        ("[categories.torture]\nweight = -1", "categories.torture.weight"),
        ("[categories.torture]\ndefault_level = 3", "categories.torture.default_level"),
        ("[categories.torture]\nmax_level = 7", "categories.torture.max_level"),
        ('[checkins]\ninstrument = "phq9"', "checkins.instrument"),
        ('[factors.level]\n"5" = 1.0', "factors.level.5"),
        ("[factors.modality]\nsmell = 1.0", "factors.modality.smell"),
        ("[dose]\nmin_event_seconds = -1", "dose.min_event_seconds"),
    ],
)
def test_bad_settings_are_named(table, fragment):
    problems = problems_of('version = "v"\n' + table)
    assert any(p.startswith(fragment) for p in problems), problems


def test_a_checkin_action_with_an_unknown_instrument_is_refused():
    text = GOOD_RULE.replace(
        '{ type = "break", minutes = 5 }', '{ type = "checkin", instrument = "phq9" }'
    )
    problems = problems_of('version = "v"\n' + text)
    assert any("id=ok" in p and "instrument" in p for p in problems), problems


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        pytest.param("dose = 5", "dose", id="dose-not-a-table"),
        pytest.param(
            'checkins = "weekly"',
            "checkins",
            id="checkins-not-a-table",
        ),
        pytest.param(
            "[factors]\nlevel = 5",
            "factors.level",
            id="factors-level-not-a-table",
        ),
        pytest.param(
            '[categories.torture]\ndefault_level = "one"',
            "categories.torture.default_level",
            id="level-not-a-number",
        ),
        pytest.param(
            GOOD_RULE.replace("threshold = 3", "threshold = 3\ncategories = [{ name = 'x' }]"),
            "categories",
            id="category-not-a-name",
        ),
        pytest.param(
            GOOD_RULE.replace("threshold = 3", "threshold = 3\ncooldown_minutes = nan"),
            "cooldown_minutes",
            id="cooldown-nan",
        ),
        pytest.param(
            GOOD_RULE.replace("threshold = 3", "threshold = nan"),
            "threshold",
            id="threshold-nan",
        ),
        pytest.param(
            GOOD_RULE.replace("minutes = 5", "minutes = nan"),
            "minutes",
            id="break-minutes-nan",
        ),
        pytest.param(
            "[categories.torture]\nweight = nan",
            "weight",
            id="weight-nan",
        ),
        pytest.param("factors = 5", "factors", id="factors-not-a-table"),
        pytest.param("[dose]\nmin_event_secs = 30", "min_event_secs", id="dose-typo"),
        pytest.param("[checkins]\nperiodic_day = 1", "periodic_day", id="checkins-typo"),
        pytest.param("[categories.torture]\nwieght = 9", "wieght", id="category-typo"),
        pytest.param("[factors.modalities]\nvideo = 9", "modalities", id="factors-typo"),
        pytest.param("rules = [1]", "rules[0]", id="rule-not-a-table"),
        pytest.param("[categories]\ntorture = 3", "categories.torture", id="category-not-a-table"),
        pytest.param("timezone = 'America'", "timezone", id="timezone-a-directory"),
    ],
)
def test_malformed_or_misspelt_settings_are_policy_errors(text, fragment):
    problems = problems_of('version = "v"\n' + text)
    assert any(fragment in p for p in problems), problems
