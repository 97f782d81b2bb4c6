"""Who may call what: every route of the app against every kind of caller.

The table must name every route the app serves, so a new route cannot ship without a row.
Cookie-authenticated POSTs from callers without a CSRF token (anonymous, API tokens) are
refused by the CSRF check (400) before anything else runs.
"""

from __future__ import annotations

import pytest

from tests.conftest import Auth

CALLERS = ["anonymous", "associate", "lead", "wellbeing", "admin", "token", "token_readonly"]
PEOPLE = ("associate", "lead", "wellbeing", "admin")


def _row(anonymous: int, associate: int, others: int, token: int, readonly: int | None = None):
    return {
        "anonymous": anonymous,
        "associate": associate,
        "lead": others,
        "wellbeing": others,
        "admin": others,
        "token": token,
        "token_readonly": token if readonly is None else readonly,
    }


ALL_200 = dict.fromkeys(CALLERS, 200)
ASSOCIATE_POST = _row(400, 200, 403, 400)
API = _row(401, 401, 401, 200)
ADMIN_GET = _row(302, 403, 403, 302) | {"admin": 200}
ADMIN_POST = _row(400, 403, 403, 400) | {"admin": 400}
ADMIN_POST_404 = _row(400, 403, 403, 400) | {"admin": 404}

# route rule -> (method, path template, {caller: expected status}); the order is the order of
# the calls, and step-away is last because it starts a break for whoever may call it.
MATRIX: dict[str, tuple[str, str, dict[str, int]]] = {
    "/": ("GET", "/", _row(302, 200, 200, 302)),
    "/login": ("GET", "/login", ALL_200),
    "/view/<int:attachment_id>": ("GET", "/view/{att}", _row(302, 200, 403, 302)),
    "/view/<int:attachment_id>/reveal": ("POST", "/view/{att}/reveal", ASSOCIATE_POST),
    "/events/<client_event_id>/heartbeat": ("POST", "/events/{event}/heartbeat", ASSOCIATE_POST),
    "/media/<int:attachment_id>/safe": ("GET", "/media/{att}/safe", _row(401, 200, 403, 401)),
    "/media/once/<token>": ("POST", "/media/once/{grant}", ASSOCIATE_POST),
    "/api/v1/attachments": ("POST", "/api/v1/attachments", _row(401, 401, 401, 400, 403)),
    "/api/v1/attachments/<int:attachment_id>": ("GET", "/api/v1/attachments/{att}", API),
    "/api/v1/attachments/<int:attachment_id>/flag": (
        "POST",
        "/api/v1/attachments/{att}/flag",
        _row(401, 401, 401, 200, 403),
    ),
    "/api/v1/openapi.json": ("GET", "/api/v1/openapi.json", ALL_200),
    "/healthz": ("GET", "/healthz", ALL_200),
    "/readyz": ("GET", "/readyz", ALL_200),
    "/static/<path:filename>": ("GET", "/static/app.css", ALL_200),
    "/team": ("GET", "/team", _row(302, 403, 403, 302) | {"lead": 200}),
    "/alerts": ("GET", "/alerts", _row(302, 403, 403, 302) | {"lead": 200, "wellbeing": 200}),
    "/alerts/<int:alert_id>/ack": (
        "POST",
        "/alerts/{alert}/ack",
        # A lead alert: the team's lead may acknowledge it; wellbeing staff do not see it.
        _row(400, 403, 403, 400) | {"lead": 302, "wellbeing": 404},
    ),
    "/team/breaks/<int:break_id>/extend": (
        "POST",
        "/team/breaks/{brk}/extend",
        _row(400, 403, 403, 400) | {"lead": 302, "wellbeing": 302},
    ),
    "/team/breaks/<int:break_id>/end": (
        "POST",
        "/team/breaks/{brk}/end",
        _row(400, 403, 403, 400) | {"lead": 302, "wellbeing": 302},
    ),
    "/checkins/<int:checkin_id>": ("GET", "/checkins/{checkin}", _row(302, 200, 403, 302)),
    "/people": ("GET", "/people", _row(302, 403, 403, 302) | {"wellbeing": 200}),
    "/people/<int:user_id>": (
        "GET",
        "/people/{owner}",
        _row(302, 403, 403, 302) | {"wellbeing": 200},
    ),
    "/me": ("GET", "/me", _row(302, 200, 403, 302)),
    "/exposure": ("GET", "/exposure", _row(302, 403, 403, 302) | {"wellbeing": 200}),
    "/exposure.csv": ("GET", "/exposure.csv", _row(302, 403, 403, 302) | {"wellbeing": 200}),
    # Admin pages: admins only. An admin's POST with an empty form is a clear 400, and ids
    # that do not exist are 404 (so nothing in the shared setup changes).
    "/admin": ("GET", "/admin", ADMIN_GET),
    "/admin/users": ("GET", "/admin/users", ADMIN_GET),
    "/admin/users/create": ("POST", "/admin/users/create", ADMIN_POST),
    "/admin/users/<int:user_id>": ("GET", "/admin/users/{owner}", ADMIN_GET),
    "/admin/users/<int:user_id>/update": ("POST", "/admin/users/{owner}/update", ADMIN_POST),
    "/admin/users/<int:user_id>/active": ("POST", "/admin/users/{owner}/active", ADMIN_POST),
    "/admin/users/<int:user_id>/password": ("POST", "/admin/users/{owner}/password", ADMIN_POST),
    # The owner is not locked: nothing to unlock, back to their page.
    "/admin/users/<int:user_id>/unlock": (
        "POST",
        "/admin/users/{owner}/unlock",
        ADMIN_POST | {"admin": 302},
    ),
    "/admin/teams": ("GET", "/admin/teams", ADMIN_GET),
    "/admin/teams/create": ("POST", "/admin/teams/create", ADMIN_POST),
    "/admin/teams/<int:team_id>/leads": ("POST", "/admin/teams/0/leads", ADMIN_POST_404),
    "/admin/tokens": ("GET", "/admin/tokens", ADMIN_GET),
    "/admin/tokens/create": ("POST", "/admin/tokens/create", ADMIN_POST),
    "/admin/tokens/<int:token_id>/revoke": ("POST", "/admin/tokens/0/revoke", ADMIN_POST_404),
    "/admin/policy": ("GET", "/admin/policy", ADMIN_GET),
    "/admin/policy/upload": ("POST", "/admin/policy/upload", ADMIN_POST),
    "/admin/policy/<int:version_id>": ("GET", "/admin/policy/0", ADMIN_GET | {"admin": 404}),
    "/admin/policy/<int:version_id>/simulate": (
        "GET",
        "/admin/policy/0/simulate",
        ADMIN_GET | {"admin": 404},
    ),
    "/admin/policy/<int:version_id>/activate": (
        "POST",
        "/admin/policy/0/activate",
        ADMIN_POST_404,
    ),
    # No version is active: the file (here the default) is in force already.
    "/admin/policy/file": ("POST", "/admin/policy/file", ADMIN_POST | {"admin": 302}),
    "/admin/audit": ("GET", "/admin/audit", ADMIN_GET),
    # The matrix's attachment is a photo: only videos play (400), and a photo's view event
    # opens no playback (404). Video playback has its own tests.
    "/view/<int:attachment_id>/play": (
        "POST",
        "/view/{att}/play",
        _row(400, 400, 403, 400),
    ),
    "/media/<int:attachment_id>/play/<client_event_id>": (
        "GET",
        "/media/{att}/play/{event}",
        _row(401, 404, 403, 401),
    ),
    "/step-away": ("POST", "/step-away", _row(400, 302, 403, 400)),
    "/logout": ("POST", "/logout", _row(400, 302, 302, 400)),
}


def test_matrix_names_every_route(app):
    served = {
        (r.rule, m) for r in app.url_map.iter_rules() for m in r.methods - {"HEAD", "OPTIONS"}
    }
    named = {(rule, method) for rule, (method, _, _) in MATRIX.items()}
    named |= {(rule, "POST") for rule in SECOND_METHOD}
    assert served == named


# Routes that also take a POST, exercised by their own tests (signing in, answering).
SECOND_METHOD = {"/checkins/<int:checkin_id>", "/login"}


@pytest.fixture
def setup(world, app, clock):
    from exposure import alerts, breaks, checkins

    team = world.team()
    ids = {role: world.user(role, role, team_id=team, lead_of=role == "lead") for role in PEOPLE}
    owner = world.user("owner", "associate", team_id=team)
    resting = world.user("resting", "associate", team_id=team)
    with app.app_context():
        from wellbeing.db import db

        now = clock.now()
        alert = alerts.raise_alert(
            db.session,
            key="matrix",
            audience="lead",
            team_id=team,
            subject_user_id=owner,
            kind="test",
            message="test alert",
            now=now,
            routes=alerts.Routes(),
        )
        brk = breaks.start_break(db.session, resting, "enforced", now, minutes=600)
        checkin = checkins.schedule(
            db.session,
            ids["associate"],
            key="matrix",
            reason="periodic",
            instrument="who5",
            due_at=now,
            now=now,
        )
        db.session.commit()
        extra = {"alert": alert.id, "brk": brk.id, "checkin": checkin.id, "owner": owner}
    return {
        "att": world.attachment(),
        "tokens": {"token": world.token(), "token_readonly": world.token("attachments:read")},
        **extra,
    }


@pytest.mark.parametrize("caller", CALLERS)
def test_every_route_for_every_caller(app, setup, caller):
    # The view event and the grant belong to the associate on the associate's row, and to
    # somebody else on every other row (so those rows also probe for IDOR).
    owner = Auth(app.test_client())
    owner.login("associate" if caller == "associate" else "owner")
    page = owner.client.get(f"/view/{setup['att']}").get_data(as_text=True)
    event = page.split('data-event="')[1].split('"')[0]
    reveal = owner.post(
        f"/view/{setup['att']}/reveal", {"level": "3", "client_event_id": "evt-matrix-01"}
    )
    grant = reveal.json["url"].rsplit("/", 1)[1]

    auth = owner if caller == "associate" else Auth(app.test_client())
    headers: dict[str, str] = {}
    if caller in setup["tokens"]:
        headers["Authorization"] = f"Bearer {setup['tokens'][caller]}"
    elif caller in PEOPLE and caller != "associate":
        assert auth.login(caller).status_code == 302

    failures = []
    for rule, (method, template, expected) in MATRIX.items():
        path = template.format(event=event, grant=grant, **setup)
        kwargs: dict = {"headers": dict(headers)}
        if method == "POST" and not path.startswith("/api/") and caller in PEOPLE:
            kwargs["headers"]["X-CSRFToken"] = auth.csrf()
        if rule.endswith("/reveal"):
            kwargs["data"] = {"level": "3", "client_event_id": "evt-matrix-02"}
        if rule.endswith("/play"):
            kwargs["data"] = {"client_event_id": "evt-matrix-03"}
        if rule.startswith("/team/breaks/"):
            kwargs["data"] = {"reason": "matrix test", "minutes": "5"}
        if rule.endswith("/flag"):
            kwargs["json"] = {"flag_state": "flagged", "categories": ["other"]}
        response = auth.client.open(path, method=method, **kwargs)
        response.close()
        if response.status_code != expected[caller]:
            failures.append(f"{method} {path}: {response.status_code} != {expected[caller]}")
    assert failures == []
