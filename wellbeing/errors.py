"""Every error is a clear status with a reason: JSON for API and script calls, a page otherwise.

Database failures become 503 (never a 500 and never media): an unknown state refuses.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from wellbeing.db import db, security_event
from wellbeing.renditions import Saturated

log = logging.getLogger("wellbeing.errors")


def _wants_json() -> bool:
    return (
        request.path.startswith(("/api/", "/media/", "/events/"))
        or request.path.endswith("/reveal")
        or request.accept_mimetypes.best == "application/json"
    )


def _respond(status: int, error: str, message: str) -> Any:
    if _wants_json():
        return jsonify(error=error, message=message), status
    return render_template("error.html", status=status, message=message), status


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError) -> Any:
        security_event("csrf_failed", path=request.path, reason=exc.description)
        return _respond(400, "csrf", f"CSRF check failed: {exc.description}")

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        if exc.code == 423 or exc.code is None:
            return exc
        if exc.code == 413:
            security_event("too_large", path=request.path)
        return _respond(
            exc.code, (exc.name or "error").lower().replace(" ", "_"), exc.description or ""
        )

    @app.errorhandler(Saturated)
    def _saturated(exc: Saturated) -> Any:
        response, status = _respond(
            429, "busy", "Every render slot is busy; try again in a moment."
        )
        return response, status, {"Retry-After": "2", "Cache-Control": "no-store"}

    @app.errorhandler(SQLAlchemyError)
    def _database(exc: SQLAlchemyError) -> Any:
        log.error("database unavailable: %s", exc)
        with contextlib.suppress(SQLAlchemyError):
            db.session.rollback()
        response, status = _respond(
            503,
            "database_unavailable",
            "The service cannot reach its database right now; nothing was revealed.",
        )
        return response, status, {"Retry-After": "5", "Cache-Control": "no-store"}

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        log.exception("unhandled error")
        return _respond(500, "internal_error", "Something went wrong; nothing was revealed.")
