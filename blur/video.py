"""Safe renditions of untrusted video: the public entry points.

PyAV (libav) is imported only inside ``storyboard`` and ``playback``, which run in the
isolated worker (``render_video_isolated``); importing ``blur`` never loads a video
decoder into the web process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from .errors import MediaError, RenderFailed
from .rendition import Rendition
from .spec import SAFE
from .video_limits import DEFAULT_VIDEO_LIMITS, VideoLimits
from .video_rendition import VideoRendition
from .video_spec import PlaybackSpec, StoryboardSpec

T = TypeVar("T")


def storyboard(
    data: bytes,
    *,
    frames: int = 9,
    level: int = SAFE,
    max_size: int = 1280,
    limits: VideoLimits = DEFAULT_VIDEO_LIMITS,
) -> Rendition:
    """A grid JPEG of ``frames`` safe-looking keyframes with times. Decodes in this process."""
    from .video_storyboard import render_storyboard

    spec = StoryboardSpec(frames=frames, level=level, max_size=max_size)
    return _guarded(lambda: render_storyboard(data, spec, limits))


def playback(
    data: bytes,
    *,
    level: int = SAFE,
    audio: bool = False,
    max_height: int = 360,
    limits: VideoLimits = DEFAULT_VIDEO_LIMITS,
) -> VideoRendition:
    """A muted (unless ``audio``) H.264 MP4 at ``level``. Decodes in this process."""
    from .video_playback import render_playback

    spec = PlaybackSpec(level=level, audio=audio, max_height=max_height)
    return _guarded(lambda: render_playback(data, spec, limits))


def _guarded(render: Callable[[], T]) -> T:
    """Fail closed: MediaRejected or RenderFailed only, never another exception."""
    try:
        return render()
    except MediaError:
        raise
    except MemoryError:
        raise RenderFailed("out_of_memory", "ran out of memory while rendering") from None
    except Exception as exc:
        raise RenderFailed("internal", f"rendering failed: {type(exc).__name__}") from exc
