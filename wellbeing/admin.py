"""Admin pages: people, teams and roles (and unlocking accounts), API tokens, the exposure
policy (view, upload, simulate, activate, go back to the file) and the audit log. Admins
manage; they never read wellbeing data, so nothing here shows check-in answers, scores or
anyone's exposure except the counts of a policy simulation. Every change is a
CSRF-protected POST and is audited."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from exposure import accounts, audit, policy_versions
from exposure import admin as ops
from exposure.accounts import API_SCOPES, AccountError
from exposure.models import ROLES, ApiToken, PolicyVersion, Team, User
from exposure.policy import Action, Policy, PolicyError, Rule, default_policy_text
from exposure.simulate import simulate
from wellbeing.auth import roles_required
from wellbeing.db import clock, db
from wellbeing.inputs import BadInput
from wellbeing.policies import PolicyStore

bp = Blueprint("admin", __name__, url_prefix="/admin")

USERS_PER_PAGE = 100
AUDIT_PER_PAGE = 50
SIMULATE_DAYS = (1, 90)  # the same bounds as `wellbeing policy simulate --days`
# Replaying costs about 13 ms an event (exposure.simulate: 2,000 events of 20 people took
# 26 s); more would near a worker's request timeout (30 s by default in gunicorn). The CLI
# has no such bound.
SIMULATE_MAX_EVENTS = 1000


@bp.before_request
@roles_required("admin")
def _admins_only() -> None:
    """Every admin page, present and future, is for admins only (anonymous: the login)."""


def _fail(exc: Exception) -> str:
    if isinstance(exc, BadInput):
        return exc.description or "bad input"
    return str(exc)


def _actor() -> int:
    actor: int = current_user.id
    return actor


def _remote() -> str | None:
    return request.remote_addr


# -- input ----------------------------------------------------------------------------------


def _text(form: Mapping[str, Any], name: str, label: str, *, limit: int) -> str:
    value = str(form.get(name, "")).strip()
    if not value:
        raise BadInput(f"{label} is required")
    if len(value) > limit:
        raise BadInput(f"{label} must be at most {limit} characters")
    return value


def _email(form: Mapping[str, Any]) -> str | None:
    value = str(form.get("email", "")).strip()
    return value or None


def _team_id(form: Mapping[str, Any]) -> int | None:
    value = str(form.get("team_id", "")).strip()
    if not value:
        return None
    if not value.isdigit():
        raise BadInput("team must be one of the listed teams")
    return int(value)


def _roles(form: MultiDict[str, str]) -> list[str]:
    roles = form.getlist("roles")
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise BadInput(f"roles must be some of {', '.join(ROLES)}; got {', '.join(unknown)}")
    if not roles:
        raise BadInput("choose at least one role")
    return roles


def _page_number() -> int:
    value = request.args.get("page", "1")
    if not value.isdigit() or int(value) < 1:
        raise BadInput("page must be a whole number from 1")
    return int(value)


def _user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404, description="No such person.")
    return user


def _values(form: MultiDict[str, str] | None) -> dict[str, Any]:
    """What a form showed, to fill it in again after an error (never the password)."""
    if form is None:
        return {"roles": ["associate"]}
    values: dict[str, Any] = {k: form.get(k, "") for k in form if k not in ("password",)}
    values["roles"] = form.getlist("roles")
    values["scopes"] = form.getlist("scopes")
    return values


# -- overview -------------------------------------------------------------------------------


@bp.get("")
def index() -> Any:
    people, disabled = ops.people_counts(db.session)
    live_tokens = [t for t in ops.tokens(db.session) if t.revoked_at is None]
    recent = ops.audit_page(db.session, ops.AuditFilter(), per_page=10)
    return render_template(
        "admin_index.html",
        people=people,
        disabled=disabled,
        teams=len(ops.all_teams(db.session)),
        live_tokens=len(live_tokens),
        active=_in_force(),
        recent=recent.items,
        names=ops.usernames(
            db.session,
            [e.actor_id for e in recent.items] + [e.subject_user_id for e in recent.items],
        ),
        shown_detail=ops.shown_detail,
    )


# -- people ---------------------------------------------------------------------------------


def _users_page(error: str | None = None, form: MultiDict[str, str] | None = None) -> Any:
    search = request.args.get("q", "").strip()[:120]
    found = ops.users_page(db.session, search=search, page=_page_number(), per_page=USERS_PER_PAGE)
    teams = {t.id: t for t in ops.all_teams(db.session)}
    led = ops.led_teams_by_user(db.session)
    return render_template(
        "admin_users.html",
        found=found,
        search=search,
        teams=teams,
        led=led,
        roles=ROLES,
        error=error,
        values=_values(form),
        now=clock().now(),
    ), (400 if error else 200)


@bp.get("/users")
def users() -> Any:
    return _users_page()


@bp.post("/users/create")
def create_user() -> Any:
    form = request.form
    try:
        username = _text(form, "username", "username", limit=80)
        if not ops.USERNAME.match(username):
            raise BadInput("username may only use letters, digits, '.', '_', '-' and '@'")
        display_name = str(form.get("display_name", "")).strip() or username
        password = str(form.get("password", ""))
        if not password:
            raise BadInput("an initial password is required")
        roles = _roles(form)
        lead = form.get("lead_of_team") == "1"
        user = ops.create_user(
            db.session,
            username,
            password,
            roles,
            clock().now(),
            display_name=display_name,
            email=_email(form),
            team_id=_team_id(form),
            lead_of_team=lead,
        )
    except (BadInput, AccountError) as exc:
        db.session.rollback()
        return _users_page(_fail(exc), form)
    audit.record(
        db.session,
        "admin.user_created",
        clock().now(),
        actor_id=_actor(),
        subject_user_id=user.id,
        remote_addr=_remote(),
        username=user.username,
        roles=sorted(user.roles),
        team_id=user.team_id,
        lead_of_team_ids=ops.led_team_ids(db.session, user.id),
    )
    db.session.commit()
    flash(f"Created {user.username}. Give them their initial password privately.", "info")
    return redirect(url_for("admin.user", user_id=user.id))


def _user_page(
    user: User, error: str | None = None, form: MultiDict[str, str] | None = None
) -> Any:
    return render_template(
        "admin_user.html",
        person=user,
        teams=ops.all_teams(db.session),
        led=[db.session.get(Team, t) for t in ops.led_team_ids(db.session, user.id)],
        roles=ROLES,
        error=error,
        values=_values(form) if form is not None else None,
        is_self=user.id == _actor(),
        now=clock().now(),
    ), (400 if error else 200)


@bp.get("/users/<int:user_id>")
def user(user_id: int) -> Any:
    return _user_page(_user(user_id))


@bp.post("/users/<int:user_id>/update")
def update_user(user_id: int) -> Any:
    person = _user(user_id)
    form = request.form
    try:
        changes = ops.update_user(
            db.session,
            person,
            display_name=_text(form, "display_name", "display name", limit=120),
            email=_email(form),
            roles=_roles(form),
            team_id=_team_id(form),
            actor_id=_actor(),
        )
    except (BadInput, AccountError) as exc:
        db.session.rollback()
        return _user_page(_user(user_id), _fail(exc), form)
    if not changes:
        flash("Nothing to change.", "info")
        return redirect(url_for("admin.user", user_id=user_id))
    audit.record(
        db.session,
        "admin.user_updated",
        clock().now(),
        actor_id=_actor(),
        subject_user_id=person.id,
        remote_addr=_remote(),
        changes=changes,
    )
    db.session.commit()
    flash(f"Saved: {', '.join(changes)}.", "info")
    return redirect(url_for("admin.user", user_id=user_id))


@bp.post("/users/<int:user_id>/active")
def set_active(user_id: int) -> Any:
    person = _user(user_id)
    choice = request.form.get("active", "")
    try:
        if choice not in ("0", "1"):
            raise BadInput("active must be 1 (enable) or 0 (disable)")
        changed = ops.set_active(person, choice == "1", actor_id=_actor())
    except (BadInput, AccountError) as exc:
        return _user_page(person, _fail(exc))
    if changed:
        audit.record(
            db.session,
            "admin.user_enabled" if person.active else "admin.user_disabled",
            clock().now(),
            actor_id=_actor(),
            subject_user_id=person.id,
            remote_addr=_remote(),
        )
        db.session.commit()
    flash(
        f"{person.username} is enabled."
        if person.active
        else f"{person.username} is disabled and signed out everywhere.",
        "info",
    )
    return redirect(url_for("admin.user", user_id=user_id))


@bp.post("/users/<int:user_id>/unlock")
def unlock_user(user_id: int) -> Any:
    person = _user(user_id)
    now = clock().now()
    if not accounts.unlock(person, now):
        flash(f"{person.username} is not locked.", "info")
        return redirect(url_for("admin.user", user_id=user_id))
    audit.record(
        db.session,
        "admin.user_unlocked",
        now,
        actor_id=_actor(),
        subject_user_id=person.id,
        remote_addr=_remote(),
    )
    db.session.commit()
    flash(f"{person.username} is unlocked and can sign in again.", "info")
    return redirect(url_for("admin.user", user_id=user_id))


@bp.post("/users/<int:user_id>/password")
def reset_password(user_id: int) -> Any:
    person = _user(user_id)
    password = request.form.get("password", "")
    try:
        if password != request.form.get("confirm", ""):
            raise BadInput("the two passwords differ")
        accounts.set_password(person, password)
    except (BadInput, AccountError) as exc:
        db.session.rollback()
        return _user_page(_user(user_id), _fail(exc))
    audit.record(
        db.session,
        "admin.password_reset",
        clock().now(),
        actor_id=_actor(),
        subject_user_id=person.id,
        remote_addr=_remote(),
    )
    db.session.commit()
    flash(f"New password set for {person.username}; their sessions were ended.", "info")
    return redirect(url_for("admin.user", user_id=user_id))


# -- teams ----------------------------------------------------------------------------------


def _teams_page(error: str | None = None, form: MultiDict[str, str] | None = None) -> Any:
    return render_template(
        "admin_teams.html",
        teams=ops.teams(db.session),
        candidates=[u for u in ops.all_users(db.session) if "lead" in u.roles],
        error=error,
        values=_values(form),
    ), (400 if error else 200)


@bp.get("/teams")
def teams() -> Any:
    return _teams_page()


@bp.post("/teams/create")
def create_team() -> Any:
    try:
        name = ops.check_team_name(request.form.get("name", ""))
        team = accounts.create_team(db.session, name, clock().now())
    except AccountError as exc:
        db.session.rollback()
        return _teams_page(str(exc), request.form)
    audit.record(
        db.session,
        "admin.team_created",
        clock().now(),
        actor_id=_actor(),
        remote_addr=_remote(),
        team_id=team.id,
        name=team.name,
    )
    db.session.commit()
    flash(f"Created team {team.name}.", "info")
    return redirect(url_for("admin.teams"))


@bp.post("/teams/<int:team_id>/leads")
def set_leads(team_id: int) -> Any:
    team = db.session.get(Team, team_id)
    if team is None:
        abort(404, description="No such team.")
    raw = request.form.getlist("leads")
    try:
        if not all(v.isdigit() for v in raw):
            raise BadInput("leads must be chosen from the list")
        changed = ops.set_team_leads(db.session, team, {int(v) for v in raw})
    except (BadInput, AccountError) as exc:
        db.session.rollback()
        return _teams_page(_fail(exc))
    if changed["added"] or changed["removed"]:
        audit.record(
            db.session,
            "admin.team_leads_set",
            clock().now(),
            actor_id=_actor(),
            remote_addr=_remote(),
            team_id=team.id,
            added=changed["added"],
            removed=changed["removed"],
        )
        db.session.commit()
    flash(f"Leads of {team.name} saved.", "info")
    return redirect(url_for("admin.teams"))


# -- API tokens -----------------------------------------------------------------------------


def _tokens_page(error: str | None = None, form: MultiDict[str, str] | None = None) -> Any:
    return render_template(
        "admin_tokens.html",
        tokens=ops.tokens(db.session),
        scopes=API_SCOPES,
        error=error,
        values=_values(form) if form is not None else {"scopes": []},
    ), (400 if error else 200)


@bp.get("/tokens")
def tokens() -> Any:
    return _tokens_page()


@bp.post("/tokens/create")
def create_token() -> Any:
    form = request.form
    try:
        name = ops.check_token_name(form.get("name", ""))
        scopes = form.getlist("scopes")
        if not scopes:
            raise BadInput("choose at least one scope")
        token, plaintext = accounts.create_api_token(db.session, name, scopes, clock().now())
    except (BadInput, AccountError) as exc:
        db.session.rollback()
        return _tokens_page(_fail(exc), form)
    audit.record(
        db.session,
        "admin.token_created",
        clock().now(),
        actor_id=_actor(),
        token_id=token.id,
        remote_addr=_remote(),
        name=token.name,
        scopes=token.scopes.split(),
    )
    db.session.commit()
    # The only time the plaintext exists outside the caller's hands: this response, which
    # is never cached (HTML is no-store) and is not a redirect target that could be reloaded.
    return render_template("admin_token_created.html", token=token, plaintext=plaintext)


@bp.post("/tokens/<int:token_id>/revoke")
def revoke_token(token_id: int) -> Any:
    token = db.session.get(ApiToken, token_id)
    if token is None:
        abort(404, description="No such API token.")
    if token.revoked_at is not None:
        return _tokens_page(f"token {token.name} ({token.prefix}…) is already revoked")
    accounts.revoke_api_token(db.session, token_id, clock().now())
    audit.record(
        db.session,
        "admin.token_revoked",
        clock().now(),
        actor_id=_actor(),
        token_id=token.id,
        remote_addr=_remote(),
        name=token.name,
    )
    db.session.commit()
    flash(f"Revoked {token.name} ({token.prefix}…); it no longer works.", "info")
    return redirect(url_for("admin.tokens"))


# -- policy ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class InForce:
    """The policy in force and where it came from."""

    policy: Policy
    text: str
    source: str  # 'database' | 'file' | 'default'
    row: PolicyVersion | None = None
    path: str | None = None
    warning: str | None = None


def _store() -> PolicyStore:
    store: PolicyStore = current_app.extensions["wellbeing.policy"]
    return store


def _in_force() -> InForce:
    """Read from the database, not this worker's 5-second cache: the truth for every worker."""
    store = _store()
    warning = None
    row = policy_versions.active(db.session)
    if row is not None:
        try:
            return InForce(policy_versions.load(row), row.text, "database", row=row)
        except PolicyError as exc:
            warning = f"activated version #{row.id} no longer validates ({exc}); it is ignored"
    if store.path is not None:
        pol = store.current()
        try:
            text = Path(store.path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            text = ""
            warning = f"cannot read {store.path}: {exc}"
        if store.last_error:
            warning = (
                f"the file has a problem, the last good version stays in force: {store.last_error}"
            )
        return InForce(pol, text, "file", path=str(store.path), warning=warning)
    return InForce(store.current(), default_policy_text(), "default", warning=warning)


_UNITS = {  # (one, many)
    "dose": ("weighted minute", "weighted minutes"),
    "graphic_minutes": ("graphic minute", "graphic minutes"),
    "reveals": ("reveal", "reveals"),
    "continuous_minutes": ("continuous minute", "continuous minutes"),
}


def describe_action(action: Action) -> str:
    if action.type == "break":
        return f"break {action.minutes:g} min"
    if action.type == "rotate":
        return f"rotate off {action.hours:g} h" if action.hours else "rotate off until returned"
    if action.type == "checkin":
        within = f"check-in within {action.within_hours:g} h"
        return within + (f" ({action.instrument})" if action.instrument else "")
    return action.type.replace("_", " ")


@dataclass(frozen=True)
class RuleRow:
    id: str
    description: str
    measure: str
    window: str
    threshold: str
    actions: str
    cooldown: str
    source: str


def rule_rows(pol: Policy) -> list[RuleRow]:
    """A policy's rules in words, as `wellbeing policy check` lists them."""
    rows = []
    for rule in pol.rules:
        measure = rule.metric.replace("_", " ")
        if rule.categories:
            measure += " of " + ", ".join(sorted(rule.categories))
        if rule.min_severity:
            measure += f" (severity {rule.min_severity}+)"
        rows.append(
            RuleRow(
                id=rule.id,
                description=rule.description,
                measure=measure,
                window=rule.window.label,
                threshold=f"{rule.threshold:g} {_UNITS[rule.metric][rule.threshold != 1]}",
                actions=", ".join(describe_action(a) for a in rule.actions),
                cooldown=_minutes(rule),
                source=rule.source,
            )
        )
    return rows


def _minutes(rule: Rule) -> str:
    minutes = rule.cooldown.total_seconds() / 60
    if minutes and minutes % 1440 == 0:
        return f"{minutes / 1440:g} d"
    if minutes and minutes % 60 == 0:
        return f"{minutes / 60:g} h"
    return f"{minutes:g} min"


def _fallback() -> tuple[Policy, str | None]:
    """What applies when no version activated here is in force: the file, or the default."""
    store = _store()
    return store.current(), str(store.path) if store.path is not None else None


def _policy_page(error: str | None = None, problems: Any = None, text: str = "") -> Any:
    fallback, fallback_path = _fallback()
    return render_template(
        "admin_policy.html",
        active=_in_force(),
        fallback=fallback,
        fallback_path=fallback_path,
        rule_rows=rule_rows,
        versions=policy_versions.recent(db.session),
        active_id=policy_versions.active_id(db.session),
        names=ops.usernames(
            db.session, [v.created_by_id for v in policy_versions.recent(db.session)]
        ),
        error=error,
        problems=problems,
        text=text,
    ), (400 if error or problems else 200)


@bp.get("/policy")
def policy() -> Any:
    return _policy_page()


def _uploaded_text() -> str:
    file = request.files.get("file")
    if file is not None and file.filename:
        data = file.read(policy_versions.MAX_POLICY_BYTES + 1)
        if len(data) > policy_versions.MAX_POLICY_BYTES:
            raise BadInput(
                f"the file is larger than {policy_versions.MAX_POLICY_BYTES // 1024} KiB"
            )
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise BadInput("the file must be UTF-8 text (a TOML policy)") from None
    text = request.form.get("text", "")
    if not text.strip():
        raise BadInput("paste a policy into the box or choose a file")
    return text


@bp.post("/policy/upload")
def upload_policy() -> Any:
    text = request.form.get("text", "")
    try:
        text = _uploaded_text()
        row = policy_versions.upload(db.session, text, _actor(), clock().now())
    except BadInput as exc:
        return _policy_page(_fail(exc), text=text)
    except PolicyError as exc:
        db.session.rollback()
        return _policy_page(problems=ops.group_policy_problems(text, exc.problems), text=text)
    audit.record(
        db.session,
        "policy.uploaded",
        clock().now(),
        actor_id=_actor(),
        remote_addr=_remote(),
        version_id=row.id,
        version=row.version,
        rules=len(policy_versions.load(row).rules),
    )
    db.session.commit()
    flash(
        f"Uploaded policy {row.version} as version #{row.id}. Simulate it, then activate.", "info"
    )
    return redirect(url_for("admin.policy_version", version_id=row.id))


def _version(version_id: int) -> tuple[PolicyVersion, Policy]:
    row = db.session.get(PolicyVersion, version_id)
    if row is None:
        abort(404, description="No such policy version.")
    try:
        return row, policy_versions.load(row)
    except PolicyError as exc:
        abort(409, description=f"This version no longer validates: {exc}")


def _version_page(row: PolicyVersion, pol: Policy, **extra: Any) -> Any:
    return render_template(
        "admin_policy_version.html",
        row=row,
        pol=pol,
        rules=rule_rows(pol),
        is_active=policy_versions.active_id(db.session) == row.id,
        ended_at=policy_versions.ended_at(db.session, row),
        names=ops.usernames(db.session, [row.created_by_id, row.activated_by_id]),
        days_range=SIMULATE_DAYS,
        **extra,
    )


@bp.get("/policy/<int:version_id>")
def policy_version(version_id: int) -> Any:
    row, pol = _version(version_id)
    return _version_page(row, pol)


@bp.get("/policy/<int:version_id>/simulate")
def simulate_policy(version_id: int) -> Any:
    row, pol = _version(version_id)
    raw = request.args.get("days", "30").strip()
    low, high = SIMULATE_DAYS
    if not raw.isdigit() or not low <= int(raw) <= high:
        return _version_page(
            row, pol, error=f"days must be a whole number from {low} to {high}"
        ), 400
    days = int(raw)
    end = clock().now()
    start = end - timedelta(days=days)
    events = ops.ledger_events(db.session, start, end)
    if events > SIMULATE_MAX_EVENTS:
        message = (
            f"the last {days} days hold {events} ledger events, more than this page replays "
            f"({SIMULATE_MAX_EVENTS}); choose fewer days, or run "
            f"`wellbeing policy simulate --days {days}` on a server"
        )
        return _version_page(row, pol, error=message, days=days), 400
    with ops.ledger_copy(db.session, start, end) as ledger:
        db.session.rollback()  # the replay below must not hold the live database
        result = simulate(ledger, pol, start, end)
    audit.record(
        db.session,
        "policy.simulated",
        end,
        actor_id=_actor(),
        remote_addr=_remote(),
        version_id=row.id,
        days=days,
        events=result.events,
        people=result.people,
    )
    db.session.commit()
    return _version_page(row, pol, result=result, days=days)


@bp.post("/policy/<int:version_id>/activate")
def activate_policy(version_id: int) -> Any:
    row, _ = _version(version_id)
    before = _in_force()
    now = clock().now()
    policy_versions.activate(db.session, row.id, _actor(), now)
    audit.record(
        db.session,
        "policy.activated",
        now,
        actor_id=_actor(),
        remote_addr=_remote(),
        version_id=row.id,
        version=row.version,
        previous={
            "source": before.source,
            "version": before.policy.version,
            "version_id": before.row.id if before.row else None,
        },
    )
    db.session.commit()
    # This worker applies it from the next request; the others re-check the database within
    # DB_CHECK_SECONDS (see wellbeing.policies.PolicyStore).
    _store().db_checked_at = -1e9
    flash(f"Policy {row.version} (#{row.id}) is active on every worker within seconds.", "info")
    return redirect(url_for("admin.policy"))


@bp.post("/policy/file")
def use_policy_file() -> Any:
    before = _in_force()
    now = clock().now()
    stopped = policy_versions.use_file(db.session, _actor(), now)
    fallback, path = _fallback()
    if not stopped:
        flash(f"No version activated here is in force; policy {fallback.version} applies.", "info")
        return redirect(url_for("admin.policy"))
    audit.record(
        db.session,
        "policy.file_restored",
        now,
        actor_id=_actor(),
        remote_addr=_remote(),
        source="file" if path else "default",
        version=fallback.version,
        deactivated=stopped,
        previous={
            "source": before.source,
            "version": before.policy.version,
            "version_id": before.row.id if before.row else None,
        },
    )
    db.session.commit()
    _store().db_checked_at = -1e9  # as after an activation: this worker at once, others soon
    where = "the policy file" if path else "the default policy shipped with the gateway"
    flash(f"Back to {where}: policy {fallback.version} is in force within seconds.", "info")
    return redirect(url_for("admin.policy"))


# -- audit log ------------------------------------------------------------------------------


def _day(value: str, label: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadInput(f"{label} must be a date like 2026-01-31") from None


def _audit_filter(args: Mapping[str, str]) -> ops.AuditFilter:
    action = args.get("action", "").strip()
    if len(action) > 64:
        raise BadInput("action must be at most 64 characters")
    ids: dict[str, int | None] = {}
    for key in ("actor", "subject"):
        name = args.get(key, "").strip()
        ids[key] = None
        if name:
            person = ops.user_by_username(db.session, name)
            if person is None:
                raise BadInput(f"no user named {name!r} (the {key} filter takes a username)")
            ids[key] = person.id
    since, until = _day(args.get("from", ""), "from"), _day(args.get("to", ""), "to")
    if since and until and since > until:
        raise BadInput("the 'from' date must not be after the 'to' date")
    return ops.AuditFilter(
        action_prefix=action,
        actor_id=ids["actor"],
        subject_user_id=ids["subject"],
        since=datetime.combine(since, time(), UTC) if since else None,
        until=datetime.combine(until + timedelta(days=1), time(), UTC) if until else None,
    )


@bp.get("/audit")
def audit_log() -> Any:
    filters = {
        k: request.args.get(k, "").strip() for k in ("action", "actor", "subject", "from", "to")
    }
    try:
        where = _audit_filter(request.args)
        found = ops.audit_page(db.session, where, page=_page_number(), per_page=AUDIT_PER_PAGE)
    except BadInput as exc:
        return render_template(
            "admin_audit.html", filters=filters, found=None, error=_fail(exc), names={}
        ), 400
    return render_template(
        "admin_audit.html",
        filters=filters,
        found=found,
        error=None,
        args={k: v for k, v in filters.items() if v},
        names=ops.usernames(
            db.session,
            [e.actor_id for e in found.items] + [e.subject_user_id for e in found.items],
        ),
        shown_detail=ops.shown_detail,
    )
