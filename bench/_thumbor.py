"""Install thumbor 7.x into bench/.thumbor-venv and run it on loopback with a file loader."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV = HERE / ".thumbor-venv"

CONFIG = """
LOADER = 'thumbor.loaders.file_loader'
FILE_LOADER_ROOT_PATH = {root!r}
STORAGE = 'thumbor.storages.no_storage'
RESULT_STORAGE = None
ENGINE = 'thumbor.engines.pil'
ALLOW_UNSAFE_URL = True
QUALITY = 80
MAX_AGE = 0
ENGINE_THREADPOOL_SIZE = 0
"""


def ensure_installed() -> Path:
    binary = VENV / "bin" / "thumbor"
    if not binary.exists():
        print("installing thumbor 7.x into bench/.thumbor-venv (one time) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "-q"]
        subprocess.run([*pip, "thumbor>=7,<8"], check=True)
    return binary


def version() -> str:
    out = subprocess.run(
        [str(VENV / "bin" / "python"), "-c", "import thumbor; print(thumbor.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve(root: Path, cpu: int | None) -> Iterator[str]:
    """Run thumbor on 127.0.0.1 (pinned to one CPU, single-threaded); yield its base URL."""
    binary = ensure_installed()
    config = HERE / "corpus" / "thumbor.conf"
    config.write_text(CONFIG.format(root=str(root)))
    port = _free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    command = [str(binary), "--port", str(port), "--ip", "127.0.0.1", "--conf", str(config)]
    if cpu is not None:
        command = ["taskset", "-c", str(cpu), *command]
    log = open(HERE / "corpus" / "thumbor.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"{base}/healthcheck", timeout=1).read()
                break
            except OSError:
                if process.poll() is not None:
                    raise RuntimeError("thumbor exited; see bench/corpus/thumbor.log") from None
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=120) as response:
        return response.read()
