"""Safety limits and codec allow-lists for untrusted video, checked before decoding."""

from __future__ import annotations

from dataclasses import dataclass

# Codec names as libavcodec names them (codec ids, not decoder implementations).
VIDEO_CODECS = frozenset({"h264", "hevc", "vp8", "vp9", "av1", "mpeg4"})
AUDIO_CODECS = frozenset({"aac", "opus", "vorbis", "mp3"})
# WebM admits fewer codecs than Matroska; these are the ones its spec allows.
WEBM_VIDEO_CODECS = frozenset({"vp8", "vp9", "av1"})
WEBM_AUDIO_CODECS = frozenset({"opus", "vorbis"})


@dataclass(frozen=True)
class VideoLimits:
    """Caps on untrusted video, from container headers before decoding, and on the render.

    ``max_width`` x ``max_height`` is a box the frame must fit in either orientation, so
    a portrait phone clip of 2160x3840 passes the 3840x2160 default. ``max_streams``
    counts every track (video, audio, subtitles, timecode, metadata).
    ``render_timeout_seconds`` and ``render_memory_bytes`` bound the isolated worker.
    """

    max_bytes: int = 200 * 1024 * 1024
    max_seconds: float = 600
    max_width: int = 3840
    max_height: int = 2160
    max_fps: float = 120
    render_timeout_seconds: float = 120
    render_memory_bytes: int = 1024 * 1024 * 1024
    max_streams: int = 8

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_width", "max_height", "render_memory_bytes", "max_streams"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"VideoLimits.{name} must be a positive integer, got {value!r}")
        for name in ("max_seconds", "max_fps", "render_timeout_seconds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"VideoLimits.{name} must be a positive number, got {value!r}")
            if value == float("inf"):
                raise ValueError(f"VideoLimits.{name} must be finite")

    def fits(self, width: int, height: int) -> bool:
        """Whether a frame of width x height fits the resolution box in either orientation."""
        long_side, short_side = max(width, height), min(width, height)
        return long_side <= max(self.max_width, self.max_height) and short_side <= min(
            self.max_width, self.max_height
        )

    def as_dict(self) -> dict[str, float | int]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


DEFAULT_VIDEO_LIMITS = VideoLimits()
