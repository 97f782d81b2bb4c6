"""The exposure policy: a versioned, validated TOML file of weights, display rules,
check-in settings and rules (metric over a window, threshold, actions, cooldown).

A bad file never loads half-way: `load_policy` either returns a complete `Policy` or raises
`PolicyError` listing every problem with the rule and field it concerns.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from exposure.categories import CATEGORIES, CategoryRule
from exposure.ledger import MODALITIES

METRICS = ("dose", "graphic_minutes", "reveals", "continuous_minutes")
ACTION_TYPES = ("break", "checkin", "rotate", "alert_lead", "alert_wellbeing")
INSTRUMENTS = ("who5", "k6")
_ROLLING = re.compile(r"^rolling\s+(\d+)\s*(m|h)$")
_RULE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,79}$")


class PolicyError(ValueError):
    """A policy that cannot be used; `problems` names each rule and field at fault."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid policy:\n  " + "\n  ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Window:
    kind: str  # 'rolling' | 'shift' | 'day' | 'week'
    minutes: int = 0  # for rolling windows

    @property
    def label(self) -> str:
        return f"rolling {self.minutes}m" if self.kind == "rolling" else self.kind


@dataclass(frozen=True)
class Action:
    type: str
    minutes: float | None = None  # break length
    hours: float | None = None  # rotation length (None: until a lead returns them)
    within_hours: float | None = None  # check-in due within
    instrument: str | None = None


@dataclass(frozen=True)
class Rule:
    id: str
    description: str
    metric: str
    window: Window
    threshold: float
    actions: tuple[Action, ...]
    cooldown: timedelta
    categories: frozenset[str] = frozenset()
    min_severity: int = 0
    source: str = ""

    @property
    def time_based(self) -> bool:
        """Rules the reconciler must re-check as time passes, not only on new events."""
        return self.metric == "continuous_minutes"


@dataclass(frozen=True)
class CheckInSettings:
    instrument: str = "who5"
    periodic_days: float = 7
    due_within_hours: float = 24
    remind_after_hours: float = 4
    escalate_overdue_after_hours: float = 24


@dataclass(frozen=True)
class Policy:
    version: str
    timezone: ZoneInfo
    categories: dict[str, CategoryRule]
    level_factors: dict[int, float]
    modality_factors: dict[str, float]
    min_event_seconds: float
    continuous_gap_minutes: float
    shift_gap_hours: float
    checkins: CheckInSettings
    rules: tuple[Rule, ...] = field(default=())

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.items.append(f"{where}: {message}")


def _number(
    p: _Problems, where: str, value: Any, *, low: float = 0, high: float = 1e9, positive: bool
) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        p.add(where, f"must be a number, got {value!r}")
        return 0.0
    if not math.isfinite(value):
        p.add(where, f"must be a finite number, got {value!r}")
        return 0.0
    if (positive and value <= low) or (not positive and value < low) or value > high:
        bound = f"> {low:g}" if positive else f">= {low:g}"
        p.add(where, f"must be {bound} and <= {high:g}, got {value!r}")
    return float(value)


def _table(p: _Problems, where: str, value: Any, known: set[str]) -> dict[str, Any]:
    """A sub-table of the policy: must be a table, and misspelt keys are errors, not
    silently ignored settings."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        p.add(where, "must be a table")
        return {}
    unknown = sorted(set(value) - known)
    if unknown:
        p.add(where, f"unknown keys: {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return value


def _level(p: _Problems, where: str, value: Any, fallback: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 4:
        p.add(where, "must be a reveal level from 0 to 4")
        return fallback
    return value


def _parse_window(p: _Problems, where: str, value: Any) -> Window:
    if not isinstance(value, str):
        p.add(where, "must be 'rolling <N>m', 'rolling <N>h', 'shift', 'day' or 'week'")
        return Window("day")
    text = value.strip().lower()
    if text in ("shift", "day", "week"):
        return Window(text)
    match = _ROLLING.match(text)
    if not match:
        p.add(
            where,
            f"must be 'rolling <N>m', 'rolling <N>h', 'shift', 'day' or 'week', got {value!r}",
        )
        return Window("day")
    minutes = int(match.group(1)) * (60 if match.group(2) == "h" else 1)
    if not 1 <= minutes <= 7 * 24 * 60:
        p.add(where, "a rolling window must be between 1 minute and 7 days")
    return Window("rolling", minutes)


def _parse_action(p: _Problems, where: str, raw: Any) -> Action | None:
    if not isinstance(raw, dict) or raw.get("type") not in ACTION_TYPES:
        p.add(where, f"must be a table with type one of {', '.join(ACTION_TYPES)}")
        return None
    kind = raw["type"]
    allowed = {
        "break": {"type", "minutes"},
        "rotate": {"type", "hours"},
        "checkin": {"type", "within_hours", "instrument"},
        "alert_lead": {"type"},
        "alert_wellbeing": {"type"},
    }[kind]
    extra = sorted(set(raw) - allowed)
    if extra:
        p.add(where, f"unknown keys for a {kind} action: {', '.join(extra)}")
    if kind == "break":
        if "minutes" not in raw:
            p.add(where + ".minutes", "a break needs its length in minutes")
            return None
        return Action(
            kind, minutes=_number(p, where + ".minutes", raw["minutes"], high=240, positive=True)
        )
    if kind == "rotate":
        hours = raw.get("hours")
        if hours is not None:
            hours = _number(p, where + ".hours", hours, high=24 * 7, positive=True)
        return Action(kind, hours=hours)
    if kind == "checkin":
        within = _number(
            p, where + ".within_hours", raw.get("within_hours", 4), high=24 * 14, positive=True
        )
        instrument = raw.get("instrument")
        if instrument is not None and instrument not in INSTRUMENTS:
            p.add(where + ".instrument", f"must be one of {', '.join(INSTRUMENTS)}")
        return Action(kind, within_hours=within, instrument=instrument)
    return Action(kind)


def _parse_rule(p: _Problems, index: int, raw: Any, seen: set[str]) -> Rule | None:
    rid = raw.get("id") if isinstance(raw, dict) else None
    where = f"rules[{index}]" + (f" (id={rid})" if isinstance(rid, str) else "")
    if not isinstance(raw, dict):
        p.add(where, "must be a table")
        return None
    known = {
        "id",
        "description",
        "source",
        "metric",
        "window",
        "threshold",
        "actions",
        "cooldown_minutes",
        "categories",
        "min_severity",
    }
    extra = sorted(set(raw) - known)
    if extra:
        p.add(where, f"unknown keys: {', '.join(extra)}")
    if not isinstance(rid, str) or not _RULE_ID.match(rid):
        p.add(where + ".id", "must be lowercase letters, digits, '-' or '_' (at most 80)")
        rid = f"rule-{index}"
    elif rid in seen:
        p.add(where + ".id", "is used by another rule")
    seen.add(rid)
    metric = raw.get("metric")
    if metric not in METRICS:
        p.add(where + ".metric", f"must be one of {', '.join(METRICS)}, got {metric!r}")
    window = _parse_window(p, where + ".window", raw.get("window", "day"))
    threshold = _number(p, where + ".threshold", raw.get("threshold"), positive=True)
    cooldown = _number(
        p,
        where + ".cooldown_minutes",
        raw.get("cooldown_minutes", 60),
        high=60 * 24 * 14,
        positive=False,
    )
    cats = raw.get("categories", [])
    if not isinstance(cats, list) or not all(isinstance(c, str) and c in CATEGORIES for c in cats):
        p.add(
            where + ".categories", f"must be a list of known categories ({', '.join(CATEGORIES)})"
        )
        cats = []
    severity = raw.get("min_severity", 0)
    if not isinstance(severity, int) or isinstance(severity, bool) or not 0 <= severity <= 5:
        p.add(where + ".min_severity", "must be an integer from 0 to 5")
        severity = 0
    raw_actions = raw.get("actions")
    if not isinstance(raw_actions, list) or not raw_actions:
        p.add(where + ".actions", "must be a non-empty list of actions")
        raw_actions = []
    actions = [_parse_action(p, f"{where}.actions[{i}]", a) for i, a in enumerate(raw_actions)]
    description = raw.get("description", "")
    if not isinstance(description, str) or not description.strip():
        p.add(where + ".description", "must say in words what the rule is for")
        description = ""
    return Rule(
        id=rid,
        description=description,
        metric=str(metric),
        window=window,
        threshold=threshold,
        actions=tuple(a for a in actions if a is not None),
        cooldown=timedelta(minutes=cooldown),
        categories=frozenset(cats),
        min_severity=severity,
        source=str(raw.get("source", "")),
    )


def _parse_categories(p: _Problems, raw: Any) -> dict[str, CategoryRule]:
    table = dict(CATEGORIES)
    if raw is None:
        return table
    if not isinstance(raw, dict):
        p.add("categories", "must be a table of category tables")
        return table
    for name, spec in raw.items():
        where = f"categories.{name}"
        if name not in CATEGORIES:
            p.add(where, f"unknown category; known: {', '.join(CATEGORIES)}")
            continue
        if not isinstance(spec, dict):
            p.add(where, "must be a table")
            continue
        spec = _table(p, where, spec, {"weight", "default_level", "max_level"})
        base = CATEGORIES[name]
        weight = _number(
            p, where + ".weight", spec.get("weight", base.weight), high=100, positive=True
        )
        default = _level(
            p, where + ".default_level", spec.get("default_level", base.default_level), 0
        )
        top = _level(p, where + ".max_level", spec.get("max_level", base.max_level), 0)
        if default > top:
            p.add(where, "default_level must not exceed max_level")
        if default > 1:
            p.add(where + ".default_level", "flagged media must start at level 0 or 1")
        table[name] = CategoryRule(weight, default, top)
    return table


def parse_policy(text: str) -> Policy:
    """Parse and validate a policy; raise PolicyError with every problem found."""
    p = _Problems()
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError([f"not valid TOML: {exc}"]) from None
    version = raw.get("version")
    if not isinstance(version, str) or not version.strip() or len(version) > 64:
        p.add("version", "must be a non-empty string of at most 64 characters")
        version = "invalid"
    try:
        tz = ZoneInfo(str(raw.get("timezone", "UTC")))
    except (ZoneInfoNotFoundError, ValueError):
        p.add("timezone", f"unknown time zone {raw.get('timezone')!r}")
        tz = ZoneInfo("UTC")
    categories = _parse_categories(p, raw.get("categories"))

    factors = _table(p, "factors", raw.get("factors"), {"level", "modality"})
    levels_raw = _table(p, "factors.level", factors.get("level"), {"0", "1", "2", "3", "4"})
    level_factors = {0: 0.0, 1: 0.05, 2: 0.3, 3: 0.7, 4: 1.0}
    for key, value in levels_raw.items():
        if key not in {"0", "1", "2", "3", "4"}:
            p.add(f"factors.level.{key}", "levels are 0 to 4")
            continue
        level_factors[int(key)] = _number(p, f"factors.level.{key}", value, high=10, positive=False)
    modality_factors = {"image": 1.0, "animation": 1.2, "video": 1.5, "audio": 1.3}
    for key, value in _table(
        p, "factors.modality", factors.get("modality"), set(MODALITIES)
    ).items():
        if key not in MODALITIES:
            p.add(f"factors.modality.{key}", f"modalities are {', '.join(MODALITIES)}")
            continue
        modality_factors[key] = _number(
            p, f"factors.modality.{key}", value, high=10, positive=False
        )

    dose = _table(
        p,
        "dose",
        raw.get("dose"),
        {"min_event_seconds", "continuous_gap_minutes", "shift_gap_hours"},
    )
    min_event = _number(
        p, "dose.min_event_seconds", dose.get("min_event_seconds", 10), high=600, positive=False
    )
    gap = _number(
        p,
        "dose.continuous_gap_minutes",
        dose.get("continuous_gap_minutes", 10),
        high=240,
        positive=True,
    )
    shift_gap = _number(
        p, "dose.shift_gap_hours", dose.get("shift_gap_hours", 6), high=48, positive=True
    )

    ci = _table(
        p,
        "checkins",
        raw.get("checkins"),
        {
            "instrument",
            "periodic_days",
            "due_within_hours",
            "remind_after_hours",
            "escalate_overdue_after_hours",
        },
    )
    instrument = ci.get("instrument", "who5")
    if instrument not in INSTRUMENTS:
        p.add("checkins.instrument", f"must be one of {', '.join(INSTRUMENTS)}")
        instrument = "who5"
    checkins = CheckInSettings(
        instrument=instrument,
        periodic_days=_number(
            p, "checkins.periodic_days", ci.get("periodic_days", 7), high=90, positive=False
        ),
        due_within_hours=_number(
            p,
            "checkins.due_within_hours",
            ci.get("due_within_hours", 24),
            high=24 * 14,
            positive=True,
        ),
        remind_after_hours=_number(
            p,
            "checkins.remind_after_hours",
            ci.get("remind_after_hours", 4),
            high=24 * 14,
            positive=True,
        ),
        escalate_overdue_after_hours=_number(
            p,
            "checkins.escalate_overdue_after_hours",
            ci.get("escalate_overdue_after_hours", 24),
            high=24 * 14,
            positive=False,
        ),
    )

    rules_raw = raw.get("rules", [])
    if not isinstance(rules_raw, list):
        p.add("rules", "must be an array of tables ([[rules]])")
        rules_raw = []
    seen: set[str] = set()
    rules = [_parse_rule(p, i, r, seen) for i, r in enumerate(rules_raw)]
    unknown_top = sorted(
        set(raw)
        - {
            "version",
            "timezone",
            "description",
            "categories",
            "factors",
            "dose",
            "checkins",
            "rules",
        }
    )
    if unknown_top:
        p.add("(top level)", f"unknown keys: {', '.join(unknown_top)}")
    if p.items:
        raise PolicyError(p.items)
    return Policy(
        version=str(version),
        timezone=tz,
        categories=categories,
        level_factors=level_factors,
        modality_factors=modality_factors,
        min_event_seconds=min_event,
        continuous_gap_minutes=gap,
        shift_gap_hours=shift_gap,
        checkins=checkins,
        rules=tuple(r for r in rules if r is not None),
    )


def default_policy_text() -> str:
    return resources.files("exposure").joinpath("default_policy.toml").read_text()


def default_policy() -> Policy:
    return parse_policy(default_policy_text())
