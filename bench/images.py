"""Benchmark: safe image renditions against the floor and against thumbor, single core.

Run: .venv/bin/python bench/images.py   (builds bench/corpus/ and bench/.thumbor-venv/)

For every corpus image, the median wall time of:
  ours     blur.render(data, Spec(1, max_size=1280)): the level-1 safe rendition
  floor    reduced decode + resize to 1280 + grey + JPEG encode, no blur: the least any
           safe rendition can cost (PNG, GIF and WebP cannot decode at reduced scale)
  thumbor  GET /unsafe/fit-in/1280x1280/filters:blur(R):grayscale()/<file>, thumbor 7.x
           on 127.0.0.1 with a file loader and no result storage
plus the peak RSS of rendering the 24 MP JPEG, above the interpreter's baseline.

Actions are run interleaved, round by round, and each ratio is the median of per-round
ratios, so a busy machine slows both sides of a ratio alike.
"""

from __future__ import annotations

import os

# Single core, before numpy and OpenCV load their thread pools.
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import argparse  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import _corpus  # noqa: E402
import _thumbor  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

import blur  # noqa: E402

MAX_SIZE = 1280
# Our level-1 sigma is 10% of the longest side, 128 px at 1280; thumbor caps the radius
# at 150 and its kernel spans one radius, so this is the closest equivalent it offers.
THUMBOR_FILTERS = "blur(150,128):grayscale()"
# A light blur too, so the comparison does not rest on thumbor's cost growing with radius.
THUMBOR_LIGHT = "blur(20):grayscale()"
PILLOW = {"jpg": "JPEG", "png": "PNG", "gif": "GIF", "webp": "WEBP"}


def floor(data: bytes, pillow_format: str) -> bytes:
    """Reduced decode, cheapest correct resize, grey, encode: no blur, no checks."""
    image = Image.open(io.BytesIO(data), formats=[pillow_format])
    scale = min(1.0, MAX_SIZE / max(image.size))
    target = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    if pillow_format == "JPEG":
        image.draft("L", target)
    image.load()
    if image.mode not in ("L", "RGB", "RGBA"):
        image = image.convert("RGB")
    factor = min(image.width // target[0], image.height // target[1])
    if factor >= 2:
        image = image.reduce(factor)
    pixels = np.asarray(image.convert("L"))
    pixels = cv2.resize(pixels, target, interpolation=cv2.INTER_LINEAR)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def samples_s(*actions: Callable[[], object], repeats: int) -> list[list[float]]:
    """Seconds per run of each action, interleaved round by round."""
    times: list[list[float]] = [[] for _ in actions]
    for action in actions:
        action()  # warm-up
    for _ in range(repeats):
        for action, samples in zip(actions, times, strict=True):
            start = time.perf_counter()
            action()
            samples.append(time.perf_counter() - start)
    return times


def peak_rss_over_baseline(path: Path) -> float:
    """MB of peak RSS above baseline for one level-1 render, in a fresh interpreter."""
    code = f"""
import os
for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[name] = "1"
import json, sys
from pathlib import Path
sys.path.insert(0, {str(HERE.parent)!r})
import blur, cv2
cv2.setNumThreads(1)
data = Path({str(path)!r}).read_bytes()
blur.render(blur.placeholder().data, blur.Spec(1))  # load every code path first

def peak():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

Path("/proc/self/clear_refs").write_text("5")  # reset the peak to the current RSS
base = peak()
blur.render(data, blur.Spec(1, max_size={MAX_SIZE}))
print(json.dumps(peak() - base))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(json.loads(out.stdout))


def describe_thumbor_output(data: bytes) -> str:
    image = Image.open(io.BytesIO(data))
    image.load()
    rgb = np.asarray(image.convert("RGB")).astype(int)
    chroma = int((rgb.max(axis=2) - rgb.min(axis=2)).max())
    grey = np.asarray(image.convert("L"))
    sharpness = float(cv2.Laplacian(grey, cv2.CV_64F).var())
    return f"{image.format} {image.mode} {image.size} chroma={chroma} laplacian={sharpness:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--no-thumbor", action="store_true", help="skip the peer")
    args = parser.parse_args()
    # A plain SIGTERM would skip the finally that stops thumbor.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    cv2.setNumThreads(1)
    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpus[0]})  # us on one CPU, thumbor on another
    thumbor_cpu = cpus[1] if len(cpus) > 1 else None
    paths = _corpus.build(HERE / "corpus")

    rows = []
    thumbor_notes = []
    with (
        _thumbor.serve(HERE / "corpus", thumbor_cpu)
        if not args.no_thumbor
        else _no_server() as base
    ):
        for name, path in paths.items():
            data = path.read_bytes()
            fmt = PILLOW[name.rsplit(".", 1)[1]]
            big = os.path.getsize(path) > 4_000_000 or name.endswith(".png")
            repeats = max(3, args.repeats // 2) if big else args.repeats
            mine, floors = samples_s(
                lambda d=data: blur.render(d, blur.Spec(1, max_size=MAX_SIZE)),
                lambda d=data, f=fmt: floor(d, f),
                repeats=repeats,
            )
            ours, low = statistics.median(mine) * 1000, statistics.median(floors) * 1000
            floor_ratio = statistics.median(m / f for m, f in zip(mine, floors, strict=True))
            peer = light = None
            ratios = (0.0, 0.0)
            if base:
                prefix = f"{base}/unsafe/fit-in/{MAX_SIZE}x{MAX_SIZE}/filters:"
                url = f"{prefix}{THUMBOR_FILTERS}/{name}"
                light_url = f"{prefix}{THUMBOR_LIGHT}/{name}"
                # Same rounds for ours and thumbor; the ratio is the median of per-round
                # ratios, so a busy machine slows both sides of each ratio alike.
                mine, theirs, lighter = samples_s(
                    lambda d=data: blur.render(d, blur.Spec(1, max_size=MAX_SIZE)),
                    lambda u=url: _thumbor.fetch(u),
                    lambda u=light_url: _thumbor.fetch(u),
                    repeats=3,
                )
                peer = statistics.median(theirs) * 1000
                light = statistics.median(lighter) * 1000
                ratios = (
                    statistics.median(t / m for t, m in zip(theirs, mine, strict=True)),
                    statistics.median(t / m for t, m in zip(lighter, mine, strict=True)),
                )
                thumbor_notes.append(f"{name}: {describe_thumbor_output(_thumbor.fetch(url))}")
            info = blur.probe(data)
            rows.append((name, info, len(data), ours, low, peer, light, ratios, floor_ratio))
            _print_row(rows[-1])

    rss = peak_rss_over_baseline(paths["photo-24mp.jpg"])
    print(f"\nload average during the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print_table(rows, rss)
    if thumbor_notes:
        print("\nthumbor outputs (format, mode, size, max channel spread, Laplacian variance):")
        for note in thumbor_notes:
            print("  " + note)
        print(f"thumbor version: {_thumbor.version()}")


class _no_server:
    def __enter__(self) -> str:
        return ""

    def __exit__(self, *exc: object) -> None:
        return None


def _print_row(row: tuple) -> None:
    name, _, _, ours, low, peer, light, _, _ = row
    peer_text = f"{peer:7.0f} / {light:5.0f}" if peer is not None else "-"
    print(f"  {name:22s} ours {ours:7.1f} ms  floor {low:7.1f} ms  thumbor {peer_text} ms")


def print_table(rows: list[tuple], rss: float) -> None:
    print(
        "| image | pixels | bytes | ours ms | floor ms | ours/floor "
        f"| thumbor {THUMBOR_FILTERS} ms | thumbor/ours | thumbor {THUMBOR_LIGHT} ms "
        "| thumbor/ours |"
    )
    print("|" + "---|" * 10)
    for name, info, size, ours, low, peer, light, (ratio, light_ratio), floor_ratio in rows:
        pixels = f"{info.width}x{info.height}" + (f" x{info.frames}" if info.frames > 1 else "")
        peers = "| - | - | - | - |"
        if peer is not None:
            peers = f"| {peer:.0f} | {ratio:.0f}x | {light:.0f} | {light_ratio:.0f}x |"
        print(
            f"| {name} | {pixels} | {size / 1e6:.1f} MB | {ours:.1f} | {low:.1f} "
            f"| {floor_ratio:.2f} {peers}"
        )
    print(f"\npeak RSS rendering photo-24mp.jpg at level 1: {rss:.1f} MB above baseline")


if __name__ == "__main__":
    main()
