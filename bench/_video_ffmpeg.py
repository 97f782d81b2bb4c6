"""The ffmpeg command-line peer: the system's ffmpeg, else imageio-ffmpeg's from PyPI.

imageio-ffmpeg is installed once into bench/corpus/.ffmpeg (gitignored) with pip's
``--target``, so the project's own virtualenv is left alone.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGET = HERE / "corpus" / ".ffmpeg"


def ffmpeg() -> str:
    """Path of an ffmpeg binary, installing imageio-ffmpeg the first time if needed."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    if not (TARGET / "imageio_ffmpeg").exists():
        print("installing imageio-ffmpeg into bench/corpus/.ffmpeg (one time) ...", flush=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "-q",
                "--target",
                str(TARGET),
                "imageio-ffmpeg",
            ],
            check=True,
        )
    sys.path.insert(0, str(TARGET))
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def version(binary: str) -> str:
    out = subprocess.run([binary, "-version"], capture_output=True, text=True, check=True)
    return out.stdout.splitlines()[0]
