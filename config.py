"""Settings for the safe-view gateway: one table of defaults, read by the app factory only.

Every setting can be overridden by an environment variable named ``WELLBEING_<NAME>``
(``DATABASE_URL`` is also read without the prefix, as platforms set it). The table in the
README documents each one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PREFIX = "WELLBEING_"


@dataclass(frozen=True)
class Setting:
    default: Any
    doc: str


SETTINGS: dict[str, Setting] = {
    "ENV": Setting("development", "`production` refuses to start without SECRET_KEY."),
    "SECRET_KEY": Setting(None, "Signs session cookies and CSRF tokens. Required in production."),
    "DATABASE_URL": Setting(
        "sqlite:///instance/wellbeing.db",
        "SQLAlchemy URL. SQLite file by default; `postgresql+psycopg://...` in production.",
    ),
    "DATA_DIR": Setting("instance", "Directory for the SQLite file and the rendition cache."),
    "CACHE_DIR": Setting(None, "Rendition cache directory (default: DATA_DIR/renditions)."),
    "CACHE_MAX_BYTES": Setting(512 * 1024 * 1024, "Size bound of the rendition cache."),
    "MAX_UPLOAD_BYTES": Setting(25 * 1024 * 1024, "Largest attachment accepted, in bytes."),
    "MAX_PIXELS": Setting(40_000_000, "Largest image accepted, in pixels per frame."),
    "MAX_FRAMES": Setting(1000, "Most animation frames accepted."),
    "MAX_TOTAL_PIXELS": Setting(400_000_000, "Largest frames x pixels accepted."),
    "SAFE_MAX_SIZE": Setting(1280, "Longest side of a rendition, in pixels."),
    "VIDEO_MAX_SECONDS": Setting(600, "Longest video accepted, in seconds."),
    "VIDEO_MAX_WIDTH": Setting(3840, "Widest video accepted (either orientation), in pixels."),
    "VIDEO_MAX_HEIGHT": Setting(2160, "Tallest video accepted (either orientation), in pixels."),
    "VIDEO_PLAYBACK_HEIGHT": Setting(360, "Height of blurred playback renditions, in pixels."),
    "VIDEO_STORYBOARD_FRAMES": Setting(9, "Keyframes in a video's silent storyboard."),
    "VIDEO_RENDER_TIMEOUT_SECONDS": Setting(120, "Wall-time limit of one video render."),
    "VIDEO_RENDER_MEMORY_BYTES": Setting(
        1024 * 1024 * 1024, "Memory limit of the isolated video decoder process."
    ),
    "RENDER_SLOTS": Setting(
        4, "Renders running at once per worker; more get 429 with Retry-After."
    ),
    "REVEAL_TTL_SECONDS": Setting(60, "Lifetime of a single-use reveal URL."),
    "HEARTBEAT_SECONDS": Setting(10, "Interval of viewer heartbeats while content is visible."),
    "HEARTBEAT_GRACE_SECONDS": Setting(
        25, "A view's duration stops growing this long after its last heartbeat."
    ),
    "SAFE_VIEW_MAX_SECONDS": Setting(3600, "Cap on one exposure event's duration."),
    "LOGIN_MAX_FAILURES": Setting(5, "Failed logins before an account is locked for a while."),
    "LOGIN_LOCK_SECONDS": Setting(300, "How long an account stays locked after too many failures."),
    "SESSION_HOURS": Setting(10, "Lifetime of a browser session, in hours (about one shift)."),
    "FRAME_ANCESTORS": Setting(
        "'self'", "CSP frame-ancestors for the viewer, e.g. `https://tickets.example.com`."
    ),
    "SECURE_COOKIES": Setting(False, "Mark cookies Secure (turn on behind HTTPS)."),
    "COOKIE_SAMESITE": Setting(
        "Lax", "SameSite of the session cookie; `None` (with SECURE_COOKIES) to embed cross-site."
    ),
    "UPSTREAM_ALLOWED_HOSTS": Setting(
        "", "Comma-separated hosts from which attachments may be fetched by URL."
    ),
    "UPSTREAM_TIMEOUT_SECONDS": Setting(10, "Total time limit of one upstream fetch."),
    "UPSTREAM_ALLOW_PRIVATE": Setting(
        False,
        "Allow upstream addresses in private/loopback ranges. Tests only; never in production.",
    ),
    "POLICY_FILE": Setting(
        "", "Exposure policy (TOML). Empty: the default policy shipped in exposure/."
    ),
    "SCHEDULER_INTERVAL_SECONDS": Setting(60, "How often the scheduler's reconciler runs."),
    "SCHEDULER_STALE_SECONDS": Setting(
        300, "/readyz reports the scheduler stale when its heartbeat is older than this."
    ),
    "SCHEDULER_IN_PROCESS": Setting(
        False, "Run the scheduler inside the web process (single-process dev/demo server only)."
    ),
    "ALERT_EMAIL": Setting(False, "Send alerts by email to the leads / wellbeing staff."),
    "SMTP_HOST": Setting("localhost", "SMTP server for alert emails."),
    "SMTP_PORT": Setting(25, "SMTP port."),
    "SMTP_STARTTLS": Setting(False, "Use STARTTLS with the SMTP server."),
    "SMTP_USERNAME": Setting("", "SMTP user name (empty: no login)."),
    "SMTP_PASSWORD": Setting("", "SMTP password."),
    "SMTP_FROM": Setting("safe-view@localhost", "From address of alert emails."),
    "WEBHOOK_LEAD_URL": Setting("", "Slack-compatible webhook for alerts to leads (empty: off)."),
    "WEBHOOK_WELLBEING_URL": Setting(
        "", "Slack-compatible webhook for alerts to wellbeing staff (empty: off)."
    ),
    "DELIVERY_MAX_ATTEMPTS": Setting(8, "Attempts per alert delivery before it is marked failed."),
    "BASE_URL": Setting("", "External URL of the service, for links in emails and webhooks."),
    "SENDFILE_HEADER": Setting(
        "",
        "Let the front-end server send cached renditions: `X-Accel-Redirect` (nginx) or "
        "`X-Sendfile` (Apache, lighttpd); empty: the app sends them. Any other value stops "
        "the app at start.",
    ),
    "SENDFILE_PREFIX": Setting(
        "/_renditions/",
        "Internal nginx location of the rendition cache, for `X-Accel-Redirect` (starts and "
        "ends with `/`).",
    ),
}


def _coerce(default: Any, raw: str) -> Any:
    if isinstance(default, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(raw)
    return raw


def load(
    environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Defaults, then the environment, then explicit overrides (tests)."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {name: s.default for name, s in SETTINGS.items()}
    if "DATABASE_URL" in env:
        values["DATABASE_URL"] = env["DATABASE_URL"]
    for name, setting in SETTINGS.items():
        raw = env.get(PREFIX + name)
        if raw is not None:
            default = setting.default
            values[name] = raw if default is None else _coerce(default, raw)
    if overrides:
        values.update(overrides)
    return values
