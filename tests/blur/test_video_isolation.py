"""The web process never decodes video: a child process does, within time and memory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from blur import RenderFailed, Rendition, VideoLimits, VideoRendition, render_video_isolated
from blur.video_isolation import _result

from .video_clips import Clip, make_clip

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def clip() -> bytes:
    return make_clip(Clip(width=640, height=360, seconds=3))


def _children() -> list[int]:
    """Live (not zombie) processes whose parent is this one."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == os.getpid() and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def test_the_calling_process_never_loads_a_decoder(clip: bytes, tmp_path) -> None:
    source = tmp_path / "clip.mp4"
    source.write_bytes(clip)
    code = textwrap.dedent(
        f"""
        import os, sys
        import blur
        data = open({str(source)!r}, "rb").read()
        board = blur.render_video_isolated("storyboard", data, frames=4)
        movie = blur.render_video_isolated("playback", data)
        info = blur.probe_video(data)
        decoders = [m for m in ("av", "blur.video_decode") if m in sys.modules]
        print(board.source_frames, movie.width, movie.height, info.width, decoders)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    )
    assert out.stdout.split() == ["4", "640", "360", "640", "[]"]


def test_isolated_renders_match_the_promised_types(clip: bytes) -> None:
    board = render_video_isolated("storyboard", clip, frames=4, level=2)
    assert isinstance(board, Rendition) and board.source_frames == 4
    assert board.data.startswith(b"\xff\xd8\xff")
    movie = render_video_isolated("playback", clip, VideoLimits(), audio=True, max_height=180)
    assert isinstance(movie, VideoRendition)
    assert (movie.width, movie.height, movie.has_audio) == (320, 180, True)
    with pytest.raises(ValueError):
        render_video_isolated("playback", clip, level=7)


def test_a_render_past_its_deadline_is_killed(clip: bytes) -> None:
    limits = VideoLimits(render_timeout_seconds=0.3)
    with pytest.raises(RenderFailed) as caught:
        render_video_isolated("playback", clip, limits, level=4, max_height=360)
    assert caught.value.code == "timeout"
    assert _children() == []  # killed and reaped, nothing left running


def test_a_render_over_its_memory_limit_fails_typed(clip: bytes) -> None:
    limits = VideoLimits(render_memory_bytes=300 * 1024 * 1024)
    with pytest.raises(RenderFailed) as caught:
        render_video_isolated("playback", clip, limits)
    assert caught.value.code == "out_of_memory"
    assert _children() == []


@pytest.mark.parametrize(
    ("out", "returncode"),
    [
        (b"", -signal.SIGSEGV),
        (b"", 1),
        (b'{"ok": true, "size": 99, "mime": "video/mp4"', -signal.SIGABRT),
        (b'{"ok": true, "size": 99, "mime": "video/mp4", "width": 2, "height": 2}\nshort', 0),
    ],
)
def test_a_crashed_or_garbled_worker_gives_a_typed_failure(out: bytes, returncode: int) -> None:
    with pytest.raises(RenderFailed) as caught:
        _result("playback", out, returncode)
    assert caught.value.code == "crashed"
