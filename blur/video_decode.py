"""Open untrusted video with libav (PyAV) from memory, with every door to the outside shut.

Only the isolated worker imports this module: libav's stream probing decodes frames.
The bytes are opened from an in-memory file with the demuxer forced from our own sniff
(never probed, so an HLS or concat demuxer can never be chosen), nested opens refused
(HLS segments, MOV data references), and an empty protocol whitelist. libav's own view
of the headers must pass the same caps as ``video_probe``'s, and ``FrameGuard`` checks
every decoded frame, so a file whose headers lie is stopped while decoding.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NoReturn

import av
import av.error
import numpy as np
from av.container import InputContainer
from av.video.frame import VideoFrame
from av.video.reformatter import VideoReformatter
from av.video.stream import VideoStream

from .errors import MediaError, MediaRejected, RenderFailed
from .video_limits import AUDIO_CODECS, VIDEO_CODECS, VideoLimits
from .video_probe import probe_video
from .video_rendition import VideoInfo

_DEMUXERS = {"mp4": "mp4", "mov": "mov", "webm": "webm"}
_OPTIONS = {
    "protocol_whitelist": "none",  # nested opens of any protocol fail
    "enable_drefs": "0",  # MOV data references to other files (the default, pinned)
    "use_absolute_path": "0",
}
_DURATION_SLACK = 1.05  # headers round; a few percent over the cap is not a lie
_SLACK_SECONDS = 2.0


@dataclass
class Opened:
    """A checked, open container and its first video stream."""

    info: VideoInfo
    container: InputContainer
    video: VideoStream
    start: float  # presentation time of the first frame, seconds

    def close(self) -> None:
        self.container.close()

    def __enter__(self) -> Opened:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _refuse_nested_open(url: str, flags: int, options: dict[str, Any]) -> NoReturn:
    raise PermissionError("the decoder may not open other files or URLs")


def open_checked(data: bytes, limits: VideoLimits) -> Opened:
    """Probe the headers ourselves, then open with libav and check its view too."""
    info = probe_video(data, limits)
    try:
        container = av.open(
            io.BytesIO(data),
            mode="r",
            format=_DEMUXERS[info.container],
            options=_OPTIONS,
            io_open=_refuse_nested_open,
            timeout=limits.render_timeout_seconds,
        )
    except MediaError:
        raise
    except Exception as exc:
        raise decode_error(exc) from None
    try:
        video = _check_streams(container, limits)
        start = 0.0
        if video.start_time is not None and video.time_base is not None:
            start = float(video.start_time * video.time_base)
    except BaseException:
        container.close()
        raise
    return Opened(info, container, video, start)


def _check_streams(container: InputContainer, limits: VideoLimits) -> VideoStream:
    streams = list(container.streams)
    if len(streams) > limits.max_streams:
        raise MediaRejected("too_many_streams", f"libav sees {len(streams)} streams")
    videos = list(container.streams.video)
    if not videos:
        raise MediaRejected("corrupt", "libav finds no video stream")
    for stream in videos:
        name = stream.codec_context.codec.canonical_name
        if name not in VIDEO_CODECS:
            raise MediaRejected("unsupported_codec", f"libav reads video codec {name}")
        width, height = stream.codec_context.width, stream.codec_context.height
        if width < 1 or height < 1:
            raise MediaRejected("corrupt", f"libav reads a size of {width}x{height}")
        if not limits.fits(width, height):
            raise MediaRejected("too_many_pixels", f"libav reads a size of {width}x{height}")
        rate = stream.average_rate
        if rate is not None and float(rate) > limits.max_fps * _DURATION_SLACK:
            raise MediaRejected("too_many_frames", f"libav reads {float(rate):.0f} fps")
    for sound in container.streams.audio:
        name = sound.codec_context.codec.canonical_name
        if name not in AUDIO_CODECS:
            raise MediaRejected("unsupported_codec", f"libav reads audio codec {name}")
    if container.duration is not None:
        seconds = container.duration / av.time_base
        if seconds > limits.max_seconds * _DURATION_SLACK + _SLACK_SECONDS:
            raise MediaRejected("too_long", f"libav reads a duration of {seconds:.0f} s")
    video = videos[0]
    video.thread_type = "AUTO"
    return video


def skip_deblocking(opened: Opened) -> None:
    """Skip the in-loop deblocking filter: call before decoding, for blurred looks only.

    A blur of a tenth of the frame hides block edges anyway, and the filter is about a
    seventh of H.264 decoding time. (Errors drift within a GOP; the blur hides them too.)
    """
    opened.video.codec_context.options = {"skip_loop_filter": "all"}


class FrameGuard:
    """Per-frame checks while decoding: size, time and count stay within the limits."""

    def __init__(self, opened: Opened, limits: VideoLimits) -> None:
        self.limits = limits
        self.start = opened.start
        self.width = opened.video.codec_context.width
        self.height = opened.video.codec_context.height
        seconds = min(limits.max_seconds, max(opened.info.duration_seconds, 1.0))
        self.max_frames = int(limits.max_fps * (seconds * _DURATION_SLACK + _SLACK_SECONDS))
        self.max_time = limits.max_seconds * _DURATION_SLACK + _SLACK_SECONDS
        self.frames = 0

    def seconds(self, frame: VideoFrame) -> float:
        """Time of the frame from the start of the clip, after checking it."""
        self.frames += 1
        if self.frames > self.max_frames:
            raise MediaRejected("too_many_frames", "the stream holds more frames than declared")
        if (frame.width, frame.height) != (self.width, self.height) and not self.limits.fits(
            frame.width, frame.height
        ):
            raise MediaRejected("too_many_pixels", "a frame is larger than the limit")
        when = (frame.time or 0.0) - self.start
        if when > self.max_time:
            raise MediaRejected("too_long", "the stream runs longer than the limit")
        return max(0.0, when)

    def packet_seconds(self, pts: int | None, time_base: Any) -> float:
        """Check a demuxed packet's time without decoding it."""
        if pts is None or time_base is None:
            return 0.0
        when = float(pts * time_base) - self.start
        if when > self.max_time:
            raise MediaRejected("too_long", "the stream runs longer than the limit")
        return max(0.0, when)


def frames(opened: Opened, skip: str = "DEFAULT") -> Iterator[VideoFrame]:
    """Decoded frames of the video stream; libav failures become typed errors."""
    opened.video.codec_context.skip_frame = skip  # type: ignore[assignment]
    try:
        yield from opened.container.decode(opened.video)
    except MediaError:
        raise
    except Exception as exc:
        raise decode_error(exc) from None


class Scaler:
    """Scales decoded frames with swscale, reusing one scaling context for a whole clip.

    (A fresh context per frame costs more than the scaling: about 2 ms at 720p.)
    """

    def __init__(self, rotation: int) -> None:
        self.rotation = rotation
        self._reformatter = VideoReformatter()

    def small(self, frame: VideoFrame, size: tuple[int, int], colour: bool) -> np.ndarray:
        """The frame at ``size`` (display orientation), grey (full range) or RGB."""
        rotation = self.rotation
        width, height = size if rotation in (0, 180) else (size[1], size[0])
        pixels: np.ndarray = self._reformatter.reformat(
            frame,
            width=width,
            height=height,
            format="rgb24" if colour else "gray",
            interpolation="AREA",
        ).to_ndarray()
        if rotation:
            pixels = np.ascontiguousarray(np.rot90(pixels, k=-(rotation // 90)))
        return pixels

    def yuv420p(self, frame: VideoFrame, size: tuple[int, int]) -> VideoFrame:
        """The frame at ``size`` as yuv420p for an encoder (unrotated sources only)."""
        return self._reformatter.reformat(
            frame, width=size[0], height=size[1], format="yuv420p", interpolation="AREA"
        )


def decode_error(exc: BaseException) -> MediaError:
    """A typed error for a libav failure."""
    if isinstance(exc, MemoryError):
        return RenderFailed("out_of_memory", "ran out of memory while decoding")
    if isinstance(exc, EOFError):
        return MediaRejected("truncated", "the file ends before the video does")
    if isinstance(exc, PermissionError):
        return MediaRejected("playlist", "the file refers to other files or URLs")
    if isinstance(exc, av.error.FFmpegError | ValueError | OSError):
        return MediaRejected("corrupt", f"the video cannot be decoded: {str(exc)[:200]}")
    return RenderFailed("internal", f"decoding failed: {type(exc).__name__}")
