"""Render video in a child process with wall-time and memory limits; never decode here.

The web process checks the headers itself (``probe_video``: pure Python, no libav),
then hands the bytes to ``python -m blur.video_worker`` on stdin and reads the rendition
from its stdout. The child gets a minimal environment (no secrets of the web process),
its own session (so a kill reaches its threads and anything it started), a capped
address space, and is killed at the deadline. Whatever happens in it, the caller gets a
rendition or a typed error: MediaRejected for the input, RenderFailed for the rest
(codes 'timeout', 'out_of_memory', 'crashed', 'internal').
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from .errors import MediaRejected, RenderFailed
from .rendition import Rendition
from .video_limits import DEFAULT_VIDEO_LIMITS, VideoLimits
from .video_probe import probe_video
from .video_rendition import VideoRendition
from .video_spec import STORYBOARD, video_spec

_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)
_HEADER_LIMIT = 64 * 1024
_KEEP_ENV = ("PATH", "LANG", "LC_ALL", "TMPDIR")


def render_video_isolated(
    kind: str, data: bytes, limits: VideoLimits = DEFAULT_VIDEO_LIMITS, **spec: Any
) -> Rendition | VideoRendition:
    """Render ``kind`` ('storyboard' or 'playback') of ``data`` in a limited child process.

    ``spec`` holds the keyword arguments of ``storyboard`` or ``playback``. Returns a
    JPEG ``Rendition`` for a storyboard and a ``VideoRendition`` for playback.
    """
    checked = video_spec(kind, **spec)  # a bad spec is the caller's bug: ValueError here
    probe_video(data, limits)  # cheap refusals without starting a process
    request = json.dumps(
        {"kind": kind, "spec": checked.__dict__, "limits": limits.as_dict()}, sort_keys=True
    )
    command = [sys.executable, "-s", "-m", "blur.video_worker", request]
    try:
        process = subprocess.Popen(  # noqa: S603 - our interpreter and module, our JSON
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=_PACKAGE_ROOT,
            env=_child_env(),
            start_new_session=True,
        )
    except OSError as exc:
        raise RenderFailed("internal", f"cannot start the video worker: {exc}") from None
    with process:  # on the way out: pipes closed and the child reaped
        try:
            out, _ = process.communicate(data, timeout=limits.render_timeout_seconds)
        except subprocess.TimeoutExpired:
            _kill(process)
            raise RenderFailed(
                "timeout", f"rendering took over {limits.render_timeout_seconds:g} s"
            ) from None
        except BaseException:
            _kill(process)
            raise
    return _result(kind, out, process.returncode)


def _child_env() -> dict[str, str]:
    env = {name: os.environ[name] for name in _KEEP_ENV if name in os.environ}
    env.update(
        PYTHONPATH=_PACKAGE_ROOT,
        PYTHONDONTWRITEBYTECODE="1",
        # One BLAS/OpenMP thread and two malloc arenas: each extra thread would reserve
        # address space that counts against the worker's RLIMIT_AS.
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        MALLOC_ARENA_MAX="2",
    )
    return env


def _kill(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # the worker's own session, by its id
    with contextlib.suppress(OSError, ValueError):
        process.communicate(timeout=10)  # reap it and close the pipes


def _result(kind: str, out: bytes, returncode: int) -> Rendition | VideoRendition:
    newline = out.find(b"\n", 0, _HEADER_LIMIT)
    if newline < 0:
        if returncode in (-signal.SIGKILL, -signal.SIGSEGV, -signal.SIGBUS, -signal.SIGABRT):
            # RLIMIT_AS makes allocations fail; code that does not check them crashes.
            raise RenderFailed(
                "crashed", f"the video worker died (signal {-returncode}), maybe out of memory"
            )
        if returncode == -signal.SIGXCPU:
            raise RenderFailed("timeout", "the video worker used up its CPU time")
        raise RenderFailed("crashed", f"the video worker exited with {returncode} and no reply")
    try:
        header = json.loads(out[:newline])
    except ValueError:
        raise RenderFailed("crashed", "the video worker's reply is garbled") from None
    payload = out[newline + 1 :]
    if not header.get("ok"):
        error = MediaRejected if header.get("error") == "rejected" else RenderFailed
        raise error(str(header.get("code", "internal")), str(header.get("reason", "")))
    if header.get("size") != len(payload):
        raise RenderFailed("crashed", "the video worker's reply is cut short")
    width, height = int(header["width"]), int(header["height"])
    if kind == STORYBOARD:
        if header.get("mime") != "image/jpeg" or not payload.startswith(b"\xff\xd8\xff"):
            raise RenderFailed("internal", "the storyboard is not a JPEG")
        return Rendition(payload, "image/jpeg", width, height, int(header["frames"]))
    if header.get("mime") != "video/mp4" or payload[4:8] != b"ftyp":
        raise RenderFailed("internal", "the playback rendition is not an MP4")
    return VideoRendition(
        data=payload,
        mime="video/mp4",
        width=width,
        height=height,
        duration_seconds=float(header["duration_seconds"]),
        has_audio=bool(header["has_audio"]),
    )
