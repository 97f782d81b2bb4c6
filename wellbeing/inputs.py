"""Parsing of browser and API input into typed requests; bad input raises BadInput (400)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter, Map

CLIENT_EVENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


class BadInput(BadRequest):
    """A 400 whose description says exactly what was wrong."""


class RowId(IntegerConverter):
    """`<int:...>` in every route: a number an id column can hold (INTEGER, 32 bits on
    PostgreSQL). A larger one matches no route (404) instead of failing in the database."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(map, *args, **kwargs)


def client_event_id(value: Any) -> str:
    if not isinstance(value, str) or not CLIENT_EVENT_ID.match(value):
        raise BadInput("client_event_id must be 8 to 64 letters, digits, '-' or '_'")
    return value


def region(value: Any) -> tuple[float, float, float, float] | None:
    """A rectangle 'x,y,w,h' in fractions of the image, or nothing."""
    if value in (None, ""):
        return None
    try:
        parts = tuple(float(v) for v in str(value).split(","))
    except ValueError:
        raise BadInput("region must be four numbers 'x,y,w,h'") from None
    if len(parts) != 4:
        raise BadInput("region must be four numbers 'x,y,w,h'")
    x, y, w, h = parts
    if (
        not (0 <= x < 1 and 0 <= y < 1 and 0 < w <= 1 and 0 < h <= 1)
        or x + w > 1.0001
        or (y + h > 1.0001)
    ):
        raise BadInput("region must lie inside the image (fractions from 0 to 1)")
    return (x, y, min(w, 1 - x), min(h, 1 - y))


@dataclass(frozen=True)
class RevealRequest:
    level: int
    region: tuple[float, float, float, float] | None
    client_event_id: str
    audio: bool = False

    @classmethod
    def from_form(cls, form: Mapping[str, Any]) -> RevealRequest:
        audio = form.get("audio") == "1"
        lowest = 1 if audio else 2  # unmuting the blurred playback is a reveal of its own
        try:
            level = int(form.get("level", ""))
        except ValueError:
            level = -1
        if not lowest <= level <= 4:
            raise BadInput("level must be 2 (peek), 3 (grayscale) or 4 (colour)")
        reg = region(form.get("region"))
        if reg is not None and level < 3:
            raise BadInput("a region reveal needs level 3 or 4")
        if reg is not None and audio:
            raise BadInput("a region reveal cannot unmute audio")
        return cls(
            level=level,
            region=reg,
            client_event_id=client_event_id(form.get("client_event_id")),
            audio=audio,
        )


def minutes(value: Any, *, default: float, low: float, high: float) -> float:
    if value in (None, ""):
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BadInput(f"minutes must be a number from {low:g} to {high:g}") from None
    if not low <= number <= high:
        raise BadInput(f"minutes must be a number from {low:g} to {high:g}")
    return number
