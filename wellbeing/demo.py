"""`wellbeing demo`: a ready-to-click service on the embedded SQLite default.

Creates the schema, one person per role in one team, and a set of attachments made on the
spot (scikit-image's bundled sample photos when installed, generated scenes otherwise),
some flagged in several categories; prints the logins and serves on 127.0.0.1.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import click
import numpy as np
from flask import current_app
from flask.cli import with_appcontext
from PIL import Image, ImageDraw
from sqlalchemy import select

import blur
from exposure import accounts, attachments
from exposure.attachments import MediaFacts, Registration
from exposure.models import Team, User
from wellbeing.cli import upgrade
from wellbeing.db import clock, db
from wellbeing.scheduler import start_in_process

DEMO_PASSWORD = "demo-password-1"  # noqa: S105 - printed to the operator, demo database only
PEOPLE = [
    ("ana", "Ana Associate", ("associate",)),
    ("sam", "Sam Associate", ("associate",)),
    ("lee", "Lee Lead", ("lead", "associate")),
    ("wes", "Wes Wellbeing", ("wellbeing",)),
    ("ada", "Ada Admin", ("admin",)),
]


def _jpeg(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).convert("RGB").save(out, "JPEG", quality=90)
    return out.getvalue()


def _scene(seed: int) -> bytes:
    """A generated outdoor-ish scene with a face-like figure, for machines without scikit-image."""
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (960, 640), tuple(int(v) for v in rng.integers(60, 200, 3)))
    draw = ImageDraw.Draw(img)
    for _ in range(40):
        x, y = (int(v) for v in rng.integers(0, 900, 2))
        colour = tuple(int(v) for v in rng.integers(0, 255, 3))
        draw.rectangle(
            [x, y, x + int(rng.integers(20, 200)), y + int(rng.integers(20, 200))], fill=colour
        )
    draw.ellipse([380, 160, 580, 420], fill=(224, 184, 150))
    draw.ellipse([430, 240, 460, 262], fill=(40, 40, 40))
    draw.ellipse([500, 240, 530, 262], fill=(40, 40, 40))
    draw.arc([440, 300, 520, 360], 20, 160, fill=(120, 30, 30), width=6)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=90)
    return out.getvalue()


def _samples() -> Iterator[tuple[str, bytes]]:
    try:
        from skimage import data
    except ImportError:
        for i in range(6):
            yield f"scene-{i}.jpg", _scene(i)
        return
    for name in ("astronaut", "chelsea", "coffee", "rocket", "camera", "moon"):
        arr = getattr(data, name)()
        yield f"{name}.jpg", _jpeg(arr)


FLAGS = [
    ("flagged", ["graphic_violence"], 4),
    ("flagged", ["self_harm", "suicide"], 5),
    ("clear", [], 0),
    ("flagged", ["child_abuse"], 5),
    ("unknown", [], 0),
    ("flagged", ["hate_speech"], 2),
]


def load_demo() -> list[int]:
    """Create the demo people and attachments (idempotent); return the attachment ids."""
    session = db.session
    now = clock().now()
    team = session.scalar(select(Team).where(Team.name == "Queue A"))
    if team is None:
        team = accounts.create_team(session, "Queue A", now)
    for username, name, roles in PEOPLE:
        if session.scalar(select(User).where(User.username == username)) is None:
            user = accounts.create_user(
                session, username, DEMO_PASSWORD, roles, now, display_name=name, team=team
            )
            if "lead" in roles:
                accounts.make_lead(session, team, user)
    ids = []
    for i, ((filename, data), (state, cats, severity)) in enumerate(
        zip(_samples(), FLAGS, strict=False)
    ):
        info = blur.probe(data)
        facts = MediaFacts("image", info.format, info.mime, info.width, info.height, info.frames)
        reg = Registration(
            ticket_ref=f"DEMO-{100 + i}",
            external_id=f"att-{i}",
            filename=filename,
            flag_state=state,
            categories=cats,
            severity=severity,
            flag_source="ticket_label" if state == "flagged" else None,
        )
        att, _ = attachments.register(session, reg, data, facts, now)
        ids.append(att.id)
    session.commit()
    return ids


@click.command("demo", help="Create demo data on the configured database and serve on 127.0.0.1.")
@click.option("--port", default=5000, show_default=True)
@click.option("--no-serve", is_flag=True, help="Only load the demo data.")
@with_appcontext
def demo_command(port: int, no_serve: bool) -> None:
    upgrade(current_app.config["DATABASE_URL"])
    ids = load_demo()
    click.echo(f"Demo people (password {DEMO_PASSWORD!r}):")
    for username, name, roles in PEOPLE:
        click.echo(f"  {username:5} {name} ({', '.join(roles)})")
    click.echo("Attachments:")
    for att_id in ids:
        click.echo(f"  http://127.0.0.1:{port}/view/{att_id}")
    if not no_serve:
        # The single-process demo server may run the scheduler in-process (behind the same
        # lock as `wellbeing scheduler`); web workers under gunicorn never do.
        current_app.config["SCHEDULER_IN_PROCESS"] = True
        start_in_process(current_app._get_current_object())  # type: ignore[attr-defined]
        current_app.run(host="127.0.0.1", port=port, debug=False, use_reloader=False)
