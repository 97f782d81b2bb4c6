"""Frame counting for animated containers by walking headers, never decoding pixels.

Each walker stops as soon as the count passes the cap, so a file with millions of
frames costs no more than one with ``cap + 1``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_FULL_BLOCK = 256  # a length byte of 255 plus its 255 bytes
_WINDOW = 4096  # full blocks examined per vectorised step


@dataclass(frozen=True)
class Layout:
    frames: int  # counted up to cap + 1
    canvas_width: int  # including any frame that extends past the declared screen
    canvas_height: int
    largest_frame_pixels: int


def gif_layout(data: bytes, cap: int) -> Layout:
    """Walk GIF blocks: count image descriptors and measure the composited canvas."""
    view = memoryview(data)
    size = len(view)
    if size < 13:
        return Layout(0, 0, 0, 0)
    array = np.frombuffer(data, dtype=np.uint8)
    width = int.from_bytes(view[6:8], "little")
    height = int.from_bytes(view[8:10], "little")
    flags = view[10]
    pos = 13
    if flags & 0x80:
        pos += 3 << ((flags & 7) + 1)
    frames = largest = 0
    while pos < size and frames <= cap:
        marker = view[pos]
        if marker == 0x3B:  # trailer
            break
        if marker == 0x21:  # extension: label, then data sub-blocks
            pos = _skip_sub_blocks(view, array, pos + 2)
        elif marker == 0x2C:  # image descriptor
            if pos + 10 > size:
                break
            left = int.from_bytes(view[pos + 1 : pos + 3], "little")
            top = int.from_bytes(view[pos + 3 : pos + 5], "little")
            fw = int.from_bytes(view[pos + 5 : pos + 7], "little")
            fh = int.from_bytes(view[pos + 7 : pos + 9], "little")
            local = view[pos + 9]
            pos += 10
            if local & 0x80:
                pos += 3 << ((local & 7) + 1)
            pos = _skip_sub_blocks(view, array, pos + 1)  # skip the LZW code size, then data
            frames += 1
            width = max(width, left + fw)
            height = max(height, top + fh)
            largest = max(largest, fw * fh)
        else:  # Pillow skips stray bytes one at a time; count the same way it reads
            pos += 1
    return Layout(frames, width, height, largest)


def _skip_sub_blocks(view: memoryview, array: np.ndarray, pos: int) -> int:
    """Position after a chain of data sub-blocks (length byte, data; ends with 0)."""
    size = len(view)
    while pos < size:
        length = view[pos]
        if length == 255:  # encoders write runs of full blocks: hop over them in C
            lengths = array[pos : pos + _FULL_BLOCK * _WINDOW : _FULL_BLOCK]
            short = np.flatnonzero(lengths != 255)
            pos += _FULL_BLOCK * (int(short[0]) if short.size else len(lengths))
            continue
        pos += 1 + length
        if length == 0:
            break
    return pos


def webp_layout(data: bytes, cap: int) -> Layout:
    """Walk RIFF chunks of a WebP: count ANMF frames and read the canvas size."""
    view = memoryview(data)
    size = min(len(view), 8 + int.from_bytes(view[4:8], "little"))
    pos = 12
    frames = width = height = largest = 0
    stills = 0
    while pos + 8 <= size and frames <= cap:
        fourcc = bytes(view[pos : pos + 4])
        length = int.from_bytes(view[pos + 4 : pos + 8], "little")
        body = pos + 8
        if fourcc == b"VP8X" and body + 10 <= size:
            width = 1 + int.from_bytes(view[body + 4 : body + 7], "little")
            height = 1 + int.from_bytes(view[body + 7 : body + 10], "little")
        elif fourcc == b"ANMF" and body + 12 <= size:
            x = 2 * int.from_bytes(view[body : body + 3], "little")
            y = 2 * int.from_bytes(view[body + 3 : body + 6], "little")
            fw = 1 + int.from_bytes(view[body + 6 : body + 9], "little")
            fh = 1 + int.from_bytes(view[body + 9 : body + 12], "little")
            frames += 1
            width = max(width, x + fw)
            height = max(height, y + fh)
            largest = max(largest, fw * fh)
        elif fourcc in (b"VP8 ", b"VP8L"):
            stills += 1
        pos = body + length + (length & 1)
    if frames == 0 and stills:
        frames = 1
    return Layout(frames, width, height, largest)


def jpeg_scans(data: bytes) -> int:
    """Number of start-of-scan markers (entropy-coded data never contains FF DA)."""
    return data.count(b"\xff\xda")
