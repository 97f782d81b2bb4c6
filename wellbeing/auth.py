"""Browser sign-in: Flask-Login sessions that the database can revoke, and role checks."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from werkzeug.wrappers import Response

from exposure import accounts, audit
from exposure.models import User
from wellbeing.db import clock, db, security_event

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.session_protection = "strong"

F = TypeVar("F", bound=Callable[..., Any])


class SessionUser(UserMixin):
    """The signed-in person for one request, loaded fresh from the database."""

    def __init__(self, user: User | accounts.Identity) -> None:
        self.id = user.id
        self.username = user.username
        self.display_name = user.display_name
        self.roles = user.roles
        self.team_id = user.team_id
        self._token = user.session_token

    def get_id(self) -> str:
        # The cookie carries the rotating session token, not the user id: rotating it on
        # logout or password change kills every copy of the cookie.
        return self._token


# Reads the person of a session token together with what one view needs: (identity, extra).
IdentityLoader = Callable[..., tuple[accounts.Identity | None, Any]]


@login_manager.user_loader
def _load(token: str) -> SessionUser | None:
    custom = g.pop("identity_loader", None)
    found = custom(token) if custom else accounts.identity_by_session_token(db.session, token)
    return SessionUser(found) if found is not None else None


@login_manager.unauthorized_handler
def _unauthorized() -> Any:
    # Scripts and media get a status they can act on; people get the sign-in page.
    if request.method != "GET" or request.path.startswith(("/media/", "/events/")):
        return jsonify(error="unauthorized", message="Sign in first."), 401
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    app.register_blueprint(bp)


def roles_required(*roles: str, load_with: IdentityLoader | None = None) -> Callable[[F], F]:
    """Allow a signed-in person holding any of these roles; anonymous goes to the login page.

    With `load_with`, the person is read by `load_with(token, **view_args)`, which also
    returns what the view needs (passed to it as `loaded`): one round trip for both.
    """

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if load_with is not None:
                kwargs["loaded"] = _load_with(load_with, kwargs)
                if kwargs["loaded"] is None:
                    return login_manager.unauthorized()
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if not set(roles) & set(current_user.roles):
                security_event("forbidden", actor_id=current_user.id, path=request.path)
                abort(403, description="Your role does not allow this page.")
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorate


def _load_with(loader: IdentityLoader, view_args: dict[str, Any]) -> Any:
    """What `loader` returned for this request's signed-in person; None if nobody is."""
    extra: list[Any] = []

    def load(token: str) -> accounts.Identity | None:
        identity, found = loader(token, **view_args)
        extra.append(found)
        return identity

    g.identity_loader = load
    try:
        signed_in = current_user.is_authenticated  # Flask-Login's checks, then `load`
    finally:
        g.pop("identity_loader", None)
    if not signed_in:
        return None
    if not extra and load(current_user.get_id()) is None:  # loaded earlier in this request
        return None
    return extra[0]


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if request.method == "GET":
        return render_template("login.html")
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    now = clock().now()
    result = accounts.authenticate(
        db.session,
        username,
        password,
        now,
        max_failures=current_app.config["LOGIN_MAX_FAILURES"],
        lock_seconds=current_app.config["LOGIN_LOCK_SECONDS"],
    )
    if result.user is None:
        db.session.commit()  # keep the failure count
        security_event("login_failed", username=username[:80], reason=result.reason)
        message = {
            "locked": "Too many failed attempts. This account is locked for a few minutes.",
            "disabled": "This account is disabled.",
        }.get(result.reason, "Unknown username or wrong password.")
        flash(message, "error")
        return render_template("login.html", username=username), 401
    audit.record(db.session, "login", now, actor_id=result.user.id, remote_addr=request.remote_addr)
    db.session.commit()
    login_user(SessionUser(result.user))
    target = request.args.get("next", "")
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        target = url_for("viewer.home")
    return redirect(target)


@bp.post("/logout")
def logout() -> Response:
    if current_user.is_authenticated:
        user = db.session.get(User, current_user.id)
        if user is not None:
            accounts.revoke_sessions(user)
            audit.record(db.session, "logout", clock().now(), actor_id=user.id)
            db.session.commit()
    logout_user()
    return redirect(url_for("auth.login"))
