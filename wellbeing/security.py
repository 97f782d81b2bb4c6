"""CSRF protection and the security headers of every HTML response."""

from __future__ import annotations

import io
from typing import IO

from flask import Flask, Request, Response, current_app
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect
from itsdangerous import URLSafeTimedSerializer

csrf = CSRFProtect()


class MemoryUploadRequest(Request):
    """Keep uploaded files in memory (bounded by MAX_CONTENT_LENGTH): originals never touch
    a temporary file on disk."""

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        return io.BytesIO()


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the signing serializer built once per set of
    keys instead of once per request (every media request reads the session cookie)."""

    _built: tuple[object, URLSafeTimedSerializer | None] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        built = self._built
        if built is None or built[0] != keys:
            built = (keys, super().get_signing_serializer(app))
            self._built = built  # one assignment: safe for threaded workers
        return built[1]


def init_app(app: Flask) -> None:
    app.request_class = MemoryUploadRequest
    app.session_interface = SessionInterface()
    csrf.init_app(app)
    app.after_request(_headers)


def _headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if "Content-Security-Policy" not in response.headers:
        ancestors = current_app.config["FRAME_ANCESTORS"]
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
            "media-src 'self' blob:; "
            "connect-src 'self'; form-action 'self'; base-uri 'none'; "
            f"frame-ancestors {ancestors}"
        )
    if response.mimetype == "text/html":
        response.headers.setdefault("Cache-Control", "no-store, private")
    return response
