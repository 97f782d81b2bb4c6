"""Turning the ledger into care: evaluate a person's policy rules now and carry out the
actions of those that fire (breaks, rotations, check-ins, alerts), each exactly once.

Each firing is a `PolicyTrigger` row with a natural key (person, rule, window occurrence)
under a unique constraint, and evaluation locks the person's row first, so a retry, a crash
or two workers evaluating at once never doubles a break, an alert or an email.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, lazyload

from exposure import alerts, breaks, checkins, summaries
from exposure.dose import (
    ended_breaks,
    load_events,
    measure_in_database,
    recent_since,
)
from exposure.models import Break, PolicyTrigger, User
from exposure.policy import Action, Policy, Rule
from exposure.rollups import hour_of


@dataclass(frozen=True)
class Firing:
    rule_id: str
    trigger_id: int
    value: float
    threshold: float
    actions: tuple[str, ...]


def _lock_person(session: Session, user_id: int) -> User | None:
    # FOR NO KEY UPDATE: evaluations of one person queue behind each other, but inserts of
    # their ledger rows (which take a key-share lock through the foreign key) do not
    # deadlock against it. SQLite ignores the clause; BEGIN IMMEDIATE serialises there.
    # The role rows are not needed here: load them only if something asks.
    return session.scalar(
        select(User)
        .where(User.id == user_id)
        .with_for_update(key_share=True)
        .options(lazyload(User.role_rows))
    )


def _last_fired(session: Session, user_id: int, rule: Rule, window_key: str) -> datetime | None:
    query = select(PolicyTrigger.fired_at).where(
        PolicyTrigger.user_id == user_id, PolicyTrigger.rule_id == rule.id
    )
    if rule.window.kind in ("day", "shift") and rule.metric != "continuous_minutes":
        # A calendar window has its own occurrence: yesterday's firing must not silence
        # today's cap, so the cooldown only counts firings in this same window.
        query = query.where(PolicyTrigger.window_key == window_key)
    return session.scalar(query.order_by(PolicyTrigger.fired_at.desc()).limit(1))


def suggest_replacements(
    session: Session,
    policy: Policy,
    team_id: int | None,
    exclude: int,
    now: datetime,
    limit: int = 3,
) -> list[dict[str, object]]:
    """Team members with the lowest dose over the last 7 days who are free to take over."""
    if team_id is None:
        return []
    members = session.scalars(
        select(User).where(User.team_id == team_id, User.active.is_(True), User.id != exclude)
    ).all()
    candidates = [
        m
        for m in members
        if "associate" in m.roles and breaks.active_restriction(session, m.id, now) is None
    ]
    week = summaries.totals(
        session,
        policy,
        hour_of(now - timedelta(days=7)),
        hour_of(now) + timedelta(hours=1),
        user_ids=[m.id for m in candidates],
    )
    ranked = [(week[m.id].dose if m.id in week else 0.0, m.display_name, m.id) for m in candidates]
    ranked.sort()
    return [
        {"user_id": uid, "name": name, "dose_7d": round(dose, 1)}
        for dose, name, uid in ranked[:limit]
    ]


def _describe(action: Action) -> str:
    if action.type == "break":
        return f"an enforced break of {action.minutes:g} minutes"
    if action.type == "rotate":
        return (
            f"rotation off sensitive work for {action.hours:g} hours"
            if action.hours
            else "rotation off sensitive work until a lead returns them"
        )
    if action.type == "checkin":
        return f"a check-in due within {action.within_hours:g} hours"
    return action.type.replace("_", " ")


def _act(
    session: Session,
    policy: Policy,
    person: User,
    rule: Rule,
    trigger: PolicyTrigger,
    now: datetime,
    routes: alerts.Routes,
) -> tuple[str, ...]:
    done: list[str] = []
    for action in rule.actions:
        if action.type == "break":
            brk = breaks.start_break(
                session, person.id, "enforced", now, minutes=action.minutes, reason=rule.description
            )
            brk.trigger_id = trigger.id
        elif action.type == "rotate":
            brk = breaks.start_break(
                session,
                person.id,
                "rotation",
                now,
                minutes=None if action.hours is None else action.hours * 60,
                reason=rule.description,
            )
            brk.trigger_id = trigger.id
        elif action.type == "checkin":
            checkins.schedule(
                session,
                person.id,
                key=f"trigger:{trigger.id}",
                reason=f"rule:{rule.id}",
                instrument=action.instrument or policy.checkins.instrument,
                due_at=now + timedelta(hours=action.within_hours or 4),
                now=now,
                trigger_id=trigger.id,
            )
        done.append(action.type)
    taken = [_describe(a) for a in rule.actions if a.type not in ("alert_lead", "alert_wellbeing")]
    message = f"{person.display_name}: {rule.description}"
    if taken:
        message += " Started: " + "; ".join(taken) + "."
    detail: dict[str, object] = {
        "rule": rule.id,
        "metric": rule.metric,
        "value": round(trigger.metric_value, 1),
        "threshold": rule.threshold,
    }
    if any(a.type == "rotate" for a in rule.actions):
        detail["suggested_replacements"] = suggest_replacements(
            session, policy, person.team_id, person.id, now
        )
    for action in rule.actions:
        if action.type in ("alert_lead", "alert_wellbeing"):
            audience = "lead" if action.type == "alert_lead" else "wellbeing"
            alerts.raise_alert(
                session,
                key=f"trigger:{trigger.id}:{audience}",
                audience=audience,
                team_id=person.team_id,
                subject_user_id=person.id,
                kind="rotate" if "rotate" in done else f"rule:{rule.id}",
                message=message,
                detail=detail,
                now=now,
                routes=routes,
            )
    return tuple(done)


def evaluate(
    session: Session,
    policy: Policy,
    user_id: int,
    now: datetime,
    *,
    routes: alerts.Routes,
    rules: Sequence[Rule] | None = None,
) -> list[Firing]:
    """Evaluate the given rules (all by default) for one person; fire what crosses."""
    person = _lock_person(session, user_id)
    if person is None:
        return []
    since = recent_since(policy, now)
    recent = load_events(session, user_id, since, now)
    ends = ended_breaks(session, user_id, since, now)
    fired: list[Firing] = []
    for rule in rules if rules is not None else policy.rules:
        measured = measure_in_database(session, rule, user_id, recent, ends, policy, now)
        if measured.window_key is None or measured.value < rule.threshold:
            continue
        last = _last_fired(session, user_id, rule, measured.window_key)
        if last is not None and now - last < rule.cooldown:
            continue
        try:
            with session.begin_nested():
                trigger = PolicyTrigger(
                    user_id=user_id,
                    rule_id=rule.id,
                    window_key=measured.window_key,
                    policy_version=policy.version,
                    metric_value=measured.value,
                    threshold=rule.threshold,
                    fired_at=now,
                )
                session.add(trigger)
                session.flush()
        except IntegrityError:
            continue  # this occurrence already fired
        actions = _act(session, policy, person, rule, trigger, now, routes)
        fired.append(Firing(rule.id, trigger.id, measured.value, rule.threshold, actions))
    return fired


def active_people(session: Session, now: datetime, within: timedelta) -> Sequence[int]:
    """People with ledger activity recently: the ones the reconciler re-evaluates."""
    from exposure.models import ExposureEvent

    return session.scalars(
        select(ExposureEvent.user_id).where(ExposureEvent.last_seen_at >= now - within).distinct()
    ).all()


def complete_ended_breaks(session: Session, now: datetime) -> int:
    """Mark breaks whose time is over as completed (enforcement never depends on this)."""
    rows = session.scalars(
        select(Break).where(
            Break.status == "active", Break.ends_at.is_not(None), Break.ends_at <= now
        )
    ).all()
    for b in rows:
        b.status = "completed"
    session.flush()
    return len(rows)
