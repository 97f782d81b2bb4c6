"""The admin pages: people, roles and teams, unlocking accounts, API tokens shown once, the
policy (view, upload with per-rule errors, simulate, activate, go back to the file) and the
audit log, each change audited, each bad input a clear 400, and no wellbeing data anywhere
on them."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from exposure import accounts, audit, checkins
from exposure import admin as ops
from exposure.models import (
    ApiToken,
    AuditEvent,
    Break,
    ExposureEvent,
    PolicyTrigger,
    PolicyVersion,
    Team,
    TeamLead,
    User,
    UserRole,
)
from exposure.policy import default_policy_text
from tests.conftest import PASSWORD, Auth, make_app
from wellbeing import policies
from wellbeing.db import db

NEW_PASSWORD = "a-brand-new-passphrase"

# One reveal of anything in an hour starts a break: strict enough to notice at once.
STRICT = """
version = "strict-1"

[[rules]]
id = "any-reveal"
description = "Any reveal: a five-minute break."
metric = "reveals"
window = "rolling 60m"
threshold = 1
cooldown_minutes = 1440
actions = [{ type = "break", minutes = 5 }]
"""

BROKEN = """
version = "broken"
colour = "teal"

[[rules]]
id = "too-fast"
description = "Fine words."
metric = "reveals"
window = "rolling 5 fortnights"
threshold = -1
actions = [{ type = "break" }]

[[rules]]
id = "no-words"
metric = "dose"
window = "day"
threshold = 10
actions = [{ type = "alert_lead" }]
"""


# -- pure -----------------------------------------------------------------------------------


def test_policy_problems_are_grouped_by_rule_and_section():
    from exposure.policy import PolicyError, parse_policy

    with pytest.raises(PolicyError) as caught:
        parse_policy(BROKEN)
    groups = ops.group_policy_problems(BROKEN, caught.value.problems)
    assert [(g.title, g.rule_id) for g in groups] == [
        ("Top level", None),
        ("Rule 1: too-fast", "too-fast"),
        ("Rule 2: no-words", "no-words"),
    ]
    assert groups[0].items == [("", "unknown keys: colour")]
    fields = [where for where, _ in groups[1].items]
    assert fields == ["window", "threshold", "actions[0].minutes"]
    assert groups[2].items == [("description", "must say in words what the rule is for")]
    # Every problem of the parser is shown exactly once.
    assert sum(len(g.items) for g in groups) == len(caught.value.problems)


def test_unreadable_toml_is_one_problem_about_the_file():
    groups = ops.group_policy_problems("version = [", ["not valid TOML: Invalid value (at line 1)"])
    assert [(g.title, g.items) for g in groups] == [
        ("The file", [("", "not valid TOML: Invalid value (at line 1)")])
    ]


def test_shown_detail_is_compact_and_withholds_secrets_and_wellbeing_content():
    detail = {"checkin_id": 3, "answers": [1, 2], "nested": {"Score": 7, "ok": "yes"}}
    shown = ops.shown_detail(detail)
    assert (
        shown
        == '{"answers":"[withheld]","checkin_id":3,"nested":{"Score":"[withheld]","ok":"yes"}}'
    )
    assert ops.shown_detail({}) == ""


# -- fixtures and helpers -------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch):
    # These tests create and sign in many people; scrypt's production cost (about 0.1 s a
    # hash) is not what they test. Hashes still verify with the cost stored in them.
    monkeypatch.setitem(accounts._SCRYPT, "n", 2**10)


@pytest.fixture
def people(world):
    team = world.team("Queue A")
    return {
        "team": team,
        "root": world.user("root", "admin"),
        "ana": world.user("ana", "associate", team_id=team),
        "lee": world.user("lee", "lead", "associate", team_id=team, lead_of=True),
        "wes": world.user("wes", "wellbeing"),
    }


@pytest.fixture
def admin(auth, people) -> Auth:
    assert auth.login("root").status_code == 302
    return auth


def text_of(response: Any) -> str:
    return html.unescape(response.get_data(as_text=True))


def error_of(response: Any) -> str:
    match = re.search(r'id="error">([^<]*)<', response.get_data(as_text=True))
    assert match, response.get_data(as_text=True)[:2000]
    return html.unescape(match.group(1))


def events(app, prefix: str = "") -> list[AuditEvent]:
    with app.app_context():
        return list(
            db.session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action.startswith(prefix))
                .order_by(AuditEvent.id)
            )
        )


def user_row(app, username: str) -> User | None:
    with app.app_context():
        return db.session.scalar(select(User).where(User.username == username))


def reveal(auth: Auth, attachment_id: int, n: int) -> Any:
    auth.client.get(f"/view/{attachment_id}")
    return auth.post(
        f"/view/{attachment_id}/reveal", {"level": "3", "client_event_id": f"evt-admin-{n:04d}"}
    )


# -- who may -------------------------------------------------------------------------------


def _admin_rules(app) -> list[tuple[str, str]]:
    return sorted(
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/admin")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    )


def test_every_admin_route_is_forbidden_to_other_roles(app, people):
    seen = []
    for username in ("ana", "lee", "wes"):  # associate, lead, wellbeing
        caller = Auth(app.test_client())
        caller.login(username)
        for rule, method in _admin_rules(app):
            path = re.sub(r"<int:\w+>", str(people["ana"]), rule)
            if method == "GET":
                response = caller.client.get(path)
            else:
                response = caller.post(path, {"active": "0", "roles": "admin", "name": "x"})
            seen.append((username, method, rule, response.status_code))
    assert {status for *_, status in seen} == {403}, seen
    assert len(seen) >= 3 * 19
    assert events(app, "admin.") == [] and events(app, "policy.") == []
    # The refusals are security events in the audit log.
    assert len(events(app, "security.forbidden")) == len(seen)


def test_anonymous_is_sent_to_sign_in_and_cannot_post(app, client, people):
    for rule, method in _admin_rules(app):
        path = re.sub(r"<int:\w+>", str(people["ana"]), rule)
        response = client.open(path, method=method, data={"active": "0"})
        if method == "GET":
            assert response.status_code == 302, path
            assert "/login?next=" in response.headers["Location"]
        else:
            assert response.status_code == 400, path  # no CSRF token: refused first
    assert user_row(app, "ana").active


def test_posts_without_a_csrf_token_are_refused(app, admin, people):
    response = admin.client.post(f"/admin/users/{people['ana']}/active", data={"active": "0"})
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    assert user_row(app, "ana").active


def test_admin_nav_link_only_for_admins(app, client, auth, people):
    auth.login("ana")
    assert 'href="/admin"' not in client.get("/").get_data(as_text=True)
    admin = Auth(app.test_client())
    admin.login("root")
    assert 'href="/admin"' in admin.client.get("/").get_data(as_text=True)


# -- people ---------------------------------------------------------------------------------


def test_admin_adds_a_person_who_can_then_sign_in(app, admin, people):
    response = admin.post(
        "/admin/users/create",
        {
            "username": "bo.lee",
            "display_name": "Bo Lee",
            "email": "bo@example.org",
            "password": "initial-password-1",
            "roles": ["associate", "lead"],
            "team_id": str(people["team"]),
            "lead_of_team": "1",
        },
    )
    assert response.status_code == 302
    bo = user_row(app, "bo.lee")
    assert bo is not None
    assert (bo.display_name, bo.email, bo.team_id) == ("Bo Lee", "bo@example.org", people["team"])
    assert bo.roles == {"associate", "lead"}
    with app.app_context():
        assert db.session.get(TeamLead, (people["team"], bo.id)) is not None

    (created,) = events(app, "admin.user_created")
    assert (created.actor_id, created.subject_user_id) == (people["root"], bo.id)
    assert created.detail["roles"] == ["associate", "lead"]
    assert created.detail["lead_of_team_ids"] == [people["team"]]
    assert "initial-password-1" not in str(created.detail)

    listing = text_of(admin.client.get("/admin/users"))
    assert "bo.lee" in listing and "bo@example.org" in listing and "leads Queue A" in listing
    bo_client = Auth(app.test_client())
    assert bo_client.login("bo.lee", "initial-password-1").status_code == 302


BAD_PEOPLE = [
    ({"username": ""}, "username is required"),
    ({"username": "has space"}, "username may only use letters"),
    ({"username": "ana"}, "user 'ana' already exists"),
    ({"password": "short"}, "password must be at least 10 characters"),
    ({"password": ""}, "an initial password is required"),
    ({"roles": []}, "choose at least one role"),
    ({"roles": ["root"]}, "roles must be some of associate, lead, wellbeing, admin"),
    ({"team_id": "abc"}, "team must be one of the listed teams"),
    ({"team_id": "999"}, "no team with id 999"),
    ({"email": "not-an-email"}, "'not-an-email' is not an email address"),
    ({"lead_of_team": "1", "roles": ["associate"]}, "bo does not hold the lead role"),
    ({"lead_of_team": "1", "roles": ["lead"], "team_id": ""}, "choose the team they lead"),
]


def test_bad_new_person_is_a_clear_400_and_nothing_is_created(app, admin, people):
    for change, message in BAD_PEOPLE:
        form = {
            "username": "bo",
            "password": "initial-password-1",
            "roles": ["associate"],
            "team_id": str(people["team"]),
            **change,
        }
        response = admin.post("/admin/users/create", form)
        assert response.status_code == 400, change
        assert message in error_of(response), change
        # The form comes back filled in (except the password) to be fixed.
        assert f'value="{html.escape(form["username"])}"' in response.get_data(as_text=True)
        assert "initial-password-1" not in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(User.id))) == 4
    assert events(app, "admin.") == []


def test_changing_roles_and_team_is_audited_and_applies_at_once(app, admin, people, world):
    other = world.team("Queue B")
    lee = Auth(app.test_client())
    lee.login("lee")
    assert lee.client.get("/team").status_code == 200

    response = admin.post(
        f"/admin/users/{people['lee']}/update",
        {"display_name": "Lee L.", "email": "", "roles": ["associate"], "team_id": str(other)},
    )
    assert response.status_code == 302
    row = user_row(app, "lee")
    assert (row.roles, row.team_id, row.display_name) == ({"associate"}, other, "Lee L.")
    with app.app_context():
        # Without the lead role they lead no team any more.
        assert db.session.scalars(select(TeamLead)).all() == []
    (updated,) = events(app, "admin.user_updated")
    assert updated.subject_user_id == people["lee"]
    assert updated.detail["changes"] == {
        "roles": [["associate", "lead"], ["associate"]],
        "lead_of_team_ids": [[people["team"]], []],
        "team_id": [people["team"], other],
        "display_name": ["lee", "Lee L."],
    }
    # Their existing session sees the new roles on the very next request.
    assert lee.client.get("/team").status_code == 403

    # Saving the same values again changes (and audits) nothing.
    admin.post(
        f"/admin/users/{people['lee']}/update",
        {"display_name": "Lee L.", "roles": ["associate"], "team_id": str(other)},
    )
    assert len(events(app, "admin.user_updated")) == 1


def test_an_admin_cannot_remove_their_own_admin_role_or_disable_themselves(app, admin, people):
    response = admin.post(
        f"/admin/users/{people['root']}/update",
        {"display_name": "root", "roles": ["associate"], "team_id": ""},
    )
    assert response.status_code == 400
    assert error_of(response) == "you cannot remove your own admin role; ask another admin"
    response = admin.post(f"/admin/users/{people['root']}/active", {"active": "0"})
    assert response.status_code == 400
    assert error_of(response) == "you cannot disable your own account; ask another admin"
    root = user_row(app, "root")
    assert root.active and "admin" in root.roles
    assert admin.client.get("/admin").status_code == 200
    assert events(app, "admin.") == []
    # Adding a role to oneself is fine.
    response = admin.post(
        f"/admin/users/{people['root']}/update",
        {"display_name": "root", "roles": ["admin", "wellbeing"], "team_id": ""},
    )
    assert response.status_code == 302
    assert user_row(app, "root").roles == {"admin", "wellbeing"}


def test_disabling_ends_sessions_and_enabling_lets_them_back(app, admin, people):
    ana = Auth(app.test_client())
    ana.login("ana")
    assert ana.client.get("/").status_code == 200

    assert admin.post(f"/admin/users/{people['ana']}/active", {"active": "0"}).status_code == 302
    assert not user_row(app, "ana").active
    assert ana.client.get("/").status_code == 302  # the old cookie no longer works
    again = Auth(app.test_client()).login("ana")
    assert again.status_code == 401 and "This account is disabled." in again.get_data(as_text=True)
    assert "disabled" in text_of(admin.client.get("/admin/users"))

    assert admin.post(f"/admin/users/{people['ana']}/active", {"active": "1"}).status_code == 302
    assert Auth(app.test_client()).login("ana").status_code == 302
    assert [e.action for e in events(app, "admin.")] == [
        "admin.user_disabled",
        "admin.user_enabled",
    ]
    assert {e.subject_user_id for e in events(app, "admin.")} == {people["ana"]}

    response = admin.post(f"/admin/users/{people['ana']}/active", {"active": "maybe"})
    assert response.status_code == 400
    assert error_of(response) == "active must be 1 (enable) or 0 (disable)"


def test_password_reset_ends_sessions_and_is_audited_without_the_password(app, admin, people):
    ana = Auth(app.test_client())
    ana.login("ana")
    path = f"/admin/users/{people['ana']}/password"
    response = admin.post(path, {"password": NEW_PASSWORD, "confirm": "something-else-1"})
    assert (response.status_code, error_of(response)) == (400, "the two passwords differ")
    response = admin.post(path, {"password": "short", "confirm": "short"})
    assert (response.status_code, error_of(response)) == (
        400,
        "password must be at least 10 characters",
    )
    assert ana.client.get("/").status_code == 200  # nothing happened yet

    assert admin.post(path, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code == 302
    assert ana.client.get("/").status_code == 302
    assert Auth(app.test_client()).login("ana", PASSWORD).status_code == 401
    assert Auth(app.test_client()).login("ana", NEW_PASSWORD).status_code == 302
    (reset,) = events(app, "admin.password_reset")
    assert (reset.actor_id, reset.subject_user_id, reset.detail) == (
        people["root"],
        people["ana"],
        {},
    )


def _lock_out(app, username: str) -> Any:
    """Fail to sign in until the account locks; the last answer (with the right password)."""
    caller = Auth(app.test_client())
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        caller.login(username, "not-the-password")
    return caller.login(username)


def test_an_admin_unlocks_a_locked_account_without_touching_sessions(app, admin, people, clock):
    page_path = f"/admin/users/{people['ana']}"
    unlock_path = f"/admin/users/{people['ana']}/unlock"
    ana = Auth(app.test_client())
    assert ana.login("ana").status_code == 302  # signed in before anyone guessed
    assert 'id="unlock"' not in admin.client.get(page_path).get_data(as_text=True)

    response = _lock_out(app, "ana")
    assert response.status_code == 401 and "This account is locked" in text_of(response)
    page = text_of(admin.client.get(page_path))
    assert "locked after failed sign-ins until 2026-01-05 09:05 UTC" in page
    assert 'id="unlock"' in page and "Unlock ana</button>" in page

    response = admin.post(unlock_path)
    assert response.status_code == 302 and response.headers["Location"] == page_path
    page = text_of(admin.client.get(page_path))
    assert "ana is unlocked and can sign in again." in page
    assert 'id="unlock"' not in page and "locked after failed sign-ins" not in page
    row = user_row(app, "ana")
    assert (row.locked_until, row.failed_logins) == (None, 0)
    assert Auth(app.test_client()).login("ana").status_code == 302
    assert ana.client.get("/").status_code == 200  # her earlier session was not ended
    assert admin.client.get("/admin").status_code == 200  # and the admin is still the admin
    (unlocked,) = events(app, "admin.user_unlocked")
    assert (unlocked.actor_id, unlocked.subject_user_id, unlocked.detail) == (
        people["root"],
        people["ana"],
        {},
    )

    # A lock that has run out needs no unlocking: no button, and a POST changes nothing.
    assert _lock_out(app, "ana").status_code == 401
    clock.advance(app.config["LOGIN_LOCK_SECONDS"] + 1)
    assert 'id="unlock"' not in admin.client.get(page_path).get_data(as_text=True)
    assert admin.post(unlock_path).status_code == 302
    assert "ana is not locked." in text_of(admin.client.get(page_path))
    assert len(events(app, "admin.user_unlocked")) == 1
    assert admin.post("/admin/users/9999/unlock").status_code == 404


def test_unknown_person_is_404(admin):
    assert admin.client.get("/admin/users/9999").status_code == 404
    assert admin.post("/admin/users/9999/active", {"active": "0"}).status_code == 404


def test_people_search_and_pages(app, admin, people, clock):
    with app.app_context():
        for i in range(105):
            db.session.add(
                User(
                    username=f"z{i:03d}",
                    display_name=f"Zed {i}",
                    password_hash="!",
                    active=True,
                    session_token=f"zed-{i}",
                    failed_logins=0,
                    created_at=clock.now(),
                    role_rows=[UserRole(role="associate")],
                )
            )
        db.session.commit()
    first = text_of(admin.client.get("/admin/users"))
    assert "109 people" in first and "Page 1 of 2" in first
    # By username: ana, lee, root, wes, then z000 to z095 on the first page.
    assert ">z095</a>" in first and ">z096</a>" not in first
    second = text_of(admin.client.get("/admin/users?page=2"))
    assert "Page 2 of 2" in second and ">z096</a>" in second and ">z104</a>" in second
    assert ">z095</a>" not in second
    found = text_of(admin.client.get("/admin/users?q=Z10"))
    assert "5 people" in found and ">z100</a>" in found and ">ana</a>" not in found
    bad = admin.client.get("/admin/users?page=-1")
    assert bad.status_code == 400 and "page must be a whole number" in text_of(bad)


# -- teams ----------------------------------------------------------------------------------


def test_teams_are_created_and_their_leads_set(app, admin, people, world):
    assert admin.post("/admin/teams/create", {"name": "Queue B"}).status_code == 302
    duplicate = admin.post("/admin/teams/create", {"name": "Queue B"})
    assert (duplicate.status_code, error_of(duplicate)) == (400, "team 'Queue B' already exists")
    empty = admin.post("/admin/teams/create", {"name": "  "})
    assert (empty.status_code, error_of(empty)) == (400, "a team name must be 1 to 120 characters")

    with app.app_context():
        queue_b = db.session.scalar(select(Team).where(Team.name == "Queue B")).id
    olga = world.user("olga", "lead")
    response = admin.post(
        f"/admin/teams/{queue_b}/leads", {"leads": [str(olga), str(people["lee"])]}
    )
    assert response.status_code == 302
    not_lead = admin.post(f"/admin/teams/{queue_b}/leads", {"leads": [str(people["ana"])]})
    assert (not_lead.status_code, error_of(not_lead)) == (400, "ana does not hold the lead role")
    garbage = admin.post(f"/admin/teams/{queue_b}/leads", {"leads": ["x"]})
    assert (garbage.status_code, error_of(garbage)) == (400, "leads must be chosen from the list")
    assert admin.post(f"/admin/teams/{queue_b}/leads", {"leads": [str(olga)]}).status_code == 302

    with app.app_context():
        leads = db.session.scalars(select(TeamLead.user_id).where(TeamLead.team_id == queue_b))
        assert sorted(leads) == [olga]
    actions = [(e.action, e.detail) for e in events(app, "admin.team")]
    assert actions == [
        ("admin.team_created", {"team_id": queue_b, "name": "Queue B"}),
        (
            "admin.team_leads_set",
            {"team_id": queue_b, "added": sorted([olga, people["lee"]]), "removed": []},
        ),
        ("admin.team_leads_set", {"team_id": queue_b, "added": [], "removed": [people["lee"]]}),
    ]
    page = text_of(admin.client.get("/admin/teams"))
    assert "Queue A" in page and "Queue B" in page


# -- API tokens -----------------------------------------------------------------------------


def test_a_token_is_shown_exactly_once_then_only_its_prefix(app, admin, people, world):
    att = world.attachment()
    response = admin.post(
        "/admin/tokens/create", {"name": "ticketing", "scopes": ["attachments:read"]}
    )
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store, private"
    page = response.get_data(as_text=True)
    plaintext = re.search(r'id="plaintext" class="secret" readonly value="([^"]+)"', page).group(1)
    assert plaintext.startswith("svg_") and "only time it is shown" in page

    # It works against the API, with its scope only.
    bearer = {"Authorization": f"Bearer {plaintext}"}
    assert admin.client.get(f"/api/v1/attachments/{att}", headers=bearer).status_code == 200
    assert admin.client.post("/api/v1/attachments", headers=bearer).status_code == 403

    # Never again: not in the list, not in the audit log, not in the database.
    listing = admin.client.get("/admin/tokens").get_data(as_text=True)
    assert plaintext not in listing
    assert f"{plaintext[:10]}…" in listing and "attachments:read" in listing
    assert "never" not in re.search(r'<tr id="token-1".*?</tr>', listing, re.S).group(0)
    assert plaintext not in admin.client.get("/admin/audit").get_data(as_text=True)
    (created,) = events(app, "admin.token_created")
    assert created.detail == {"name": "ticketing", "scopes": ["attachments:read"]}
    assert plaintext not in str(created.detail)
    with app.app_context():
        token = db.session.scalars(select(ApiToken)).one()
        assert token.token_hash != plaintext and plaintext not in token.token_hash
        token_id = token.id

    # Revoked: the API refuses it, the list says so, and revoking twice is a clear 400.
    assert admin.post(f"/admin/tokens/{token_id}/revoke").status_code == 302
    assert admin.client.get(f"/api/v1/attachments/{att}", headers=bearer).status_code == 401
    assert "revoked 2026-01-05" in text_of(admin.client.get("/admin/tokens"))
    again = admin.post(f"/admin/tokens/{token_id}/revoke")
    assert again.status_code == 400 and "is already revoked" in error_of(again)
    assert [e.action for e in events(app, "admin.token")] == [
        "admin.token_created",
        "admin.token_revoked",
    ]


BAD_TOKENS = [
    ({"name": "", "scopes": ["attachments:read"]}, "a token name must be 1 to 120 characters"),
    ({"name": "t"}, "choose at least one scope"),
    ({"name": "t", "scopes": ["everything"]}, "scopes must be some of"),
]


def test_bad_token_requests_are_400(app, admin):
    for form, message in BAD_TOKENS:
        response = admin.post("/admin/tokens/create", form)
        assert response.status_code == 400 and message in error_of(response), form
    with app.app_context():
        assert db.session.scalars(select(ApiToken)).all() == []


# -- policy ---------------------------------------------------------------------------------


def test_policy_page_shows_the_default_with_its_rules_and_toml(admin):
    page = text_of(admin.client.get("/admin/policy"))
    assert "Policy in force: default-2026-11" in page
    assert "The default policy shipped with the gateway" in page
    assert '<tr id="rule-daily-graphic-cap">' in page
    assert "rotate off 12 h, alert lead, alert wellbeing" in page
    assert "graphic minutes of" not in page  # the cap counts every category
    assert "240 graphic minutes" in page and "1 d" in page
    assert default_policy_text().strip().splitlines()[0] in page


def test_policy_page_names_the_file_when_one_is_configured(db_url, tmp_path, clock):
    path = tmp_path / "policy.toml"
    path.write_text(STRICT)
    app = make_app(db_url, tmp_path, clock, POLICY_FILE=str(path))
    from tests.conftest import World

    World(app, clock).user("root", "admin")
    auth = Auth(app.test_client())
    auth.login("root")
    page = text_of(auth.client.get("/admin/policy"))
    assert "Policy in force: strict-1" in page and f"From the file <code>{path}</code>" in page
    assert '<tr id="rule-any-reveal">' in page


def test_an_invalid_upload_shows_every_problem_by_rule_and_stores_nothing(app, admin):
    response = admin.post("/admin/policy/upload", {"text": BROKEN})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    groups = re.findall(r'<section class="problem-group"[^>]*>\s*<h2>([^<]+)</h2>', page)
    assert groups == ["Top level", "Rule 1: too-fast", "Rule 2: no-words"]
    assert "<code>threshold</code>: must be &gt; 0 and &lt;= 1e+09, got -1" in page
    assert "<code>actions[0].minutes</code>: a break needs its length in minutes" in page
    assert "5 problems to fix" in page
    # The text comes back in the box, to be fixed, and the policy in force is unchanged.
    assert 'window = "rolling 5 fortnights"' in html.unescape(page)
    assert "Policy in force: default-2026-11" in page
    with app.app_context():
        assert db.session.scalars(select(PolicyVersion)).all() == []
    assert events(app, "policy.") == []


UNUSABLE_UPLOADS = [
    ({"text": "  "}, "paste a policy into the box or choose a file"),
    ({"file": (b"\xff\xfe bad", "p.toml")}, "the file must be UTF-8 text"),
    ({"file": (b"#" * (256 * 1024 + 1), "p.toml")}, "the file is larger than 256 KiB"),
]


def test_unusable_uploads_are_400(app, admin):
    import io

    for data, message in UNUSABLE_UPLOADS:
        form = {k: (io.BytesIO(v[0]), v[1]) if isinstance(v, tuple) else v for k, v in data.items()}
        response = admin.post("/admin/policy/upload", form, content_type="multipart/form-data")
        assert response.status_code == 400 and message in error_of(response), message
    with app.app_context():
        assert db.session.scalars(select(PolicyVersion)).all() == []


def test_not_toml_at_all_is_one_problem_about_the_file(admin):
    response = admin.post("/admin/policy/upload", {"text": "version = ["})
    assert response.status_code == 400
    page = text_of(response)
    assert "<h2>The file</h2>" in page and "not valid TOML" in page


def _cli_simulation(runner, path: Path, days: int) -> str:
    result = runner.invoke(args=["policy", "simulate", str(path), "--days", str(days)])
    assert result.exit_code == 0, result.output
    return result.output


def test_upload_simulate_then_activate_and_reveals_follow_the_new_rules(
    app, admin, people, world, clock, runner, tmp_path
):
    att = world.attachment()
    ana, lee = Auth(app.test_client()), Auth(app.test_client())
    ana.login("ana")
    lee.login("lee")
    # Yesterday: ana reveals twice, lee once; under the default policy nobody gets a break.
    clock.advance(-86400)
    for n, who in enumerate([ana, lee, ana]):
        assert reveal(who, att, n).status_code == 200
        clock.advance(60)
    clock.advance(86400 - 180)
    with app.app_context():
        assert db.session.scalars(select(Break)).all() == []

    # Upload as a file; it is stored, not active.
    import io

    response = admin.post(
        "/admin/policy/upload",
        {"file": (io.BytesIO(STRICT.encode()), "strict.toml")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    version_path = response.headers["Location"]
    with app.app_context():
        row = db.session.scalars(select(PolicyVersion)).one()
        assert (row.version, row.activated_at, row.created_by_id) == (
            "strict-1",
            None,
            people["root"],
        )
        version_id = row.id
    page = text_of(admin.client.get(version_path))
    assert "Not active yet" in page and '<tr id="rule-any-reveal">' in page

    # Simulated over the last 2 days: the same numbers as `wellbeing policy simulate`.
    sim = admin.client.get(f"/admin/policy/{version_id}/simulate?days=2")
    assert sim.status_code == 200
    page = text_of(sim)
    with app.app_context():
        ledger = db.session.scalar(select(func.count(ExposureEvent.id)))
    assert ledger == 6  # each reveal follows the safe view of the same item
    assert f"Policy strict-1 over the last 2 days: {ledger} events, 2 people." in page
    path = tmp_path / "strict.toml"
    path.write_text(STRICT)
    cli = _cli_simulation(runner, path, 2)
    assert f"policy strict-1 over the last 2 days: {ledger} events, 2 people" in cli
    per_rule = re.findall(r"^  ([a-z0-9_-]+): (\d+)$", cli, re.M)
    per_person = re.findall(r"^  (.+): ([a-z0-9_-]+) x(\d+)$", cli, re.M)
    assert per_rule == [("any-reveal", "2")]  # once each: ana and lee
    assert sorted(per_person) == [("ana", "any-reveal", "1"), ("lee", "any-reveal", "1")]
    for rule_id, count in per_rule:
        assert f"<td><code>{rule_id}</code></td><td>{count}</td>" in page
    for name, rule_id, count in per_person:
        assert f"<td>{name}</td><td><code>{rule_id}</code></td><td>{count}</td>" in page
    # The simulation changed nothing and started nothing.
    with app.app_context():
        assert db.session.scalars(select(Break)).all() == []
        assert db.session.scalars(select(PolicyTrigger)).all() == []
    (simulated,) = events(app, "policy.simulated")
    assert simulated.detail == {"version_id": version_id, "days": 2, "events": 6, "people": 2}
    for days in ("0", "91", "x"):
        bad = admin.client.get(f"/admin/policy/{version_id}/simulate?days={days}")
        assert bad.status_code == 400
        assert error_of(bad) == "days must be a whole number from 1 to 90"

    # A second worker has the old policy cached.
    other = make_app(app.config["DATABASE_URL"], tmp_path / "other", clock)
    with other.app_context():
        assert policies.policy().version == "default-2026-11"

    assert admin.post(f"/admin/policy/{version_id}/activate").status_code == 302
    (activated,) = events(app, "policy.activated")
    assert activated.actor_id == people["root"]
    assert activated.detail == {
        "version_id": version_id,
        "version": "strict-1",
        "previous": {"source": "default", "version": "default-2026-11", "version_id": None},
    }
    page = text_of(admin.client.get("/admin/policy"))
    assert "Policy in force: strict-1" in page
    assert f"From the database: version #{version_id}, activated 2026-01-05 09:00 UTC" in page

    # This worker applies it at once: ana's next reveal is evaluated under the new rules.
    with app.app_context():
        assert policies.policy().version == "strict-1"
    assert reveal(ana, att, 10).status_code == 200
    with app.app_context():
        (trigger,) = db.session.scalars(select(PolicyTrigger)).all()
        assert (trigger.rule_id, trigger.policy_version) == ("any-reveal", "strict-1")
        (brk,) = db.session.scalars(select(Break)).all()
        assert (brk.user_id, brk.kind) == (people["ana"], "enforced")
    assert ana.client.get(f"/view/{att}").status_code == 423

    # The other worker: still cached until its 5-second database check comes round again.
    with other.app_context():
        assert policies.policy().version == "default-2026-11"
        other.extensions["wellbeing.policy"].db_checked_at = -1e9
        assert policies.policy().version == "strict-1"


def _upload(app, admin, text: str = STRICT) -> int:
    assert admin.post("/admin/policy/upload", {"text": text}).status_code == 302
    with app.app_context():
        return db.session.scalar(select(func.max(PolicyVersion.id)))


def test_simulation_replays_a_copy_without_holding_the_live_database(
    app, admin, people, world, monkeypatch
):
    """While the (slow) replay runs, others can still write: on SQLite a transaction left
    open would hold the write lock for the whole replay and every reveal would wait."""
    import sqlite3

    import wellbeing.admin as views

    att = world.attachment()
    ana = Auth(app.test_client())
    ana.login("ana")
    assert reveal(ana, att, 1).status_code == 200
    version_id = _upload(app, admin)
    url = make_url(app.config["DATABASE_URL"])
    writes = []
    real = views.simulate

    def simulate_while_someone_writes(*args: Any, **kwargs: Any) -> Any:
        if url.get_backend_name() == "sqlite":  # PostgreSQL readers never block writers
            other = sqlite3.connect(url.database, timeout=0.5, isolation_level=None)
            other.execute("BEGIN IMMEDIATE")  # "database is locked" if the view held it
            other.execute("ROLLBACK")
            other.close()
        writes.append("ok")
        return real(*args, **kwargs)

    monkeypatch.setattr(views, "simulate", simulate_while_someone_writes)
    response = admin.client.get(f"/admin/policy/{version_id}/simulate?days=1")
    assert response.status_code == 200 and writes == ["ok"]
    assert "2 events, 1 person." in text_of(response)

    monkeypatch.setattr(views, "SIMULATE_MAX_EVENTS", 1)
    response = admin.client.get(f"/admin/policy/{version_id}/simulate?days=1")
    assert response.status_code == 400
    assert error_of(response) == (
        "the last 1 days hold 2 ledger events, more than this page replays (1); choose fewer "
        "days, or run `wellbeing policy simulate --days 1` on a server"
    )


def test_activating_an_older_version_again_puts_it_back(app, admin, clock):
    ids = []
    for version in ("first", "second"):
        text = STRICT.replace('"strict-1"', f'"{version}"')
        admin.post("/admin/policy/upload", {"text": text})
        with app.app_context():
            ids.append(db.session.scalar(select(func.max(PolicyVersion.id))))
    for version_id in (ids[0], ids[1], ids[0]):
        assert admin.post(f"/admin/policy/{version_id}/activate").status_code == 302
        clock.advance(1)
    with app.app_context():
        assert policies.policy().version == "first"
    page = text_of(admin.client.get("/admin/policy"))
    assert "Policy in force: first" in page
    assert re.search(rf'<tr id="version-{ids[0]}">.*?in force', page, re.S)
    assert [e.detail["version"] for e in events(app, "policy.activated")] == [
        "first",
        "second",
        "first",
    ]


def test_going_back_to_the_policy_file_and_activating_again(db_url, tmp_path, clock):
    path = tmp_path / "policy.toml"
    path.write_text(default_policy_text())
    app = make_app(db_url, tmp_path, clock, POLICY_FILE=str(path))
    from tests.conftest import World

    root = World(app, clock).user("root", "admin")
    admin = Auth(app.test_client())
    admin.login("root")
    page = text_of(admin.client.get("/admin/policy"))
    assert 'id="use-file"' not in page  # the file is in force: nothing to go back to

    first, second = (
        _upload(app, admin, STRICT.replace('"strict-1"', f'"{v}"')) for v in ("first", "second")
    )
    for version_id in (first, second):
        assert admin.post(f"/admin/policy/{version_id}/activate").status_code == 302
        clock.advance(60)
    other = make_app(db_url, tmp_path / "other", clock, POLICY_FILE=str(path))  # a 2nd worker
    for worker in (app, other):
        with worker.app_context():
            assert policies.policy().version == "second"
    page = text_of(admin.client.get("/admin/policy"))
    assert "Policy in force: second" in page and '<tr id="rule-any-reveal">' in page
    assert f"The file <code>{path}</code> (policy default-2026-11) applies again" in page
    assert "Use the policy file instead</button>" in page

    response = admin.post("/admin/policy/file")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/policy"
    page = text_of(admin.client.get("/admin/policy"))
    assert "Back to the policy file: policy default-2026-11 is in force within seconds." in page
    assert "Policy in force: default-2026-11" in page
    assert f"From the file <code>{path}</code> (no version activated here is in force)" in page
    assert '<tr id="rule-any-reveal">' not in page and 'id="use-file"' not in page
    assert "in force</span>" not in page  # no uploaded version is marked as in force
    with app.app_context():
        assert policies.policy().version == "default-2026-11"  # this worker, at once
    with other.app_context():  # the other one at its next database check (within 5 s)
        assert policies.policy().version == "second"
        other.extensions["wellbeing.policy"].db_checked_at = -1e9
        assert policies.policy().version == "default-2026-11"
    (restored,) = events(app, "policy.file_restored")
    assert restored.actor_id == root
    assert restored.detail == {
        "source": "file",
        "version": "default-2026-11",
        "deactivated": 2,  # both: the older one must not come back in force
        "previous": {"source": "database", "version": "second", "version_id": second},
    }
    # Each version says when it was in force and what ended it.
    page = text_of(admin.client.get(f"/admin/policy/{first}"))
    assert (
        "Was active from 2026-01-05 09:00 UTC to 2026-01-05 09:01 UTC; a later activation "
        "replaced it." in page
    )
    page = text_of(admin.client.get(f"/admin/policy/{second}"))
    assert (
        "Was active from 2026-01-05 09:01 UTC to 2026-01-05 09:02 UTC; then the policy file "
        "was put back in force." in page
    )
    assert "Activate second</button>" in page

    # Nothing is active now: a second click changes nothing and is not audited.
    assert admin.post("/admin/policy/file").status_code == 302
    assert "No version activated here is in force" in text_of(admin.client.get("/admin/policy"))
    assert len(events(app, "policy.file_restored")) == 1

    # The old version can be activated again, and is in force again.
    clock.advance(60)
    assert admin.post(f"/admin/policy/{first}/activate").status_code == 302
    with app.app_context():
        assert policies.policy().version == "first"
    page = text_of(admin.client.get("/admin/policy"))
    assert f"From the database: version #{first}, activated 2026-01-05 09:03 UTC" in page
    assert re.search(rf'<tr id="version-{first}">.*?in force', page, re.S)
    assert "In force</span> since 2026-01-05 09:03 UTC" in text_of(
        admin.client.get(f"/admin/policy/{first}")
    )
    (activated,) = events(app, "policy.activated")[-1:]
    assert activated.detail["previous"] == {
        "source": "file",
        "version": "default-2026-11",
        "version_id": None,
    }


def test_without_a_file_going_back_puts_the_shipped_default_in_force(app, admin, people):
    version_id = _upload(app, admin)
    assert admin.post(f"/admin/policy/{version_id}/activate").status_code == 302
    page = text_of(admin.client.get("/admin/policy"))
    assert (
        "No policy file is configured, so the default policy shipped with the gateway "
        "(default-2026-11) applies again" in page
    )
    assert admin.post("/admin/policy/file").status_code == 302
    page = text_of(admin.client.get("/admin/policy"))
    assert "Back to the default policy shipped with the gateway" in page
    assert "Policy in force: default-2026-11" in page
    with app.app_context():
        assert policies.policy().version == "default-2026-11"
    (restored,) = events(app, "policy.file_restored")
    assert (restored.detail["source"], restored.detail["previous"]["version"]) == (
        "default",
        "strict-1",
    )


# -- audit log ------------------------------------------------------------------------------


def test_audit_log_filters_pages_and_shows_newest_first(app, admin, people, clock):
    with app.app_context():
        start = clock.now()
        for i in range(60):
            audit.record(
                db.session,
                "admin.test" if i % 2 else "break.ended",
                start - timedelta(hours=i),
                actor_id=people["lee"] if i % 3 == 0 else people["root"],
                subject_user_id=people["ana"] if i % 5 == 0 else None,
                n=i,
            )
        db.session.commit()

    def shown(query: str) -> list[int]:
        response = admin.client.get("/admin/audit" + query)
        assert response.status_code == 200, text_of(response)
        numbers = re.findall(r"&#34;n&#34;:(\d+)|\"n\":(\d+)", response.get_data(as_text=True))
        return [int(a or b) for a, b in numbers]

    # Newest first, 50 a page (the sign-in of root is newer than all of these).
    first = shown("")
    assert first == list(range(49))
    assert shown("?page=2") == list(range(49, 60))
    assert shown("?action=admin.") == [i for i in range(60) if i % 2][:50]
    assert shown("?action=break.&actor=lee") == [i for i in range(60) if i % 6 == 0]
    assert shown("?subject=ana") == [i for i in range(60) if i % 5 == 0]
    # 2026-01-04 covers hours 9 to 32 before 09:00 on the 5th, inclusive of the whole day.
    assert shown("?from=2026-01-04&to=2026-01-04") == list(range(10, 34))
    assert shown("?from=2026-01-03&to=2026-01-03&action=admin.") == [
        i for i in range(34, 58) if i % 2
    ]
    page = text_of(admin.client.get("/admin/audit?action=break.&actor=lee"))
    assert "10 events, newest first." in page
    assert 'value="break."' in page and 'value="lee"' in page

    # The pages keep the filters.
    paged = admin.client.get("/admin/audit?from=2026-01-01&action=").get_data(as_text=True)
    assert 'href="/admin/audit?page=2&amp;from=2026-01-01"' in paged


BAD_AUDIT_FILTERS = [
    ("?from=yesterday", "from must be a date like 2026-01-31"),
    ("?to=2026-13-01", "to must be a date like 2026-01-31"),
    ("?from=2026-01-05&to=2026-01-04", "the 'from' date must not be after the 'to' date"),
    ("?actor=nobody", "no user named 'nobody' (the actor filter takes a username)"),
    ("?page=0", "page must be a whole number from 1"),
]


def test_bad_audit_filters_are_400(admin):
    for query, message in BAD_AUDIT_FILTERS:
        response = admin.client.get("/admin/audit" + query)
        assert response.status_code == 400, query
        assert error_of(response) == message


# -- privacy ----------------------------------------------------------------------------------


def test_admin_pages_show_who_read_whom_never_wellbeing_data(app, admin, people, clock, world):
    # Ana answers a poor check-in (escalated), a wellbeing colleague reads her page, and
    # something careless writes answers into an audit detail.
    with app.app_context():
        row = checkins.schedule(
            db.session,
            people["ana"],
            key="periodic:test",
            reason="periodic",
            instrument="who5",
            due_at=clock.now() + timedelta(hours=1),
            now=clock.now(),
        )
        db.session.commit()
        checkin_id = row.id
    ana = Auth(app.test_client())
    ana.login("ana")
    answers = {f"item{i}": v for i, v in enumerate(["1", "2", "0", "1", "2"])}
    assert ana.post(f"/checkins/{checkin_id}", answers).status_code == 302
    wes = Auth(app.test_client())
    wes.login("wes")
    assert wes.client.get(f"/people/{people['ana']}").status_code == 200
    with app.app_context():
        audit.record(
            db.session,
            "careless.write",
            clock.now(),
            subject_user_id=people["ana"],
            answers=[1, 2, 0, 1, 2],
            score=6,
        )
        db.session.commit()
        score = db.session.get(checkins.CheckIn, checkin_id).score
    assert score == 6

    log = admin.client.get("/admin/audit").get_data(as_text=True)
    read = re.search(r'<tr id="audit-\d+">(?:(?!</tr>).)*wellbeing\.read_person.*?</tr>', log, re.S)
    assert read is not None
    cells = re.findall(r"<td[^>]*>(.*?)</td>", read.group(0), re.S)
    assert cells[2:4] == ["wes", "ana"] and cells[5] == '<code class="detail"></code>'
    assert "[withheld]" in html.unescape(log) and "[1, 2, 0, 1, 2]" not in log
    assert "1,2,0,1,2" not in log

    pages = ["/admin", "/admin/users", f"/admin/users/{people['ana']}", "/admin/teams"]
    for path in pages:
        body = text_of(admin.client.get(path)).lower()
        assert '"score":6' not in body and "1,2,0,1,2" not in body, path
        for word in ("who-5", "follow-up", "graphic minutes today", "escalat"):
            assert word not in body, (path, word)
