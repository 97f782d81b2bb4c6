"""A browser-playable rendition: H.264 yuv420p in MP4 with the index first, muted by default.

Each frame goes from the decoder straight to the few pixels the look needs (swscale),
gets the same look as an image of the same level (``blur.look``), and is encoded small
with libx264. Levels 1-3 are grey: the chroma planes are constant, so nothing of the
source's colour survives. Audio is copied in (re-encoded as AAC) only when asked.
"""

from __future__ import annotations

import contextlib
import os
import queue
import tempfile
import threading
from fractions import Fraction

import av
import cv2
import numpy as np
from av.audio.stream import AudioStream
from av.container import OutputContainer
from av.frame import Frame
from av.packet import Packet
from av.stream import Stream
from av.video.frame import VideoFrame

from .errors import MediaError, RenderFailed
from .look import apply, decode_target
from .spec import GRAY, ORIGINAL, Spec
from .video_decode import (
    FrameGuard,
    Opened,
    Scaler,
    decode_error,
    open_checked,
    skip_deblocking,
)
from .video_limits import VideoLimits
from .video_rendition import VideoRendition
from .video_spec import PlaybackSpec

MAX_FPS = 30  # more frames add nothing to a blurred preview; faster sources are thinned
KEYFRAME_SECONDS = 2  # seek granularity in the browser
# Blurred frames have no detail to keep; sharp levels get a better rate factor.
BLURRED_CRF, SHARP_CRF = 30, 24
BLURRED_PRESET, SHARP_PRESET = "ultrafast", "veryfast"  # sharp: a third the bytes
ENCODER_THREADS = 2  # fixed, so the bytes do not depend on the machine's core count
AUDIO_RATE = 48_000
QUEUE_FRAMES = 8  # frames between the decoding and the encoding thread
# Studio-range luma for H.264 (16-235) from full-range grey (0-255).
_TV_RANGE = np.round(16 + np.arange(256) * (219 / 255)).astype(np.uint8)


def output_size(width: int, height: int, max_height: int) -> tuple[int, int]:
    """Even (width, height) with height at most ``max_height`` and never upscaled."""
    scale = min(1.0, max_height / height)
    out_w = max(2, int(width * scale) // 2 * 2)
    out_h = max(2, int(height * scale) // 2 * 2)
    return out_w, out_h


def output_rate(fps: float) -> Fraction:
    """Frame rate of the rendition: the source's, capped at MAX_FPS."""
    if fps <= 0:
        return Fraction(MAX_FPS)
    return min(Fraction(fps).limit_denominator(1001), Fraction(MAX_FPS))


def render_playback(data: bytes, spec: PlaybackSpec, limits: VideoLimits) -> VideoRendition:
    """The playback MP4 of ``spec`` from untrusted ``data`` (decodes in this process)."""
    with open_checked(data, limits) as opened:
        info = opened.info
        size = output_size(info.width, info.height, spec.max_height)
        rate = output_rate(info.fps)
        audio_streams = opened.container.streams.audio
        audio_in = audio_streams[0] if spec.audio and audio_streams else None
        # +faststart rewrites the file to put the index first, which libav does by
        # reopening it by name: so the output (never the input) goes through a private
        # temporary file.
        with tempfile.TemporaryDirectory(prefix="blur-video-") as folder:
            path = os.path.join(folder, "rendition.mp4")
            duration = _transcode(opened, spec, limits, size, rate, audio_in, path)
            with open(path, "rb") as handle:
                encoded = handle.read()
    return VideoRendition(
        data=encoded,
        mime="video/mp4",
        width=size[0],
        height=size[1],
        duration_seconds=round(duration, 3),
        has_audio=audio_in is not None,
    )


def _transcode(
    opened: Opened,
    spec: PlaybackSpec,
    limits: VideoLimits,
    size: tuple[int, int],
    rate: Fraction,
    audio_in: AudioStream | None,
    path: str,
) -> float:
    look = Spec(spec.level)
    colour = spec.level == ORIGINAL
    target = decode_target(size, look)
    guard = FrameGuard(opened, limits)
    scaler = Scaler(opened.info.rotation)
    if spec.level < GRAY:
        skip_deblocking(opened)
    direct = colour and opened.info.rotation == 0  # colour straight to yuv420p
    crf = SHARP_CRF if spec.level >= GRAY else BLURRED_CRF
    with av.open(path, mode="w", format="mp4", options={"movflags": "+faststart"}) as out:
        video_out = out.add_stream(
            "libx264",
            rate=rate,
            options={
                "preset": SHARP_PRESET if spec.level >= GRAY else BLURRED_PRESET,
                "crf": str(crf),
                "g": str(max(1, round(rate * KEYFRAME_SECONDS))),
                "threads": str(ENCODER_THREADS),
            },
        )
        video_out.width, video_out.height = size
        video_out.pix_fmt = "yuv420p"
        frame_time = Fraction(1, 1) / rate
        video_out.codec_context.time_base = frame_time
        audio_out = None
        if audio_in is not None:
            audio_out = out.add_stream("aac", rate=AUDIO_RATE, layout="stereo")
        planes = np.full((size[1] * 3 // 2, size[0]), 128, np.uint8)  # chroma stays neutral
        last_slot = -1
        end = 0.0
        streams = [opened.video] if audio_in is None else [opened.video, audio_in]
        with _Encoder(out) as encoder:
            for packet in opened.container.demux(streams):
                if packet.stream is audio_in:
                    assert audio_out is not None
                    guard.packet_seconds(packet.pts, packet.time_base)
                    for audio_frame in _decoded(packet):
                        audio_frame.pts = None  # let the encoder count samples from zero
                        encoder.put(audio_out, audio_frame)
                    continue
                for frame in _decoded(packet):
                    assert isinstance(frame, VideoFrame)
                    when = guard.seconds(frame)
                    slot = round(when * rate)
                    if slot <= last_slot:  # thinning a faster source, or a repeated timestamp
                        continue
                    last_slot = slot
                    end = max(end, float((slot + 1) / rate))
                    if direct:
                        result = scaler.yuv420p(frame, size)
                    else:
                        pixels = apply(scaler.small(frame, target, colour), size, look)
                        result = _frame(pixels, planes, colour)
                    result.pts, result.time_base = slot, frame_time
                    encoder.put(video_out, result)
            encoder.put(video_out, None)
            if audio_out is not None:
                encoder.put(audio_out, None)
    return end


class _Encoder:
    """Encodes and muxes on a thread of its own, so decoding and encoding overlap.

    libav releases the GIL while it codes. Frames are encoded in the order they are put,
    so the output does not depend on timing. A failure on either side stops both.
    """

    def __init__(self, out: OutputContainer) -> None:
        self.out = out
        self.queue: queue.Queue[tuple[Stream, Frame | None] | None] = queue.Queue(QUEUE_FRAMES)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="blur-video-encoder", daemon=True)

    def __enter__(self) -> _Encoder:
        self.thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if kind is not None:  # the decoding side failed: drop what is queued, then stop
            with contextlib.suppress(queue.Empty):
                while True:
                    self.queue.get_nowait()
        self.queue.put(None)
        self.thread.join()
        if kind is None and self.error is not None:
            raise self.error

    def put(self, stream: Stream, frame: Frame | None) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put((stream, frame))

    def _run(self) -> None:
        while (item := self.queue.get()) is not None:
            if self.error is None:
                try:
                    _encode(self.out, *item)
                except BaseException as exc:  # handed to the decoding thread
                    self.error = exc


def _decoded(packet: Packet) -> list[Frame]:
    """Frames of a demuxed packet; a decoder failure is the input's fault."""
    try:
        return list(packet.decode())
    except MediaError:
        raise
    except Exception as exc:
        raise decode_error(exc) from None


def _encode(out: OutputContainer, stream: Stream, frame: Frame | None) -> None:
    """Encode and mux; a failure here is ours (or the memory limit's), never the input's."""
    try:
        for packet in stream.encode(frame):  # type: ignore[attr-defined]
            out.mux(packet)
    except MemoryError:
        raise RenderFailed("out_of_memory", "ran out of memory while encoding") from None
    except Exception as exc:
        raise RenderFailed("internal", f"encoding failed: {str(exc)[:200]}") from None


def _frame(pixels: np.ndarray, planes: np.ndarray, colour: bool) -> VideoFrame:
    """A yuv420p frame: grey pixels become studio-range luma over neutral chroma."""
    if colour:
        return VideoFrame.from_ndarray(pixels, format="rgb24").reformat(format="yuv420p")
    height = pixels.shape[0]
    planes[:height] = cv2.LUT(pixels, _TV_RANGE)
    return VideoFrame.from_ndarray(planes, format="yuv420p")
