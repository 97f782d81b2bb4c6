"""Video clips made in-process with PyAV for the video tests: motion, a face, sound.

Every clip is small (a few seconds at 360p or less) so the whole video suite stays fast.
"""

from __future__ import annotations

import io
import math
import struct
from dataclasses import dataclass
from fractions import Fraction

import av
import cv2
import numpy as np

SAMPLE_RATE = 48_000


@dataclass(frozen=True)
class Clip:
    width: int = 480
    height: int = 270
    seconds: float = 2.0
    fps: int = 30
    container: str = "mp4"  # 'mp4' | 'mov' | 'webm'
    codec: str = "libx264"
    audio: str | None = "aac"
    keyint: int = 30
    face: np.ndarray | None = None  # RGB picture drawn large into every frame
    rotation: int = 0
    audio_streams: int = 1
    live: bool = False  # WebM as browsers record it: unknown sizes, no duration, no cues


def make_clip(clip: Clip) -> bytes:
    """Encode a clip: a colour gradient that scrolls, a moving disc, optionally a face."""
    buffer = io.BytesIO()
    muxer = {"live": "1"} if clip.live else {}
    with av.open(buffer, mode="w", format=clip.container, options=muxer) as out:
        options = {"g": str(clip.keyint)}
        if clip.codec == "libx264":
            options.update(preset="ultrafast", crf="20")
        elif clip.codec.startswith("libvpx"):
            options.update(deadline="realtime", **{"cpu-used": "8"})
        video = out.add_stream(clip.codec, rate=clip.fps, options=options)
        video.width, video.height = clip.width, clip.height
        video.pix_fmt = "yuvj420p" if clip.codec == "mjpeg" else "yuv420p"
        if clip.rotation:
            video.set_display_rotation(clip.rotation)
        audios = []
        if clip.audio:
            for _ in range(clip.audio_streams):
                audios.append(out.add_stream(clip.audio, rate=SAMPLE_RATE, layout="stereo"))
        for index in range(round(clip.seconds * clip.fps)):
            frame = av.VideoFrame.from_ndarray(picture(clip, index), format="rgb24")
            frame.pts = index
            frame.time_base = Fraction(1, clip.fps)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        for stream in audios:
            _write_tone(out, stream, clip.seconds)
    return buffer.getvalue()


def picture(clip: Clip, index: int) -> np.ndarray:
    """Frame ``index`` of the clip as an RGB array."""
    height, width = clip.height, clip.width
    t = index / clip.fps
    ys, xs = np.mgrid[0:height, 0:width]
    image = np.empty((height, width, 3), np.uint8)
    image[..., 0] = (xs * 255 // width + index * 3) % 256
    image[..., 1] = ys * 255 // height
    image[..., 2] = 160
    centre = (int((0.5 + 0.4 * math.sin(t * 2)) * width), int((0.5 + 0.3 * math.cos(t)) * height))
    cv2.circle(image, centre, height // 8, (250, 210, 40), -1)
    if clip.face is not None:
        side = height * 9 // 10
        face = cv2.resize(clip.face, (side, side), interpolation=cv2.INTER_AREA)
        x = (width - side) // 2 + int(10 * math.sin(t))
        y = (height - side) // 2
        image[y : y + side, x : x + side] = face
    return image


def _write_tone(
    out: av.container.OutputContainer, stream: av.audio.stream.AudioStream, seconds: float
) -> None:
    samples = int(seconds * SAMPLE_RATE)
    chunk = 960
    for start in range(0, samples, chunk):
        t = np.arange(start, min(start + chunk, samples)) / SAMPLE_RATE
        wave = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(np.stack([wave, wave]), format="fltp", layout="stereo")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = start
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode(None):
        out.mux(packet)


def decoded_frames(data: bytes, every: int = 1) -> list[np.ndarray]:
    """RGB frames of a clip (every n-th), decoded by the test itself."""
    with av.open(io.BytesIO(data)) as container:
        return [
            frame.to_ndarray(format="rgb24")
            for index, frame in enumerate(container.decode(video=0))
            if index % every == 0
        ]


def top_level_boxes(data: bytes) -> list[bytes]:
    """Types of the top-level boxes of an MP4, in file order."""
    kinds = []
    pos = 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack_from(">I4s", data, pos)
        if size == 1:
            size = struct.unpack_from(">Q", data, pos + 8)[0]
        kinds.append(kind)
        if size < 8:
            break
        pos += size
    return kinds


def box_offsets(data: bytes, kind: bytes) -> list[int]:
    """Offsets of the type field of every box of ``kind`` anywhere in the file (a scan)."""
    found = []
    start = 0
    while (at := data.find(kind, start)) >= 0:
        found.append(at)
        start = at + 1
    return found
