"""What to render from a video: a storyboard grid or a playback rendition, validated."""

from __future__ import annotations

from dataclasses import dataclass

from .spec import MAX_SIZE, MIN_SIZE, ORIGINAL, SAFE

STORYBOARD, PLAYBACK = "storyboard", "playback"
KINDS = (STORYBOARD, PLAYBACK)
MAX_TILES = 64
MIN_HEIGHT, MAX_HEIGHT = 32, 2160


def _int_in(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an int {low}-{high}, got {value!r}")
    return value


@dataclass(frozen=True)
class StoryboardSpec:
    """A grid of ``frames`` tiles at reveal ``level`` (1-4), longest side ``max_size``."""

    frames: int = 9
    level: int = SAFE
    max_size: int = 1280

    def __post_init__(self) -> None:
        _int_in("frames", self.frames, 1, MAX_TILES)
        _int_in("level", self.level, SAFE, ORIGINAL)
        _int_in("max_size", self.max_size, MIN_SIZE, MAX_SIZE)

    def key(self) -> str:
        return f"storyboard;frames={self.frames};level={self.level};max={self.max_size}"


@dataclass(frozen=True)
class PlaybackSpec:
    """An MP4 at reveal ``level`` (1-4), at most ``max_height`` rows, audio only if asked."""

    level: int = SAFE
    audio: bool = False
    max_height: int = 360

    def __post_init__(self) -> None:
        _int_in("level", self.level, SAFE, ORIGINAL)
        if not isinstance(self.audio, bool):
            raise ValueError(f"audio must be a bool, got {self.audio!r}")
        _int_in("max_height", self.max_height, MIN_HEIGHT, MAX_HEIGHT)

    def key(self) -> str:
        return f"playback;level={self.level};audio={int(self.audio)};max_height={self.max_height}"


def video_spec(kind: str, **spec: object) -> StoryboardSpec | PlaybackSpec:
    """The validated spec of ``kind`` ('storyboard' or 'playback') from keyword values."""
    if kind == STORYBOARD:
        return StoryboardSpec(**spec)  # type: ignore[arg-type]
    if kind == PLAYBACK:
        return PlaybackSpec(**spec)  # type: ignore[arg-type]
    raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
