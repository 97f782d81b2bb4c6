"""The product of the engine: freshly encoded image bytes and what they are."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rendition:
    data: bytes  # always a freshly encoded image, never the input bytes
    mime: str  # 'image/jpeg' for every level, placeholders included
    width: int
    height: int
    source_frames: int  # frames in the source; 0 for a placeholder made without a source
