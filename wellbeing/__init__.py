"""The safe-view gateway's web application: the only package that knows Flask and config."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask

import config as settings
from wellbeing.clock import Clock, SystemClock

ROOT = Path(__file__).resolve().parent.parent


def create_app(config: dict[str, Any] | None = None, *, clock: Clock | None = None) -> Flask:
    """Build the app: load config, bind extensions, register blueprints and the CLI."""
    from wellbeing import (
        admin,
        api,
        auth,
        checkin,
        dashboards,
        errors,
        health,
        inbox,
        inputs,
        media,
        people,
        policies,
        renditions,
        security,
        team,
        viewer,
    )
    from wellbeing.cli import register_cli
    from wellbeing.db import db

    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.url_map.converters["int"] = inputs.RowId
    app.config.update(settings.load(overrides=config))
    _configure_flask(app)
    app.extensions["wellbeing.clock"] = clock or SystemClock()

    db.init_app(app)
    policies.init_app(app)
    security.init_app(app)
    auth.init_app(app)
    renditions.init_app(app)
    errors.init_app(app)

    app.register_blueprint(viewer.bp)
    app.register_blueprint(media.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(inbox.bp)
    app.register_blueprint(team.bp)
    app.register_blueprint(people.bp)
    app.register_blueprint(dashboards.bp)
    app.register_blueprint(admin.bp)
    checkin.init_app(app)
    security.csrf.exempt(api.bp)
    register_cli(app)
    return app


def _configure_flask(app: Flask) -> None:
    cfg = app.config
    if not cfg["SECRET_KEY"]:
        if cfg["ENV"] == "production":
            raise RuntimeError("WELLBEING_SECRET_KEY must be set in production")
        cfg["SECRET_KEY"] = _dev_secret(Path(cfg["DATA_DIR"]))
    cfg["MAX_CONTENT_LENGTH"] = cfg["MAX_UPLOAD_BYTES"] + 64 * 1024  # room for metadata
    cfg["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=cfg["SESSION_HOURS"])
    cfg["SESSION_COOKIE_HTTPONLY"] = True
    cfg["SESSION_COOKIE_SAMESITE"] = cfg["COOKIE_SAMESITE"]
    cfg["SESSION_COOKIE_SECURE"] = cfg["SECURE_COOKIES"]
    cfg["REMEMBER_COOKIE_DURATION"] = timedelta(seconds=0)
    cfg["WTF_CSRF_TIME_LIMIT"] = cfg["SESSION_HOURS"] * 3600


def _dev_secret(data_dir: Path) -> str:
    """Outside production, keep a random key in the data directory so restarts keep sessions."""
    import secrets

    path = data_dir / "dev-secret-key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    path.write_text(key)
    path.chmod(0o600)
    return key
