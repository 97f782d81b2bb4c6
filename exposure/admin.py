"""What admins do that accounts.py does not: list and page people, change roles, team and
profile, set a team's leads, read the audit log with filters, and group a policy's problems
by rule for display. Functions flush, never commit; the caller audits and commits."""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, create_engine, delete, func, or_, select
from sqlalchemy.orm import Session

from exposure import accounts
from exposure.accounts import AccountError
from exposure.models import (
    ROLES,
    ApiToken,
    AuditEvent,
    Base,
    ExposureEvent,
    Team,
    TeamLead,
    User,
    UserRole,
)

# The simulation's own copier, so a detached copy holds exactly what a simulation reads.
from exposure.simulate import copy_ledger as copy_for_simulation

T = TypeVar("T")

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,79}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Keys of audit details that could carry wellbeing content or secrets. Nothing writes them
# today; the viewer withholds them anyway, so a future careless record cannot leak through it.
WITHHELD_KEYS = frozenset(
    {"answers", "score", "items", "escalated", "password", "plaintext", "token", "secret"}
)


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


def _page(session: Session, query: Select[T], page: int, per_page: int) -> Page[T]:
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    page = max(1, min(page, max(1, math.ceil(total / per_page))))
    items = session.scalars(query.limit(per_page).offset((page - 1) * per_page)).all()
    return Page(items, total, page, per_page)


# -- people ---------------------------------------------------------------------------------


def users_page(
    session: Session, *, search: str = "", page: int = 1, per_page: int = 100
) -> Page[User]:
    """People by username; `search` matches username, display name or email (any case)."""
    query = select(User).order_by(User.username)
    if search:
        pattern = f"%{search.lower()}%"
        query = query.where(
            or_(
                func.lower(User.username).like(pattern),
                func.lower(User.display_name).like(pattern),
                func.lower(func.coalesce(User.email, "")).like(pattern),
            )
        )
    return _page(session, query, page, per_page)


def people_counts(session: Session) -> tuple[int, int]:
    """How many people there are, and how many of them are disabled."""
    total, disabled = session.execute(
        select(func.count(User.id), func.count(User.id).filter(User.active.is_(False)))
    ).one()
    return int(total), int(disabled)


def all_users(session: Session) -> Sequence[User]:
    return session.scalars(select(User).order_by(User.username)).all()


def check_profile(display_name: str, email: str | None) -> None:
    if not display_name.strip() or len(display_name) > 120:
        raise AccountError("display name must be 1 to 120 characters")
    if email is not None and (len(email) > 255 or not EMAIL.match(email)):
        raise AccountError(f"{email!r} is not an email address")


def _team(session: Session, team_id: int | None) -> Team | None:
    if team_id is None:
        return None
    team = session.get(Team, team_id)
    if team is None:
        raise AccountError(f"no team with id {team_id}")
    return team


def create_user(
    session: Session,
    username: str,
    password: str,
    roles: Iterable[str],
    now: datetime,
    *,
    display_name: str,
    email: str | None,
    team_id: int | None,
    lead_of_team: bool = False,
) -> User:
    """A new person with a profile; with `lead_of_team`, a lead of the team they join."""
    check_profile(display_name, email)
    team = _team(session, team_id)
    if lead_of_team and team is None:
        raise AccountError("choose the team they lead")
    user = accounts.create_user(
        session, username, password, roles, now, display_name=display_name.strip(), team=team
    )
    user.email = email
    if lead_of_team and team is not None:
        accounts.make_lead(session, team, user)
    session.flush()
    return user


def update_user(
    session: Session,
    user: User,
    *,
    display_name: str,
    email: str | None,
    roles: Iterable[str],
    team_id: int | None,
    actor_id: int,
) -> dict[str, list[Any]]:
    """Change profile, roles and team; returns {field: [before, after]} for what changed.

    Nobody can take the admin role from themselves (so there is always an admin left who
    can undo a mistake). Dropping the lead role also ends every team lead assignment.
    """
    check_profile(display_name, email)
    new_roles = sorted(set(roles))
    unknown = [r for r in new_roles if r not in ROLES]
    if unknown or not new_roles:
        raise AccountError(f"roles must be some of {', '.join(ROLES)}; got {new_roles}")
    if user.id == actor_id and "admin" in user.roles and "admin" not in new_roles:
        raise AccountError("you cannot remove your own admin role; ask another admin")
    _team(session, team_id)
    changes: dict[str, list[Any]] = {}
    old_roles = sorted(user.roles)
    if old_roles != new_roles:
        changes["roles"] = [old_roles, new_roles]
        user.role_rows = [r for r in user.role_rows if r.role in new_roles] + [
            UserRole(user_id=user.id, role=r) for r in new_roles if r not in old_roles
        ]
        if "lead" not in new_roles:
            led = session.scalars(select(TeamLead.team_id).where(TeamLead.user_id == user.id))
            if led_ids := sorted(led):
                changes["lead_of_team_ids"] = [led_ids, []]
                session.execute(delete(TeamLead).where(TeamLead.user_id == user.id))
    if user.team_id != team_id:
        changes["team_id"] = [user.team_id, team_id]
        user.team_id = team_id
    if user.display_name != display_name.strip():
        changes["display_name"] = [user.display_name, display_name.strip()]
        user.display_name = display_name.strip()
    if user.email != email:
        changes["email"] = [user.email, email]
        user.email = email
    session.flush()
    return changes


def set_active(user: User, active: bool, *, actor_id: int) -> bool:
    """Enable or disable someone (disabling ends their sessions); False if nothing changed."""
    if user.id == actor_id and not active:
        raise AccountError("you cannot disable your own account; ask another admin")
    if user.active == active:
        return False
    accounts.set_active(user, active)
    return True


def led_team_ids(session: Session, user_id: int) -> list[int]:
    return sorted(session.scalars(select(TeamLead.team_id).where(TeamLead.user_id == user_id)))


def led_teams_by_user(session: Session) -> dict[int, list[int]]:
    """Every lead's team ids, by user id."""
    led: dict[int, list[int]] = {}
    for row in session.scalars(select(TeamLead).order_by(TeamLead.team_id)):
        led.setdefault(row.user_id, []).append(row.team_id)
    return led


# -- teams ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TeamInfo:
    team: Team
    members: list[User]
    leads: list[User]


def teams(session: Session) -> list[TeamInfo]:
    """Every team with its members and leads, by name."""
    users = {u.id: u for u in session.scalars(select(User).order_by(User.display_name))}
    leads: dict[int, list[User]] = {}
    for row in session.scalars(select(TeamLead)):
        leads.setdefault(row.team_id, []).append(users[row.user_id])
    return [
        TeamInfo(
            team,
            [u for u in users.values() if u.team_id == team.id],
            sorted(leads.get(team.id, []), key=lambda u: u.display_name),
        )
        for team in session.scalars(select(Team).order_by(Team.name))
    ]


def all_teams(session: Session) -> Sequence[Team]:
    return session.scalars(select(Team).order_by(Team.name)).all()


def check_team_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 120:
        raise AccountError("a team name must be 1 to 120 characters")
    return name


def set_team_leads(session: Session, team: Team, user_ids: Collection[int]) -> dict[str, list[int]]:
    """Make exactly these people the team's leads; each must hold the lead role."""
    wanted = set(user_ids)
    people = {u.id: u for u in session.scalars(select(User).where(User.id.in_(wanted)))}
    missing = sorted(wanted - set(people))
    if missing:
        raise AccountError(f"no user with id {missing[0]}")
    for user in people.values():
        if "lead" not in user.roles:
            raise AccountError(f"{user.username} does not hold the lead role")
    current = set(session.scalars(select(TeamLead.user_id).where(TeamLead.team_id == team.id)))
    added, removed = sorted(wanted - current), sorted(current - wanted)
    for user_id in added:
        accounts.make_lead(session, team, people[user_id])
    if removed:
        session.execute(
            delete(TeamLead).where(TeamLead.team_id == team.id, TeamLead.user_id.in_(removed))
        )
    session.flush()
    return {"added": added, "removed": removed}


# -- API tokens -----------------------------------------------------------------------------


def tokens(session: Session) -> Sequence[ApiToken]:
    """Every API token, live ones first, newest first."""
    return session.scalars(
        select(ApiToken).order_by(
            ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc(), ApiToken.id.desc()
        )
    ).all()


def check_token_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 120:
        raise AccountError("a token name must be 1 to 120 characters")
    return name


# -- audit log ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilter:
    action_prefix: str = ""
    actor_id: int | None = None
    subject_user_id: int | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive


def audit_page(
    session: Session, where: AuditFilter, *, page: int = 1, per_page: int = 50
) -> Page[AuditEvent]:
    """Audit events matching the filter, newest first."""
    query = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    if where.action_prefix:
        escaped = where.action_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(AuditEvent.action.like(escaped + "%", escape="\\"))
    if where.actor_id is not None:
        query = query.where(AuditEvent.actor_id == where.actor_id)
    if where.subject_user_id is not None:
        query = query.where(AuditEvent.subject_user_id == where.subject_user_id)
    if where.since is not None:
        query = query.where(AuditEvent.at >= where.since)
    if where.until is not None:
        query = query.where(AuditEvent.at < where.until)
    return _page(session, query, page, per_page)


def user_by_username(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username))


def usernames(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(select(User.id, User.username).where(User.id.in_(wanted)))
    return {user_id: name for user_id, name in rows}


def shown_detail(detail: dict[str, Any] | None) -> str:
    """An audit event's detail as compact JSON, with sensitive keys withheld at any depth."""

    def scrub(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: "[withheld]" if str(k).lower() in WITHHELD_KEYS else scrub(v)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [scrub(v) for v in value]
        return value

    if not detail:
        return ""
    return json.dumps(scrub(detail), separators=(",", ":"), sort_keys=True, default=str)


# -- policy simulation ----------------------------------------------------------------------


def ledger_events(session: Session, start: datetime, end: datetime) -> int:
    """How many ledger events a simulation of [start, end] would replay."""
    return (
        session.scalar(
            select(func.count(ExposureEvent.id)).where(
                ExposureEvent.started_at >= start, ExposureEvent.started_at <= end
            )
        )
        or 0
    )


@contextmanager
def ledger_copy(session: Session, start: datetime, end: datetime) -> Iterator[Session]:
    """A private in-memory copy of what a simulation reads (people, teams, the ledger from
    start to end). Copying is quick; replaying is slow. With the copy made, the caller can end
    its transaction before the replay, so the live database (SQLite takes its write lock at
    BEGIN) is not held while `exposure.simulate.simulate` runs against the copy."""
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    try:
        with Session(engine) as copy:
            copy_for_simulation(session, copy, start, end)
            copy.commit()
            yield copy
    finally:
        engine.dispose()


# -- policy problems ------------------------------------------------------------------------


@dataclass
class ProblemGroup:
    """The problems of one rule (or one section of the file), for display."""

    title: str
    rule_id: str | None = None
    items: list[tuple[str, str]] = field(default_factory=list)  # (field, message)
    order: int = -1  # the rule's index; -1 for the other sections, shown first


_RULE_AT = re.compile(r"^rules\[(\d+)\]")


def group_policy_problems(text: str, problems: Sequence[str]) -> list[ProblemGroup]:
    """Group PolicyError.problems by rule ("Rule 2: id") and by section for the rest.

    The parser names a rule as ``rules[i]`` followed by `` (id=...)`` when its id is a
    string; that prefix is rebuilt from the file itself, so odd ids cannot confuse it.
    """
    try:
        raw_rules = tomllib.loads(text).get("rules", [])
    except tomllib.TOMLDecodeError:
        raw_rules = []
    if not isinstance(raw_rules, list):
        raw_rules = []
    groups: dict[str, ProblemGroup] = {}
    for problem in problems:
        match = _RULE_AT.match(problem)
        if match:
            index = int(match.group(1))
            raw = raw_rules[index] if index < len(raw_rules) else None
            rid = raw.get("id") if isinstance(raw, dict) else None
            rid = rid if isinstance(rid, str) else None
            prefix = match.group(0) + (f" (id={rid})" if rid is not None else "")
            rest = problem.removeprefix(prefix)
            where, _, message = rest.partition(": ")
            title = f"Rule {index + 1}" + (f": {rid}" if rid else "")
            group = groups.setdefault(f"rule:{index}", ProblemGroup(title, rid, order=index))
            group.items.append((where.lstrip(".") or "(the rule)", message))
            continue
        where, sep, message = problem.partition(": ")
        if not sep or (" " in where and not where.startswith("(")):
            section, where, message = "The file", "", problem
        else:
            section = where.split(".", 1)[0]
            if where == "(top level)":
                section, where = "Top level", ""
        group = groups.setdefault(f"section:{section}", ProblemGroup(section))
        group.items.append((where, message))
    # The file's sections first (in the order found), then the rules in file order.
    return sorted(groups.values(), key=lambda g: g.order)
