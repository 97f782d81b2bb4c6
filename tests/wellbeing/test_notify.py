"""Alert delivery by email and webhook, against a real SMTP server (aiosmtpd) and a real HTTP
receiver, on the test database (SQLite, or PostgreSQL with WELLBEING_TEST_DB=postgres)."""

from __future__ import annotations

import dataclasses
import secrets
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import trustme
from flask import Flask
from sqlalchemy import select

from config import load
from exposure import checkins
from exposure.alerts import Routes, raise_alert
from exposure.models import Delivery, TeamLead, User, UserRole
from tests.conftest import World
from tests.wellbeing.notify_fixtures import (
    SmtpSink,
    Webhook,
    server_tls_context,
    smtp_server,
    webhook_receiver,
)
from wellbeing import notify
from wellbeing.clock import FakeClock
from wellbeing.db import db
from wellbeing.notify import DeliveryReport, MailSettings

BASE_URL = "https://safe.example.test"
SMTP_SECRET = "hunter2-smtp-secret"  # a test password that must never leak


# --- pure -------------------------------------------------------------------------------


def test_mail_settings_come_from_config_and_hide_the_password() -> None:
    cfg = load(
        environ={},
        overrides={
            "SMTP_HOST": "smtp.example.test",
            "SMTP_PORT": 587,
            "SMTP_STARTTLS": True,
            "SMTP_USERNAME": "alerts",
            "SMTP_PASSWORD": SMTP_SECRET,
            "SMTP_FROM": "Safe view <safe-view@example.test>",
            "BASE_URL": BASE_URL + "/",
        },
    )
    mail = notify.mail_settings(cfg)
    assert mail == MailSettings(
        host="smtp.example.test",
        port=587,
        starttls=True,
        username="alerts",
        password=SMTP_SECRET,
        sender="Safe view <safe-view@example.test>",
        base_url=BASE_URL,
    )
    assert SMTP_SECRET not in repr(mail)
    defaults = notify.mail_settings(load(environ={}))
    assert (defaults.host, defaults.port, defaults.username) == ("localhost", 25, "")


def test_retry_delay_doubles_from_30_seconds_up_to_an_hour() -> None:
    delays = [notify.retry_delay(n).total_seconds() for n in range(1, 10)]
    assert delays == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert notify.retry_delay(1000) == timedelta(hours=1)


# --- helpers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class People:
    team_a: int
    team_b: int
    lead_a: int
    lead_b: int
    carer: int
    subject: int


EMAILS = {
    "lead-a": "lead-a@example.test",
    "lead-b": "lead-b@example.test",
    "carer": "carer@example.test",
    "sam": "sam@example.test",
}


def person(
    world: World, username: str, role: str, team_id: int | None, *, lead_of: bool = False
) -> int:
    """A person with an email address. Made directly rather than through World.user: these
    people never log in, and skipping four scrypt hashes per test halves the suite's time."""
    with world.app.app_context():
        session = db.session
        user = User(
            username=username,
            display_name=username.title(),
            email=EMAILS[username],
            password_hash="!",  # matches no password
            team_id=team_id,
            active=True,
            session_token=secrets.token_hex(32),
            failed_logins=0,
            created_at=world.clock.now(),
        )
        user.role_rows.append(UserRole(role=role))
        session.add(user)
        session.flush()
        if lead_of and team_id is not None:
            session.add(TeamLead(team_id=team_id, user_id=user.id))
        session.commit()
        return user.id


@pytest.fixture
def people(world: World) -> People:
    team_a, team_b = world.team("Queue A"), world.team("Queue B")
    return People(
        team_a=team_a,
        team_b=team_b,
        lead_a=person(world, "lead-a", "lead", team_a, lead_of=True),
        lead_b=person(world, "lead-b", "lead", team_b, lead_of=True),
        carer=person(world, "carer", "wellbeing", None),
        subject=person(world, "sam", "associate", team_a),
    )


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with smtp_server() as sink:
        yield sink


@pytest.fixture
def hook() -> Iterator[Webhook]:
    with webhook_receiver() as receiver:
        yield receiver


def mail_to(port: int, **changes: Any) -> MailSettings:
    settings = MailSettings(
        host="127.0.0.1",
        port=port,
        starttls=False,
        username="",
        password="",
        sender="Safe view <safe-view@example.test>",
        base_url=BASE_URL,
    )
    return dataclasses.replace(settings, **changes)


def alert(
    app: Flask,
    clock: FakeClock,
    people: People,
    *,
    key: str = "trigger:1:lead",
    audience: str = "lead",
    kind: str = "rotate",
    message: str = "Sam: 4 hours of graphic content today. Started: rotation off sensitive work.",
    email: bool = True,
    webhook: str | None = None,
) -> int | None:
    with app.app_context():
        session = db.session
        raised = raise_alert(
            session,
            key=key,
            audience=audience,
            team_id=people.team_a,
            subject_user_id=people.subject,
            kind=kind,
            message=message,
            now=clock.now(),
            routes=Routes(
                email=email,
                webhook_lead=webhook if audience == "lead" else None,
                webhook_wellbeing=webhook if audience == "wellbeing" else None,
            ),
        )
        session.commit()
        return None if raised is None else raised.id


def deliver(
    app: Flask, clock: FakeClock, mail: MailSettings, *, max_attempts: int = 8, **kwargs: Any
) -> DeliveryReport:
    with app.app_context():
        return notify.deliver_due(
            db.session, clock.now(), mail=mail, max_attempts=max_attempts, timeout=2, **kwargs
        )


def deliveries(app: Flask) -> list[Delivery]:
    with app.app_context():
        return list(db.session.scalars(select(Delivery).order_by(Delivery.id)))


# --- email ------------------------------------------------------------------------------


def test_email_reaches_the_lead_with_subject_message_and_link(
    app: Flask, clock: FakeClock, people: People, smtp: SmtpSink
) -> None:
    alert_id = alert(app, clock, people)

    report = deliver(app, clock, mail_to(smtp.port))

    assert report == DeliveryReport(sent=1, retried=0, failed=0)
    [mail] = smtp.mails
    assert mail.rcpt_tos == [EMAILS["lead-a"]]
    assert mail.mail_from == "safe-view@example.test"
    msg = mail.message
    assert msg["Subject"] == "[Safe view] Rotation needed"
    assert msg["To"] == EMAILS["lead-a"]
    assert msg["From"] == "Safe view <safe-view@example.test>"
    assert msg["X-Safe-View-Alert"] == str(alert_id)
    assert msg["Message-ID"].startswith(f"<safe-view.{alert_id}.")
    assert msg.get_content_type() == "text/plain"
    assert "Sam: 4 hours of graphic content today." in mail.body
    assert f"{BASE_URL}/alerts" in mail.body
    [row] = deliveries(app)
    assert (row.status, row.attempts, row.sent_at, row.last_error) == (
        "sent",
        1,
        clock.now(),
        None,
    )


def test_email_without_base_url_has_no_link(
    app: Flask, clock: FakeClock, people: People, smtp: SmtpSink
) -> None:
    alert(app, clock, people)
    deliver(app, clock, mail_to(smtp.port, base_url=""))
    [mail] = smtp.mails
    assert "/alerts" not in mail.body
    assert "http" not in mail.body


def test_lead_alert_goes_only_to_that_teams_leads_and_wellbeing_alert_only_to_staff(
    app: Flask, clock: FakeClock, people: People, smtp: SmtpSink
) -> None:
    alert(app, clock, people, key="lead-alert")
    alert(
        app,
        clock,
        people,
        key="wellbeing-alert",
        audience="wellbeing",
        kind="checkin_overdue",
        message="Sam's check-in is overdue.",
    )

    assert deliver(app, clock, mail_to(smtp.port)).sent == 2

    assert [m.message["Subject"] for m in smtp.to(EMAILS["lead-a"])] == [
        "[Safe view] Rotation needed"
    ]
    assert [m.message["Subject"] for m in smtp.to(EMAILS["carer"])] == [
        "[Safe view] Check-in overdue"
    ]
    assert smtp.to(EMAILS["lead-b"]) == []
    assert smtp.to(EMAILS["sam"]) == []
    assert len(smtp.mails) == 2


def test_starttls_and_login_are_used_when_configured(
    app: Flask,
    clock: FakeClock,
    people: People,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))  # the sender verifies the server
    alert(app, clock, people)
    with smtp_server(
        tls_context=server_tls_context(ca),
        require_starttls=True,
        auth_require_tls=True,
        login=("alerts", SMTP_SECRET),
    ) as sink:
        wrong = mail_to(sink.port, starttls=True, username="alerts", password="not-it")
        assert deliver(app, clock, wrong).retried == 1
        [row] = deliveries(app)
        assert row.last_error is not None and row.last_error.startswith("SMTP 535")
        assert "not-it" not in row.last_error

        clock.advance(seconds=30)
        right = mail_to(sink.port, starttls=True, username="alerts", password=SMTP_SECRET)
        assert deliver(app, clock, right).sent == 1

    assert sink.logins == ["alerts"]
    assert [m.rcpt_tos for m in sink.mails] == [[EMAILS["lead-a"]]]


def test_smtp_down_is_retried_then_marked_failed_with_its_error(
    app: Flask, clock: FakeClock, people: People
) -> None:
    from tests.wellbeing.notify_fixtures import free_port

    alert(app, clock, people)
    mail = mail_to(free_port(), password=SMTP_SECRET)

    reports = [deliver(app, clock, mail, max_attempts=3)]
    for wait in (30, 60):
        clock.advance(seconds=wait)
        reports.append(deliver(app, clock, mail, max_attempts=3))

    assert reports == [
        DeliveryReport(sent=0, retried=1, failed=0),
        DeliveryReport(sent=0, retried=1, failed=0),
        DeliveryReport(sent=0, retried=0, failed=1),
    ]
    [row] = deliveries(app)
    assert (row.status, row.attempts) == ("failed", 3)
    assert row.last_error is not None and "refused" in row.last_error.lower()
    assert SMTP_SECRET not in row.last_error

    # A failed delivery stays failed: later runs leave it (and its error) alone.
    clock.advance(hours=5)
    assert deliver(app, clock, mail, max_attempts=3) == DeliveryReport(0, 0, 0)
    [again] = deliveries(app)
    assert (again.status, again.attempts, again.last_error) == ("failed", 3, row.last_error)


# --- webhook ----------------------------------------------------------------------------


def test_webhook_receives_slack_compatible_json(
    app: Flask, clock: FakeClock, people: People, hook: Webhook
) -> None:
    alert_id = alert(app, clock, people, email=False, webhook=hook.url("/hooks/lead?x=1"))

    assert deliver(app, clock, mail_to(1)) == DeliveryReport(sent=1, retried=0, failed=0)

    [hit] = hook.hits
    assert hit.path == "/hooks/lead?x=1"
    assert hit.headers["Content-Type"] == "application/json"
    payload = hit.json
    assert payload["text"].startswith("[Safe view] Rotation needed: Sam: 4 hours")
    assert payload["text"].endswith(f"\n{BASE_URL}/alerts")
    assert payload["alert"] == {
        "id": alert_id,
        "kind": "rotate",
        "audience": "lead",
        "created_at": clock.now().isoformat(),
    }
    [row] = deliveries(app)
    assert (row.channel, row.status, row.attempts) == ("webhook", "sent", 1)


def test_webhook_text_cannot_ping_the_channel(
    app: Flask, clock: FakeClock, people: People, hook: Webhook
) -> None:
    alert(app, clock, people, email=False, webhook=hook.url(), message="<!channel> R&D <@U1>")
    deliver(app, clock, mail_to(1))
    text = hook.hits[0].json["text"]
    assert "&lt;!channel&gt; R&amp;D &lt;@U1&gt;" in text
    assert "<!channel>" not in text and "<@U1>" not in text


def test_failing_webhook_is_retried_with_backoff_and_not_early(
    app: Flask, clock: FakeClock, people: People, hook: Webhook
) -> None:
    alert(app, clock, people, email=False, webhook=hook.url())
    hook.fail_next(2)
    start = clock.now()
    mail = mail_to(1)

    assert deliver(app, clock, mail) == DeliveryReport(sent=0, retried=1, failed=0)
    [row] = deliveries(app)
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "HTTP 500")
    assert row.next_attempt_at == start + timedelta(seconds=30)

    clock.advance(seconds=29)
    assert deliver(app, clock, mail) == DeliveryReport(0, 0, 0)
    assert len(hook.hits) == 1

    clock.advance(seconds=1)
    assert deliver(app, clock, mail) == DeliveryReport(sent=0, retried=1, failed=0)
    [row] = deliveries(app)
    assert row.attempts == 2
    assert row.next_attempt_at == clock.now() + timedelta(seconds=60)

    clock.advance(seconds=59)
    assert deliver(app, clock, mail) == DeliveryReport(0, 0, 0)
    assert len(hook.hits) == 2

    clock.advance(seconds=1)
    assert deliver(app, clock, mail) == DeliveryReport(sent=1, retried=0, failed=0)
    assert len(hook.hits) == 3
    [row] = deliveries(app)
    assert (row.status, row.attempts, row.sent_at) == ("sent", 3, clock.now())


def test_webhook_that_hangs_times_out_as_a_failure(
    app: Flask, clock: FakeClock, people: People, hook: Webhook
) -> None:
    alert(app, clock, people, email=False, webhook=hook.url())
    release = hook.hold_requests()
    with app.app_context():
        report = notify.deliver_due(
            db.session, clock.now(), mail=mail_to(1), max_attempts=8, timeout=0.3
        )
    release.set()
    assert report == DeliveryReport(sent=0, retried=1, failed=0)
    [row] = deliveries(app)
    assert row.last_error == "timed out"


def test_webhook_url_never_appears_in_the_error(
    app: Flask, clock: FakeClock, people: People
) -> None:
    from tests.wellbeing.notify_fixtures import free_port

    secret_url = f"http://127.0.0.1:{free_port()}/services/T000/B000/s3cr3t-token"
    alert(app, clock, people, email=False, webhook=secret_url)
    deliver(app, clock, mail_to(1))
    [row] = deliveries(app)
    assert row.status == "pending" and row.last_error
    assert "s3cr3t" not in row.last_error and "services" not in row.last_error


# --- exactly once -----------------------------------------------------------------------


def test_the_same_alert_raised_twice_is_delivered_once(
    app: Flask, clock: FakeClock, people: People, smtp: SmtpSink, hook: Webhook
) -> None:
    first = alert(app, clock, people, webhook=hook.url())
    second = alert(app, clock, people, webhook=hook.url())
    assert first is not None and second is None

    deliver(app, clock, mail_to(smtp.port))
    clock.advance(minutes=5)
    deliver(app, clock, mail_to(smtp.port))

    assert len(smtp.mails) == 1
    assert len(hook.hits) == 1


def test_a_sent_delivery_is_never_sent_again(
    app: Flask, clock: FakeClock, people: People, smtp: SmtpSink, hook: Webhook
) -> None:
    alert(app, clock, people, webhook=hook.url())
    assert deliver(app, clock, mail_to(smtp.port)).sent == 2

    for _ in range(3):
        clock.advance(hours=2)
        assert deliver(app, clock, mail_to(smtp.port)) == DeliveryReport(0, 0, 0)

    assert len(smtp.mails) == 1
    assert len(hook.hits) == 1


def test_limit_sends_the_oldest_first_and_keeps_what_was_done(
    app: Flask, clock: FakeClock, people: People, hook: Webhook
) -> None:
    ids = []
    for n in range(3):
        ids.append(alert(app, clock, people, key=f"k{n}", email=False, webhook=hook.url()))
        clock.advance(seconds=1)

    assert deliver(app, clock, mail_to(1), limit=2).sent == 2
    assert [h.json["alert"]["id"] for h in hook.hits] == ids[:2]
    assert deliver(app, clock, mail_to(1), limit=2).sent == 1
    assert [h.json["alert"]["id"] for h in hook.hits] == ids


def test_two_senders_at_once_never_send_a_delivery_twice(
    app: Flask, clock: FakeClock, people: People, hook: Webhook
) -> None:
    ids = [
        alert(app, clock, people, key=f"burst:{n}", email=False, webhook=hook.url())
        for n in range(12)
    ]
    hook.slow_down(0.02)
    reports: list[DeliveryReport] = []
    errors: list[BaseException] = []
    gate = threading.Barrier(2)

    def sender() -> None:
        try:
            gate.wait(timeout=5)
            reports.append(deliver(app, clock, mail_to(1)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert errors == []
    assert sum(r.sent for r in reports) == 12
    assert Counter(h.json["alert"]["id"] for h in hook.hits) == Counter(dict.fromkeys(ids, 1))
    assert {d.status for d in deliveries(app)} == {"sent"}


def test_sending_holds_no_database_lock(
    app: Flask, clock: FakeClock, people: People, hook: Webhook
) -> None:
    """While a receiver is slow, the rest of the service can still write (on SQLite a held
    lock would block every reveal); had the sender held it, this write would wait until the
    webhook timed out and the delivery would not have been sent."""
    alert(app, clock, people, key="slow", email=False, webhook=hook.url())
    release = hook.hold_requests()
    reports: list[DeliveryReport] = []

    def sender() -> None:
        with app.app_context():
            reports.append(
                notify.deliver_due(
                    db.session, clock.now(), mail=mail_to(1), max_attempts=8, timeout=3
                )
            )

    thread = threading.Thread(target=sender)
    thread.start()
    try:
        assert hook.wait_for_request()
        alert(app, clock, people, key="meanwhile", email=False, webhook=hook.url())
    finally:
        release.set()
        thread.join(timeout=10)

    [slow, meanwhile] = deliveries(app)
    assert (slow.status, slow.attempts, slow.last_error) == ("sent", 1, None)
    assert meanwhile.status in ("pending", "sent")


# --- privacy ----------------------------------------------------------------------------


def test_no_check_in_answers_or_scores_in_any_message(
    app: Flask, clock: FakeClock, people: People, smtp: SmtpSink, hook: Webhook
) -> None:
    answers = [3, 0, 4, 1, 3]  # WHO-5 raw score 11, escalates
    with app.app_context():
        session = db.session
        checkin = checkins.schedule(
            session,
            people.subject,
            key="periodic:1",
            reason="periodic",
            instrument="who5",
            due_at=clock.now(),
            now=clock.now(),
        )
        assert checkin is not None
        done = checkins.answer(session, checkin.id, people.subject, answers, clock.now())
        assert done.escalated and done.score == 11
        session.commit()
    alert(
        app,
        clock,
        people,
        key=f"checkin:{checkin.id}:escalation",
        audience="wellbeing",
        kind="checkin_escalation",
        message="Sam's latest check-in asks for a follow-up from wellbeing staff.",
        webhook=hook.url("/hooks/wellbeing"),
    )

    assert deliver(app, clock, mail_to(smtp.port)).sent == 2

    [mail] = smtp.mails
    [hit] = hook.hits
    assert set(hit.json["alert"]) == {"id", "kind", "audience", "created_at"}
    who5 = checkins.INSTRUMENTS["who5"]
    forbidden = [*who5.items, *who5.choices, who5.title, "score", "11", str(answers)]
    for text in (mail.message["Subject"], mail.body, hit.json["text"]):
        for word in forbidden:
            assert word.lower() not in text.lower(), word
    assert mail.rcpt_tos == [EMAILS["carer"]]
