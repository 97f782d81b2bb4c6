"""People, teams, roles, passwords, login throttling and API tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from exposure.models import ROLES, ApiToken, Team, TeamLead, User, UserRole

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
API_SCOPES = ("attachments:write", "attachments:read", "summaries:read")


class AccountError(ValueError):
    """A request about accounts that cannot be carried out; the message says why."""


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${salt.hex()}${digest.hex()}"


def verify_password(stored: str, password: str) -> bool:
    try:
        scheme, n, salt_hex, digest_hex = stored.split("$")
        if scheme != "scrypt":
            return False
        digest = hashlib.scrypt(
            password.encode(), salt=bytes.fromhex(salt_hex), dklen=32, n=int(n), r=8, p=1
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest.hex(), digest_hex)


def _check_password_strength(password: str) -> None:
    if len(password) < 10:
        raise AccountError("password must be at least 10 characters")


def create_team(session: Session, name: str, now: datetime) -> Team:
    if session.scalar(select(Team).where(Team.name == name)) is not None:
        raise AccountError(f"team {name!r} already exists")
    team = Team(name=name, created_at=now)
    session.add(team)
    session.flush()
    return team


def team_by_name(session: Session, name: str) -> Team:
    team = session.scalar(select(Team).where(Team.name == name))
    if team is None:
        raise AccountError(f"no team named {name!r}")
    return team


def create_user(
    session: Session,
    username: str,
    password: str,
    roles: Iterable[str],
    now: datetime,
    *,
    display_name: str | None = None,
    team: Team | None = None,
) -> User:
    roles = sorted(set(roles))
    unknown = [r for r in roles if r not in ROLES]
    if unknown or not roles:
        raise AccountError(f"roles must be some of {', '.join(ROLES)}; got {roles}")
    if not username or len(username) > 80:
        raise AccountError("username must be 1 to 80 characters")
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise AccountError(f"user {username!r} already exists")
    _check_password_strength(password)
    user = User(
        username=username,
        display_name=display_name or username,
        password_hash=hash_password(password),
        team_id=team.id if team else None,
        active=True,
        session_token=secrets.token_urlsafe(32),
        failed_logins=0,
        created_at=now,
        role_rows=[UserRole(role=r) for r in roles],
    )
    session.add(user)
    session.flush()
    return user


def make_lead(session: Session, team: Team, user: User) -> None:
    if "lead" not in user.roles:
        raise AccountError(f"{user.username} does not hold the lead role")
    if session.get(TeamLead, (team.id, user.id)) is None:
        session.add(TeamLead(team_id=team.id, user_id=user.id))
        session.flush()


@dataclass(frozen=True)
class Identity:
    """Who a session belongs to: what every request needs, read in one query."""

    id: int
    username: str
    display_name: str
    team_id: int | None
    session_token: str
    roles: frozenset[str]


# The columns an Identity is read from; a query selects them, then the roles as one
# space-separated string, and hands the row to `identity_of`.
IDENTITY_COLUMNS = (User.id, User.username, User.display_name, User.team_id, User.session_token)

_IDENTITY = (
    select(*IDENTITY_COLUMNS, func.aggregate_strings(UserRole.role, " "))
    .join(UserRole, UserRole.user_id == User.id)
    .where(User.session_token == bindparam("token"), User.active.is_(True))
    .group_by(User.id)
)


def identity_of(row: Sequence[Any]) -> Identity:
    """The Identity in the first columns of a row (IDENTITY_COLUMNS, then the roles)."""
    uid, username, display_name, team_id, session_token, roles = row[:6]
    return Identity(uid, username, display_name, team_id, session_token, frozenset(roles.split()))


def identity_by_session_token(session: Session, token: str) -> Identity | None:
    """The active person holding this session token, with roles, in one round trip."""
    row = session.execute(_IDENTITY, {"token": token}).first()
    return None if row is None else identity_of(row)


def revoke_sessions(user: User) -> None:
    """Invalidate every session of this user, including copied cookies."""
    user.session_token = secrets.token_urlsafe(32)


@dataclass(frozen=True)
class LoginResult:
    user: User | None
    reason: str  # 'ok' | 'invalid' | 'locked' | 'disabled'
    locked_until: datetime | None = None


def authenticate(
    session: Session,
    username: str,
    password: str,
    now: datetime,
    *,
    max_failures: int,
    lock_seconds: int,
) -> LoginResult:
    """Check a password; count failures per account and lock it for a while after too many."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        verify_password(hash_password("timing-equaliser"), password)
        return LoginResult(None, "invalid")
    if user.locked_until is not None and user.locked_until > now:
        return LoginResult(None, "locked", user.locked_until)
    if not verify_password(user.password_hash, password):
        user.failed_logins += 1
        if user.failed_logins >= max_failures:
            user.locked_until = now + timedelta(seconds=lock_seconds)
            user.failed_logins = 0
            session.flush()
            return LoginResult(None, "locked", user.locked_until)
        session.flush()
        return LoginResult(None, "invalid")
    if not user.active:
        return LoginResult(None, "disabled")
    user.failed_logins = 0
    user.locked_until = None
    session.flush()
    return LoginResult(user, "ok")


def unlock(user: User, now: datetime) -> bool:
    """Lift a lock from failed sign-ins; False if the account was not locked at `now`.

    It only forgets the failures: nobody is signed in and no session ends."""
    if user.locked_until is None or user.locked_until <= now:
        return False
    user.locked_until = None
    user.failed_logins = 0
    return True


def set_password(user: User, password: str) -> None:
    _check_password_strength(password)
    user.password_hash = hash_password(password)
    revoke_sessions(user)


def set_active(user: User, active: bool) -> None:
    user.active = active
    revoke_sessions(user)


def _token_digest(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def create_api_token(
    session: Session, name: str, scopes: Iterable[str], now: datetime
) -> tuple[ApiToken, str]:
    """Create a token; the plaintext is returned once and only its hash is stored."""
    scopes = sorted(set(scopes))
    bad = [s for s in scopes if s not in API_SCOPES]
    if bad or not scopes:
        raise AccountError(f"scopes must be some of {', '.join(API_SCOPES)}; got {scopes}")
    plaintext = "svg_" + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name,
        prefix=plaintext[:10],
        token_hash=_token_digest(plaintext),
        scopes=" ".join(scopes),
        created_at=now,
    )
    session.add(token)
    session.flush()
    return token, plaintext


def token_for(session: Session, plaintext: str, now: datetime) -> ApiToken | None:
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == _token_digest(plaintext)))
    if token is None or token.revoked_at is not None:
        return None
    token.last_used_at = now
    return token


def revoke_api_token(session: Session, token_id: int, now: datetime) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise AccountError(f"no API token with id {token_id}")
    token.revoked_at = now
    session.flush()
    return token
