"""A silent storyboard: a grid of safe-looking keyframes spread over the clip, with times.

Cheap by construction: one demux pass indexes the keyframes without decoding; only
keyframes are decoded (``skip_frame='NONKEY'``), each straight to the few dozen pixels
the blurred look needs; the clip is cut into equal spans and each tile shows the span's
keyframe that differs most from the keyframe before it (a scene change), or the span's
only one. Spans with no keyframe (long GOPs) are filled in one forward walk that seeks
ahead to the last keyframe before each span's middle and decodes reference frames only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from av.video.frame import VideoFrame
from PIL import Image, ImageDraw, ImageFont

from .encode import BLURRED_QUALITY, SHARP_QUALITY, encode_jpeg
from .look import apply, decode_target
from .rendition import Rendition
from .spec import GRAY, ORIGINAL, Spec
from .video_decode import FrameGuard, Opened, Scaler, frames, open_checked, skip_deblocking
from .video_limits import VideoLimits
from .video_spec import StoryboardSpec

GAP = 4  # pixels between tiles
BACKGROUND = 40
CANDIDATES_PER_TILE = 4  # keyframes decoded per tile at most, to choose scene changes from
SEQUENTIAL_BELOW = 4  # decode keyframes in one pass if at most this many per candidate
_THUMB = (16, 9)  # size at which keyframes are compared for scene changes


@dataclass
class _Shot:
    seconds: float
    pixels: np.ndarray  # at the decode target, display orientation
    change: float = 0.0  # mean absolute difference from the previous keyframe


def render_storyboard(data: bytes, spec: StoryboardSpec, limits: VideoLimits) -> Rendition:
    """The storyboard JPEG of ``spec`` from untrusted ``data`` (decodes in this process)."""
    with open_checked(data, limits) as opened:
        info = opened.info
        cols, rows, tile = grid_layout(info.width, info.height, spec.frames, spec.max_size)
        look = Spec(spec.level)
        reader = _Reader(opened, limits, decode_target(tile, look), spec.level == ORIGINAL)
        if spec.level < GRAY:
            skip_deblocking(opened)
        keys = reader.keyframe_times()
        duration = max(info.duration_seconds, keys[-1] if keys else 0.0, 1e-3)
        shots = reader.keyframes(keys, spec.frames * CANDIDATES_PER_TILE)
        chosen = _choose(shots, spec.frames, duration)
        span = duration / spec.frames
        missing = {(i + 0.5) * span: i for i, shot in enumerate(chosen) if shot is None}
        for when, shot in reader.frames_at(sorted(missing), keys).items():
            chosen[missing[when]] = shot
    tiles = [(shot.seconds, apply(shot.pixels, tile, look)) for shot in chosen if shot is not None]
    sheet = _sheet(tiles, cols, rows, tile, reader.colour)
    quality = SHARP_QUALITY if spec.level >= GRAY else BLURRED_QUALITY
    return Rendition(
        encode_jpeg(sheet, quality), "image/jpeg", sheet.shape[1], sheet.shape[0], len(tiles)
    )


def grid_layout(
    width: int, height: int, count: int, max_size: int
) -> tuple[int, int, tuple[int, int]]:
    """(columns, rows, tile size) of a near-square grid fitting ``max_size``; no upscale."""
    cols = math.ceil(math.sqrt(count))
    if height > width:  # portrait tiles: a wider grid keeps the sheet near square
        cols = min(count, math.ceil(math.sqrt(count * height / width)))
    rows = math.ceil(count / cols)
    sheet_w, sheet_h = cols * width, rows * height
    scale = min(1.0, (max_size - GAP * (max(cols, rows) + 1)) / max(sheet_w, sheet_h))
    tile = (max(2, int(width * scale)), max(2, int(height * scale)))
    return cols, rows, tile


class _Reader:
    """Decodes chosen frames of one clip straight to the tile's decode target."""

    def __init__(
        self, opened: Opened, limits: VideoLimits, target: tuple[int, int], colour: bool
    ) -> None:
        self.opened = opened
        self.limits = limits
        self.target = target
        self.colour = colour
        self.scaler = Scaler(opened.info.rotation)

    def keyframe_times(self) -> list[float]:
        """Seconds of every video keyframe, from one demux pass without decoding."""
        guard = FrameGuard(self.opened, self.limits)
        times = []
        for packet in self.opened.container.demux(self.opened.video):
            if packet.size and packet.is_keyframe:
                times.append(guard.packet_seconds(packet.pts, packet.time_base))
        return sorted(times)

    def keyframes(self, keys: list[float], wanted: int) -> list[_Shot]:
        """Up to ``wanted`` keyframes spread over the clip, scored for scene changes."""
        guard = FrameGuard(self.opened, self.limits)
        shots: list[_Shot] = []
        if len(keys) <= wanted * SEQUENTIAL_BELOW:
            keep = _spread(keys, wanted)
            self._seek(0.0)
            for frame in frames(self.opened, "NONKEY"):
                when = guard.seconds(frame)
                if _near(when, keep):
                    shots.append(self._shot(when, frame))
        else:  # very many keyframes (intra-only video): seek to each candidate instead
            for when in _spread(keys, wanted):
                self._seek(when)
                for frame in frames(self.opened, "NONKEY"):
                    shots.append(self._shot(guard.seconds(frame), frame))
                    break
        shots.sort(key=lambda s: s.seconds)
        _score_changes(shots)
        return shots

    def frames_at(self, targets: list[float], keys: list[float]) -> dict[float, _Shot]:
        """The first frame at or after each target time (sorted), in one forward walk.

        The walk seeks ahead to the last keyframe before a target rather than decoding
        up to it, and skips non-reference frames; the clip's last frame stands in for
        targets past its end.
        """
        guard = FrameGuard(self.opened, self.limits)
        found: dict[float, _Shot] = {}
        position = math.inf  # nothing decoded yet
        pending = list(targets)
        while pending:
            target = pending[0]
            start = max((k for k in keys if k <= target), default=0.0)
            if position > target or start > position:
                self._seek(target)
            last: tuple[float, VideoFrame] | None = None
            for frame in frames(self.opened, "NONREF"):
                position = guard.seconds(frame)
                last = (position, frame)
                while pending and position + 1e-3 >= pending[0]:
                    found[pending.pop(0)] = self._shot(position, frame)
                if not pending:
                    break
                upcoming = max((k for k in keys if k <= pending[0]), default=0.0)
                if upcoming > position + 1e-3:
                    break  # a keyframe nearer the next target: seek there instead
            else:  # the clip ended: its last frame stands in for the remaining targets
                for when in pending:
                    if last is not None:
                        found[when] = self._shot(*last)
                break
        return found

    def _seek(self, when: float) -> None:
        stream = self.opened.video
        base = stream.time_base
        pts = 0 if base is None else int((when + self.opened.start) / base)
        self.opened.container.seek(pts, stream=stream, backward=True, any_frame=False)

    def _shot(self, when: float, frame: VideoFrame) -> _Shot:
        return _Shot(when, self.scaler.small(frame, self.target, self.colour))


def _spread(keys: list[float], wanted: int) -> list[float]:
    """At most ``wanted`` of the sorted times, evenly spread; all of them if few."""
    if len(keys) <= wanted:
        return list(keys)
    step = len(keys) / wanted
    return [keys[int(i * step)] for i in range(wanted)]


def _near(when: float, times: list[float]) -> bool:
    return any(abs(when - t) < 1e-3 for t in times)


def _score_changes(shots: list[_Shot]) -> None:
    previous: np.ndarray | None = None
    for shot in shots:
        thumb = _thumb(shot.pixels)
        shot.change = 255.0 if previous is None else float(np.abs(thumb - previous).mean())
        previous = thumb


def _thumb(pixels: np.ndarray) -> np.ndarray:
    grey = pixels if pixels.ndim == 2 else pixels.mean(axis=2)
    image = Image.fromarray(np.asarray(grey, dtype=np.uint8)).resize(_THUMB, Image.Resampling.BOX)
    return np.asarray(image, dtype=np.float32)


def _choose(shots: list[_Shot], count: int, duration: float) -> list[_Shot | None]:
    """Per equal span of the clip, its keyframe most unlike the one before; None if none."""
    chosen: list[_Shot | None] = []
    span = duration / count
    for index in range(count):
        low, high = index * span, (index + 1) * span
        inside = [
            s for s in shots if low <= s.seconds < high or (index == count - 1 and s.seconds >= low)
        ]
        chosen.append(max(inside, key=lambda s: s.change) if inside else None)
    return chosen


def _sheet(
    tiles: list[tuple[float, np.ndarray]], cols: int, rows: int, tile: tuple[int, int], colour: bool
) -> np.ndarray:
    """Lay the tiles out in a grid and draw each one's time in its corner."""
    width = cols * tile[0] + (cols + 1) * GAP
    height = rows * tile[1] + (rows + 1) * GAP
    sheet = Image.new(
        "RGB" if colour else "L", (width, height), (BACKGROUND,) * 3 if colour else BACKGROUND
    )
    draw = ImageDraw.Draw(sheet)
    font = _font(max(9, tile[1] // 9))
    for index, (seconds, pixels) in enumerate(tiles):
        x = GAP + (index % cols) * (tile[0] + GAP)
        y = GAP + (index // cols) * (tile[1] + GAP)
        sheet.paste(Image.fromarray(pixels), (x, y))
        label = timestamp(seconds)
        left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
        pad = max(2, (bottom - top) // 4)
        box = (x, y + tile[1] - (bottom - top) - 2 * pad, x + (right - left) + 2 * pad, y + tile[1])
        draw.rectangle(box, fill=(0, 0, 0) if colour else 0)
        draw.text(
            (box[0] + pad - left, box[1] + pad - top),
            label,
            fill=(235,) * 3 if colour else 235,
            font=font,
        )
    return np.asarray(sheet)


def timestamp(seconds: float) -> str:
    """'m:ss.s' (or 'h:mm:ss' past an hour) for a tile label."""
    tenths = round(seconds * 10)
    minutes, rest = divmod(tenths, 600)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{rest // 10:02d}"
    return f"{minutes}:{rest // 10:02d}.{rest % 10}"


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (ImportError, OSError):  # Pillow built without FreeType: bitmap font
        return ImageFont.load_default()
