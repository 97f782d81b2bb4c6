"""The isolated video worker: ``python -m blur.video_worker '<request json>'``.

Reads the untrusted bytes from stdin, renders one storyboard or playback rendition and
writes a one-line JSON header then the rendition's bytes to stdout. Its address space is
capped (RLIMIT_AS) before anything is decoded, and CPU time too, as a backstop to the
parent's wall-clock kill. Failures are reported in the header as typed errors; a crash
is seen by the parent as an exit without a header.
"""

from __future__ import annotations

import json
import math
import os
import resource
import sys
from typing import Any, BinaryIO

from .errors import MediaError, MediaRejected, RenderFailed
from .rendition import Rendition
from .video_limits import VideoLimits
from .video_rendition import VideoRendition
from .video_spec import PlaybackSpec, StoryboardSpec, video_spec

CPU_SECONDS_PER_WALL_SECOND = 4  # decoder and encoder threads share the cores
NEAR_MEMORY_LIMIT = 0.8


def main(argv: list[str]) -> int:
    out = _private_stdout()
    try:
        request = json.loads(argv[1])
        limits = VideoLimits(**request["limits"])
        spec = video_spec(request["kind"], **request["spec"])
    except (IndexError, KeyError, TypeError, ValueError) as exc:
        _reply(out, {"ok": False, "error": "failed", "code": "internal", "reason": str(exc)})
        return 2
    _limit_resources(limits)
    try:
        data = _read_input(sys.stdin.buffer, limits)
        header, payload = _render(data, spec, limits)
    except MediaError as exc:
        error = "rejected" if isinstance(exc, MediaRejected) else "failed"
        header, payload = {"ok": False, "error": error, "code": exc.code, "reason": exc.reason}, b""
        if exc.code in ("corrupt", "internal") and _near_memory_limit(limits):
            # libav reports a failed allocation as a generic error; at the cap it is memory
            header.update(error="failed", code="out_of_memory")
    except MemoryError:
        header = {"ok": False, "error": "failed", "code": "out_of_memory", "reason": "MemoryError"}
        payload = b""
    header["pid"] = os.getpid()
    _reply(out, header, payload)
    return 0


def _private_stdout() -> BinaryIO:
    """Keep stdout for the reply; anything a library prints to fd 1 goes to stderr."""
    fd = os.dup(1)
    os.dup2(2, 1)
    return os.fdopen(fd, "wb")


def _limit_resources(limits: VideoLimits) -> None:
    memory = limits.render_memory_bytes
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    cpu = math.ceil(limits.render_timeout_seconds * CPU_SECONDS_PER_WALL_SECOND) + 5
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _near_memory_limit(limits: VideoLimits) -> bool:
    """Whether the address space peaked close to its cap (so failures were likely memory)."""
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmPeak:"):
                    peak = int(line.split()[1]) * 1024
                    return peak >= NEAR_MEMORY_LIMIT * limits.render_memory_bytes
    except (OSError, ValueError, IndexError):
        pass
    return False


def _read_input(stream: BinaryIO, limits: VideoLimits) -> bytes:
    data = stream.read(limits.max_bytes + 1)
    if len(data) > limits.max_bytes:
        raise MediaRejected("too_large", f"more than {limits.max_bytes} bytes")
    return data


def _render(
    data: bytes, spec: StoryboardSpec | PlaybackSpec, limits: VideoLimits
) -> tuple[dict[str, Any], bytes]:
    from .video import playback, storyboard

    result: Rendition | VideoRendition
    if isinstance(spec, StoryboardSpec):
        result = storyboard(
            data, frames=spec.frames, level=spec.level, max_size=spec.max_size, limits=limits
        )
        header: dict[str, Any] = {"type": "storyboard", "frames": result.source_frames}
    else:
        result = playback(
            data, level=spec.level, audio=spec.audio, max_height=spec.max_height, limits=limits
        )
        header = {
            "type": "playback",
            "duration_seconds": result.duration_seconds,
            "has_audio": result.has_audio,
        }
    if result.data == data:  # cannot happen; a last fail-closed guard
        raise RenderFailed("internal", "the encoder returned the input")
    header.update(ok=True, mime=result.mime, width=result.width, height=result.height)
    header["size"] = len(result.data)
    return header, result.data


def _reply(out: BinaryIO, header: dict[str, Any], payload: bytes = b"") -> None:
    out.write(json.dumps(header).encode() + b"\n")
    out.write(payload)
    out.flush()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
