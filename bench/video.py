"""Benchmark: video storyboards and playback renditions against decode-only and ffmpeg.

Run: .venv/bin/python bench/video.py   (makes bench/corpus/video/, finds or installs ffmpeg)

For 20 s clips at 720p and 1080p (30 fps, motion, a drawn face, AAC sound), the median
wall time and CPU time over interleaved rounds of:
  floor             PyAV decode of every video frame (thread_type AUTO), nothing else
  ffmpeg decode     ffmpeg -i clip -map 0:v -f null -   (the CLI's own floor)
  storyboard        blur.storyboard(data): 9 safe tiles (in this process)
  storyboard iso    blur.render_video_isolated('storyboard', ...): in a worker process
  ffmpeg storyboard -skip_frame nokey, scale, boxblur, format=gray, tile=3x3, one JPEG
  playback          blur.playback(data): level-1 muted MP4 at 360p (in this process)
  playback iso      blur.render_video_isolated('playback', ...): in a worker process
  ffmpeg playback   scale=-2:360, boxblur (same sigma as ours), format=gray, libx264
                    ultrafast CRF 30, +faststart, no audio
and x-realtime and ratios. Targets (2 cores, 720p): storyboard < 1 s; playback >= 5x
realtime, <= 1.6x the floor and no slower than the ffmpeg peer.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import _video_clips  # noqa: E402
import _video_ffmpeg  # noqa: E402
import av  # noqa: E402

import blur  # noqa: E402
from blur.look import SAFE_SIGMA  # noqa: E402

# boxblur applied twice (power 2) of radius r has a sigma of about 0.816 r.
BOX_POWER = 2
BOX_SIGMA_PER_RADIUS = 0.816


def cpu_seconds() -> float:
    """User + system CPU of this process and its waited-for children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def decode_only(data: bytes) -> int:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        return sum(1 for _ in container.decode(stream))


def run(command: list[str]) -> None:
    subprocess.run(command, check=True, stdin=subprocess.DEVNULL)


def ffmpeg_actions(binary: str, clip: Path, out: Path) -> dict[str, Callable[[], object]]:
    width, height = _video_clips.SIZES[clip.name.split("-")[1]]
    tile_w = 1280 // 3 // 2 * 2
    play_h = 360
    play_w = round(width * play_h / height) // 2 * 2
    play_r = round(SAFE_SIGMA * max(play_w, play_h) / BOX_SIGMA_PER_RADIUS)
    tile_r = round(SAFE_SIGMA * tile_w / BOX_SIGMA_PER_RADIUS)
    base = [binary, "-v", "error", "-nostdin", "-y"]
    return {
        "ffmpeg decode": lambda: run([*base, "-i", str(clip), "-map", "0:v", "-f", "null", "-"]),
        "ffmpeg storyboard": lambda: run(
            [
                *base,
                "-skip_frame",
                "nokey",
                "-i",
                str(clip),
                "-vf",
                f"scale={tile_w}:-2,boxblur=lr={min(tile_r, 60)}:lp={BOX_POWER}:cr=0,"
                "format=gray,tile=3x3",
                "-fps_mode",
                "vfr",
                "-frames:v",
                "1",
                str(out / "board.jpg"),
            ]
        ),
        "ffmpeg playback": lambda: run(
            [
                *base,
                "-i",
                str(clip),
                "-an",
                "-vf",
                f"scale={play_w}:{play_h},boxblur=lr={min(play_r, play_h // 2)}:lp={BOX_POWER}"
                ":cr=0,format=gray,format=yuv420p",
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-crf",
                "30",
                "-movflags",
                "+faststart",
                str(out / "play.mp4"),
            ]
        ),
    }


def measure(
    actions: dict[str, Callable[[], object]], rounds: int
) -> dict[str, list[tuple[float, float]]]:
    """(wall, cpu) seconds of each action per round, interleaved round by round."""
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in actions}
    for action in actions.values():
        action()  # warm up: caches, lazy imports, first worker
    for _ in range(rounds):
        for name, action in actions.items():
            cpu = cpu_seconds()
            start = time.perf_counter()
            action()
            times[name].append((time.perf_counter() - start, cpu_seconds() - cpu))
    return times


def report(
    name: str, seconds: float, times: dict[str, list[tuple[float, float]]]
) -> dict[str, float]:
    wall = {k: statistics.median(w for w, _ in v) for k, v in times.items()}
    cpu = {k: statistics.median(c for _, c in v) for k, v in times.items()}

    def ratio(a: str, b: str) -> float:  # median of per-round ratios: load hits both sides
        return statistics.median(x[0] / y[0] for x, y in zip(times[a], times[b], strict=True))

    print(f"\n## {name} ({seconds:.0f} s clip)\n")
    print("| action | wall s | cpu s | x realtime | / floor | / ffmpeg peer |")
    print("|---|---|---|---|---|---|")
    peers = {
        "floor": "ffmpeg decode",
        "storyboard": "ffmpeg storyboard",
        "storyboard iso": "ffmpeg storyboard",
        "playback": "ffmpeg playback",
        "playback iso": "ffmpeg playback",
    }
    for action in times:
        peer = peers.get(action)
        versus = f"{ratio(action, peer):.2f}" if peer in times else ""
        print(
            f"| {action} | {wall[action]:.2f} | {cpu[action]:.2f} | "
            f"{seconds / wall[action]:.1f}x | {ratio(action, 'floor'):.2f} | {versus} |"
        )
    return {
        "storyboard": wall["storyboard"],
        "storyboard iso": wall["storyboard iso"],
        "realtime": seconds / wall["playback"],
        "floor": ratio("playback", "floor"),
        "peer": ratio("playback", "ffmpeg playback") if "ffmpeg playback" in times else 0.0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", default="720p,1080p")
    parser.add_argument("--no-ffmpeg", action="store_true", help="skip the ffmpeg peer")
    args = parser.parse_args()
    binary = None if args.no_ffmpeg else _video_ffmpeg.ffmpeg()
    print(
        f"PyAV {av.__version__}, libavcodec {av.library_versions['libavcodec']}, "
        f"{os.cpu_count()} CPUs"
    )
    if binary:
        print(f"peer: {_video_ffmpeg.version(binary)}")
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-video-") as folder:
        for size in args.sizes.split(","):
            clip = _video_clips.clip_path(size)
            data = clip.read_bytes()
            info = blur.probe_video(data)
            actions: dict[str, Callable[[], object]] = {
                "floor": lambda data=data: decode_only(data),
                "storyboard": lambda data=data: blur.storyboard(data),
                "storyboard iso": lambda data=data: blur.render_video_isolated("storyboard", data),
                "playback": lambda data=data: blur.playback(data),
                "playback iso": lambda data=data: blur.render_video_isolated("playback", data),
            }
            if binary:
                actions.update(ffmpeg_actions(binary, clip, Path(folder)))
            label = (
                f"{size}: {info.width}x{info.height} {info.video_codec} {len(data) / 1e6:.1f} MB"
            )
            results[size] = report(label, info.duration_seconds, measure(actions, args.rounds))
    if "720p" in results:
        got = results["720p"]
        print("\n## Targets (720p)\n")
        print(
            f"- storyboard under 1 s: {got['storyboard']:.2f} s in process, "
            f"{got['storyboard iso']:.2f} s isolated"
        )
        print(f"- playback at least 5x realtime: {got['realtime']:.1f}x")
        print(f"- playback within 1.6x of decode-only: {got['floor']:.2f}x")
        if got["peer"]:
            print(f"- playback no slower than the ffmpeg peer: {got['peer']:.2f}x its time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
