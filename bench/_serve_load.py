"""Load generation for bench/serve.py: wrk with a Lua script, and CPU accounting.

wrk cycles through pre-formatted requests (every attachment path with every associate's
session cookie) and prints its summary as one JSON line from the Lua ``done`` hook. CPU time
of the server processes (and of their PostgreSQL backends) is read from /proc around the
measured run, which says what a request costs even when other processes share the machine.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

USER_AGENT = "wellbeing-bench-serve/1"  # login and load share it: sessions are "strong"

WRK_LUA = """
local reqs = {%(requests)s}
local n = 0
local next_id = 0
function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
end
function init(args)
  n = (tid or 0) * %(spread)d
end
function request()
  n = n + 1
  return reqs[(n %% #reqs) + 1]
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%%d,"duration_us":%%d,"bytes":%%d,"connect":%%d,"read":%%d,' ..
    '"write":%%d,"status":%%d,"timeout":%%d,"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,' ..
    '"max_us":%%d}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
end
"""


class LoadError(RuntimeError):
    """wrk is missing or failed."""


def _lua_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def wrk_script(paths: list[str], cookies: list[str], out: Path, threads: int) -> Path:
    """A Lua script cycling through every (path, cookie) pair with pre-formatted requests.

    The cookie changes on every request and wrk's threads start apart, so one associate
    has about as many requests in flight as a person with a couple of tabs, not a burst.
    """
    calls = []
    for i in range(len(paths) * len(cookies)):
        cookie = cookies[i % len(cookies)]
        path = paths[(i // len(cookies)) % len(paths)]
        headers = f'{{["Cookie"]={_lua_string(cookie)},["User-Agent"]={_lua_string(USER_AGENT)}}}'
        calls.append(f'wrk.format("GET", {_lua_string(path)}, {headers})')
    spread = max(1, len(cookies) // threads)
    out.write_text(WRK_LUA % {"requests": ",\n".join(calls), "spread": spread})
    return out


def ensure_wrk() -> str:
    """The wrk binary; installed from Debian's package when missing and we are root."""
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt and os.geteuid() == 0:
        print("wrk not found; installing it with apt-get (Debian package 'wrk') ...")
        quiet: dict[str, Any] = {
            "stdout": subprocess.DEVNULL,
            "env": {**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            "check": False,
        }
        if subprocess.run([apt, "install", "-y", "wrk"], **quiet).returncode:
            subprocess.run([apt, "update"], **quiet)
            subprocess.run([apt, "install", "-y", "wrk"], **quiet)
        found = shutil.which("wrk")
    if not found:
        raise LoadError(
            "this benchmark drives load with wrk, which is not installed; "
            "install it with `sudo apt-get install -y wrk` (Debian/Ubuntu) and run again"
        )
    return found


@dataclass
class Result:
    requests: int
    seconds: float
    bytes: int
    errors: int  # non-2xx/3xx answers, timeouts and failed connects
    p50_ms: float
    p99_ms: float
    max_ms: float
    server_cpu_ms: float  # CPU of the gunicorn processes and their database backends
    wrk_cpu_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def bytes_per_response(self) -> float:
        return self.bytes / max(1, self.requests)


def run_wrk(
    wrk: str, base: str, script: Path, *, seconds: float, connections: int, threads: int
) -> dict[str, Any]:
    cmd = [wrk, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s"]
    cmd += ["--timeout", "5s", "-s", str(script), base]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("{")), None)
    if proc.returncode or line is None:
        raise LoadError(f"wrk failed ({proc.returncode}): {proc.stderr or proc.stdout}")
    found: dict[str, Any] = json.loads(line)
    return found


def measure(
    wrk: str,
    base: str,
    script: Path,
    *,
    seconds: float,
    connections: int,
    threads: int,
    pids: list[int],
) -> Result:
    """One fixed-length wrk run, with the CPU the given processes spent on it."""
    cpu_before, wrk_before = cpu_seconds(pids), children_cpu_seconds()
    raw = run_wrk(wrk, base, script, seconds=seconds, connections=connections, threads=threads)
    per_request = 1000 / max(1, raw["requests"])
    return Result(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        bytes=raw["bytes"],
        errors=raw["status"] + raw["timeout"] + raw["connect"],
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        server_cpu_ms=(cpu_seconds(pids) - cpu_before) * per_request,
        wrk_cpu_ms=(children_cpu_seconds() - wrk_before) * per_request,
    )


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far (those that are readable)."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def child_pids(parent: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == parent:
                found.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return found
