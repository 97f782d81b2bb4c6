"""Alert delivery: drains the outbox of pending deliveries that exposure.alerts writes, by
email (SMTP) and by Slack-compatible webhook, with retries, exponential backoff and failures
left visible on the row. Messages carry the alert's text only, never check-in data."""

from __future__ import annotations

import http.client
import json
import logging
import smtplib
import ssl
import time
from collections.abc import Mapping
from contextlib import closing, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from config import SETTINGS
from exposure.models import Alert, Delivery

log = logging.getLogger("wellbeing.notify")

SUBJECT_PREFIX = "[Safe view]"
ALERT_HEADER = "X-Safe-View-Alert"
FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY = timedelta(hours=1)
MAX_ERROR_CHARS = 200
MAX_RESPONSE_BYTES = 64 * 1024
KIND_TITLES = {
    "rotate": "Rotation needed",
    "checkin_overdue": "Check-in overdue",
    "checkin_escalation": "Check-in needs follow-up",
    "break_started": "Break started",
    "approaching_cap": "Approaching exposure cap",
}


@dataclass(frozen=True)
class MailSettings:
    host: str
    port: int
    starttls: bool
    username: str
    password: str = field(repr=False)
    sender: str
    base_url: str


@dataclass(frozen=True)
class DeliveryReport:
    sent: int
    retried: int
    failed: int


class DeliveryError(Exception):
    """A delivery attempt that did not go; the message is short and holds no secrets."""


def mail_settings(config: Mapping[str, Any]) -> MailSettings:
    """SMTP settings and the link base from the app's config (defaults from config.py)."""

    def get(name: str) -> Any:
        value = config.get(name)
        return SETTINGS[name].default if value is None else value

    return MailSettings(
        host=str(get("SMTP_HOST")),
        port=int(get("SMTP_PORT")),
        starttls=bool(get("SMTP_STARTTLS")),
        username=str(get("SMTP_USERNAME")),
        password=str(get("SMTP_PASSWORD")),
        sender=str(get("SMTP_FROM")),
        base_url=str(get("BASE_URL")).rstrip("/"),
    )


def retry_delay(attempts: int) -> timedelta:
    """Wait after the given number of failed attempts: 30 s doubling, at most an hour."""
    exponent = max(attempts - 1, 0)
    if exponent >= 16:  # far past the cap; avoids huge intermediate numbers
        return MAX_RETRY
    return min(FIRST_RETRY * 2**exponent, MAX_RETRY)


def lease(timeout: float) -> timedelta:
    """How long a claimed delivery is hidden from other senders while one sends it. SMTP
    makes about ten round trips, each bounded by `timeout`; the lease outlasts them all."""
    return timedelta(seconds=60 + 12 * timeout)


@dataclass(frozen=True)
class _Outgoing:
    """What one attempt needs, copied out of the ORM so no session is touched while sending."""

    delivery_id: int
    channel: str
    target: str
    alert_id: int
    alert_kind: str
    audience: str
    message: str
    created_at: datetime


def deliver_due(
    session: Session,
    now: datetime,
    *,
    mail: MailSettings,
    max_attempts: int,
    timeout: float = 10.0,
    limit: int = 100,
) -> DeliveryReport:
    """Send pending deliveries that are due, oldest first, at most `limit` of them.

    Each delivery is claimed in a short transaction (row lock with SKIP LOCKED on
    PostgreSQL, the writer lock on SQLite) that pushes its next_attempt_at past a lease, then
    sent with no transaction open, then its outcome is committed. So two schedulers never
    send the same delivery, a slow receiver never holds database locks (on SQLite that would
    stall every reveal), and a crash mid-batch keeps what was done. A crash between sending
    and recording sends that one delivery again after the lease: receivers can dedupe by
    Message-ID / the alert id. The session is committed; call it with no pending work.
    """
    max_attempts = max(max_attempts, 1)
    started = time.monotonic()  # elapsed time only; `now` stays the one source of the date
    sent = retried = failed = 0
    for _ in range(limit):
        elapsed = timedelta(seconds=time.monotonic() - started)
        outgoing = _claim(session, now, now + elapsed + lease(timeout))
        if outgoing is None:
            break
        try:
            if outgoing.channel == "email":
                _send_email(outgoing, mail, now, timeout)
            elif outgoing.channel == "webhook":
                _send_webhook(outgoing, mail.base_url, timeout)
            else:
                raise DeliveryError(f"unknown channel {outgoing.channel!r}")
        except Exception as exc:
            reason = _reason(exc)
            log.warning(
                "delivery %s (%s, alert %s) failed: %s",
                outgoing.delivery_id,
                outgoing.channel,
                outgoing.alert_id,
                reason,
            )
            outcome = _record_failure(session, outgoing.delivery_id, now, reason, max_attempts)
            if outcome == "failed":
                failed += 1
            elif outcome == "pending":
                retried += 1
        else:
            _record_success(session, outgoing.delivery_id, now)
            sent += 1
    return DeliveryReport(sent=sent, retried=retried, failed=failed)


def _claim(session: Session, now: datetime, lease_until: datetime) -> _Outgoing | None:
    row = session.scalars(
        select(Delivery)
        .where(Delivery.status == "pending", Delivery.next_attempt_at <= now)
        .order_by(Delivery.next_attempt_at, Delivery.id)
        .limit(1)
        # SQLAlchemy drops FOR UPDATE on SQLite, where BEGIN IMMEDIATE already serialises.
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    ).first()
    if row is None:
        session.commit()
        return None
    alert = session.get_one(Alert, row.alert_id)
    row.next_attempt_at = lease_until
    outgoing = _Outgoing(
        delivery_id=row.id,
        channel=row.channel,
        target=row.target,
        alert_id=alert.id,
        alert_kind=alert.kind,
        audience=alert.audience,
        message=alert.message,
        created_at=alert.created_at,
    )
    session.commit()
    return outgoing


def _locked(session: Session, delivery_id: int) -> Delivery:
    return session.get_one(Delivery, delivery_id, with_for_update=True, populate_existing=True)


def _record_success(session: Session, delivery_id: int, now: datetime) -> None:
    row = _locked(session, delivery_id)
    row.status = "sent"
    row.sent_at = now
    row.attempts += 1
    row.last_error = None
    session.commit()


def _record_failure(
    session: Session, delivery_id: int, now: datetime, reason: str, max_attempts: int
) -> str:
    row = _locked(session, delivery_id)
    if row.status != "pending":  # another sender finished it after our lease ran out
        session.commit()
        return row.status
    row.attempts += 1
    row.last_error = reason
    row.next_attempt_at = now + retry_delay(row.attempts)
    if row.attempts >= max_attempts:
        row.status = "failed"
    session.commit()
    return row.status


def title(kind: str) -> str:
    """A short human title for an alert kind, e.g. 'rotate' -> 'Rotation needed'."""
    if kind in KIND_TITLES:
        return KIND_TITLES[kind]
    if kind.startswith("rule:"):
        return f"Policy rule {kind.removeprefix('rule:')}"
    return kind.replace("_", " ").capitalize() or "Alert"


def _link(base_url: str) -> str:
    return f"{base_url.rstrip('/')}/alerts" if base_url else ""


def _send_email(out: _Outgoing, mail: MailSettings, now: datetime, timeout: float) -> None:
    sender_address = parseaddr(mail.sender)[1]
    domain = sender_address.rpartition("@")[2] or "localhost"
    msg = EmailMessage()
    msg["Subject"] = f"{SUBJECT_PREFIX} {title(out.alert_kind)}"
    msg["From"] = mail.sender
    msg["To"] = out.target
    msg["Date"] = format_datetime(now)
    # Stable across retries, so a receiver that got a message whose success we never
    # recorded can drop the second copy.
    stamp = int(out.created_at.timestamp())
    msg["Message-ID"] = f"<safe-view.{out.alert_id}.{out.delivery_id}.{stamp}@{domain}>"
    msg[ALERT_HEADER] = str(out.alert_id)
    msg["Auto-Submitted"] = "auto-generated"
    link = _link(mail.base_url)
    body = out.message + (f"\n\nOpen the alert inbox: {link}" if link else "")
    msg.set_content(body + "\n")
    with closing(smtplib.SMTP(mail.host, mail.port, timeout=timeout)) as smtp:
        if mail.starttls:
            smtp.starttls(context=ssl.create_default_context())
        if mail.username:
            smtp.login(mail.username, mail.password)
        smtp.send_message(msg, from_addr=sender_address or mail.sender, to_addrs=[out.target])
        # The message is accepted: a failed goodbye must not turn it into a retry.
        with suppress(smtplib.SMTPException, OSError):
            smtp.quit()


def _slack_escape(text: str) -> str:
    # Slack treats <...> as links and mentions: a display name like "<!channel>" must stay text.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def webhook_payload(out: _Outgoing, base_url: str) -> dict[str, Any]:
    link = _link(base_url)
    text = _slack_escape(f"{SUBJECT_PREFIX} {title(out.alert_kind)}: {out.message}")
    if link:
        text += f"\n{link}"
    return {
        "text": text,
        "alert": {
            "id": out.alert_id,
            "kind": out.alert_kind,
            "audience": out.audience,
            "created_at": out.created_at.isoformat(),
        },
    }


def _send_webhook(out: _Outgoing, base_url: str, timeout: float) -> None:
    # http.client rather than urllib: no proxy variables, and no redirect that would turn
    # the POST into a GET whose 200 looks like success.
    url = urlsplit(out.target)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise DeliveryError("webhook URL must be http or https")
    conn: http.client.HTTPConnection
    if url.scheme == "https":
        conn = http.client.HTTPSConnection(
            url.hostname, url.port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    path = url.path or "/"
    if url.query:
        path += "?" + url.query
    body = json.dumps(webhook_payload(out, base_url)).encode()
    try:
        conn.request(
            "POST",
            path,
            body=body,
            headers={
                "Content-Type": "application/json",
                "User-Agent": "safe-view-gateway",
                ALERT_HEADER: str(out.alert_id),
            },
        )
        response = conn.getresponse()
        response.read(MAX_RESPONSE_BYTES)
        if not 200 <= response.status < 300:
            raise DeliveryError(f"HTTP {response.status}")
    finally:
        conn.close()


def _reason(exc: BaseException) -> str:
    """A short, secret-free account of a failure: never the webhook URL (it is a credential
    on Slack) nor anything sent in a login."""
    if isinstance(exc, DeliveryError):
        text = str(exc)
    elif isinstance(exc, smtplib.SMTPResponseException):
        detail = exc.smtp_error
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        text = f"SMTP {exc.smtp_code}: {detail}"
    elif isinstance(exc, smtplib.SMTPRecipientsRefused):
        text = "SMTP recipient refused"
    elif isinstance(exc, TimeoutError):
        text = "timed out"
    elif isinstance(exc, OSError):
        text = f"{type(exc).__name__}: {exc.strerror or exc}"
    elif isinstance(exc, http.client.HTTPException):
        text = f"HTTP protocol error ({type(exc).__name__})"
    elif isinstance(exc, ValueError):
        text = f"cannot build the message ({type(exc).__name__})"
    else:
        text = type(exc).__name__
    text = " ".join(text.split())
    return text[:MAX_ERROR_CHARS]
