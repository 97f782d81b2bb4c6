"""Hostile video is normal input: each file here is refused with a typed error or rendered
within limits. The files are made by the tests: truncations, lies in the headers about
size and duration, playlists pointing at local files, refused codecs, junk WebM.
"""

from __future__ import annotations

import random
import struct

import pytest

from blur import (
    MediaError,
    MediaRejected,
    VideoLimits,
    playback,
    probe_video,
    render_video_isolated,
    storyboard,
)

from .video_clips import Clip, box_offsets, make_clip

SECRET = "/etc/hostname"


@pytest.fixture(scope="module")
def clip() -> bytes:
    return make_clip(Clip(seconds=1))


def _rejected(data: bytes, code: str, limits: VideoLimits | None = None) -> None:
    limits = limits or VideoLimits()
    with pytest.raises(MediaRejected) as caught:
        probe_video(data, limits)
    assert caught.value.code == code, caught.value.reason


def _patch(data: bytes, offset: int, fmt: str, *values: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, *values)
    return bytes(out)


def _video_entry(data: bytes) -> int:
    """Offset of the type of the first sample entry (the video track's: it comes first)."""
    return box_offsets(data, b"stsd")[0] + 16


def _declare_size(data: bytes, width: int, height: int) -> bytes:
    """Rewrite the sample entry's and the track header's frame size."""
    entry = _video_entry(data)
    data = _patch(data, entry + 28, ">HH", width, height)
    for tkhd in box_offsets(data, b"tkhd"):
        end = tkhd - 4 + struct.unpack_from(">I", data, tkhd - 4)[0]
        if struct.unpack_from(">I", data, end - 8)[0]:  # the video track
            data = _patch(data, end - 8, ">II", width << 16, height << 16)
    return data


def test_zero_length_and_truncated_files_are_refused(clip: bytes) -> None:
    _rejected(b"", "empty")
    _rejected(clip[: len(clip) // 2], "truncated")  # index at the end: cut off
    _rejected(clip[:-1], "truncated")
    faststart = playback(clip).data  # index first: the media data is cut
    _rejected(faststart[: len(faststart) * 2 // 3], "truncated")


def test_a_huge_declared_resolution_is_refused(clip: bytes) -> None:
    _rejected(_declare_size(clip, 65535, 65535), "too_many_pixels")
    _rejected(_declare_size(clip, 0, 0), "corrupt")


def test_a_size_hidden_from_the_headers_is_caught_by_the_worker() -> None:
    big = make_clip(Clip(width=960, height=540, seconds=1, audio=None))
    lying = _declare_size(big, 480, 270)
    limits = VideoLimits(max_width=640, max_height=360)
    assert probe_video(lying, limits).width == 480  # our header parse is fooled...
    with pytest.raises(MediaRejected) as caught:  # ...libav's reading of the stream is not
        render_video_isolated("storyboard", lying, limits)
    assert caught.value.code == "too_many_pixels"


def test_a_ten_hour_declared_duration_is_refused(clip: bytes) -> None:
    mvhd = box_offsets(clip, b"mvhd")[0]
    timescale = struct.unpack_from(">I", clip, mvhd + 16)[0]
    _rejected(_patch(clip, mvhd + 20, ">I", timescale * 36_000), "too_long")
    mdhd = box_offsets(clip, b"mdhd")[0]  # a track that claims it, too
    _rejected(_patch(clip, mdhd + 20, ">I", 0xFFFFFFF0), "too_long")
    _rejected(clip, "too_long", VideoLimits(max_seconds=0.5))


@pytest.mark.parametrize(
    "payload",
    [
        f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile://{SECRET}\n#EXT-X-ENDLIST\n",
        f"\ufeff  #EXTM3U\n#EXTINF:1,\n{SECRET}\n",
        f"ffconcat version 1.0\nfile '{SECRET}'\n",
        f"concat:{SECRET}|{SECRET}",
        "<?xml version='1.0'?><MPD><BaseURL>file:///etc/</BaseURL></MPD>",
    ],
)
def test_playlists_and_protocol_tricks_are_refused(payload: str) -> None:
    data = payload.encode()
    _rejected(data, "playlist")
    with pytest.raises(MediaRejected) as caught:
        render_video_isolated("playback", data)
    assert caught.value.code == "playlist"


def test_refused_codecs_and_forged_fourccs(clip: bytes) -> None:
    _rejected(make_clip(Clip(container="mov", codec="mjpeg", audio=None)), "unsupported_codec")
    entry = _video_entry(clip)
    assert clip[entry : entry + 4] == b"avc1"
    _rejected(clip[:entry] + b"FFV1" + clip[entry + 4 :], "unsupported_codec")
    audio_entry = box_offsets(clip, b"stsd")[1] + 16
    assert clip[audio_entry : audio_entry + 4] == b"mp4a"
    _rejected(clip[:audio_entry] + b"alac" + clip[audio_entry + 4 :], "unsupported_codec")


def test_non_video_iso_files_and_matroska_are_refused(clip: bytes) -> None:
    heif = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64
    _rejected(heif, "unsupported_format")
    webm = make_clip(Clip(container="webm", codec="libvpx", audio=None, seconds=1))
    _rejected(webm.replace(b"webm", b"mkvx", 1), "unsupported_format")


def test_caps_on_streams_and_frame_rate() -> None:
    three = make_clip(Clip(seconds=1, audio_streams=3))
    _rejected(three, "too_many_streams", VideoLimits(max_streams=3))
    fast = make_clip(Clip(seconds=1, fps=60, audio=None))
    _rejected(fast, "too_many_frames", VideoLimits(max_fps=30))


def test_webm_with_junk_is_refused_or_rendered_within_limits() -> None:
    webm = make_clip(Clip(container="webm", codec="libvpx", audio="libopus", seconds=1))
    header_only = webm[:40] + bytes(random.Random(5).randrange(256) for _ in range(4000))
    with pytest.raises(MediaRejected):
        probe_video(header_only)
    rng = random.Random(7)
    damaged = bytearray(webm)
    start = len(webm) // 3
    damaged[start : start + 3000] = bytes(rng.randrange(256) for _ in range(3000))
    _refused_or_safe(bytes(damaged))


def test_bit_flips_are_refused_or_rendered_within_limits(clip: bytes) -> None:
    for seed in range(8):
        rng = random.Random(seed)
        damaged = bytearray(clip)
        for _ in range(20):
            damaged[rng.randrange(len(damaged))] ^= 1 << rng.randrange(8)
        _refused_or_safe(bytes(damaged))


def _refused_or_safe(data: bytes) -> None:
    try:
        board = storyboard(data, frames=4, max_size=320)
    except MediaError:
        return
    assert board.data.startswith(b"\xff\xd8\xff") and max(board.width, board.height) <= 320
