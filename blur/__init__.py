"""Safe renditions of untrusted images: probe, validate, blur, grayscale, cache.

A leaf package: bytes in, a rendition out. It may import only the standard library,
Pillow, NumPy and OpenCV. It never imports Flask, ``config``, ``wellbeing``,
``exposure`` or any database code; callers pass limits and specs in as values.
Video adds PyAV, imported only by the modules that decode, which run in the isolated
worker (``render_video_isolated``): ``import blur`` never loads a video decoder.
"""

from __future__ import annotations

import os

# OpenCV reads its decoder pixel cap once, at import, so it is set before anything here
# imports cv2 (its default of 1 GP let a 48 KiB PNG become 806 MB). blur never decodes
# with OpenCV; this is defence in depth for any caller in the same process.
os.environ["OPENCV_IO_MAX_IMAGE_PIXELS"] = "40000000"

from .cache import RenditionCache, cache_key, render_cached
from .errors import MediaError, MediaRejected, RenderFailed
from .formats import sniff
from .limits import Limits
from .placeholder import placeholder
from .probe import MediaInfo, probe
from .render import render
from .rendition import Rendition
from .spec import Spec
from .version import ENGINE_VERSION
from .video import playback, storyboard
from .video_cache import VideoRenditionCache, render_video_cached, video_cache_key
from .video_isolation import render_video_isolated
from .video_limits import VideoLimits
from .video_probe import probe_video, sniff_video
from .video_rendition import VideoInfo, VideoRendition

__all__ = [
    "ENGINE_VERSION",
    "Limits",
    "MediaError",
    "MediaInfo",
    "MediaRejected",
    "RenderFailed",
    "Rendition",
    "RenditionCache",
    "Spec",
    "VideoInfo",
    "VideoLimits",
    "VideoRendition",
    "VideoRenditionCache",
    "cache_key",
    "placeholder",
    "playback",
    "probe",
    "probe_video",
    "render",
    "render_cached",
    "render_video_cached",
    "render_video_isolated",
    "sniff",
    "sniff_video",
    "storyboard",
    "video_cache_key",
]
