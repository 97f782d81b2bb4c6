"""Serving benchmark: cached safe renditions under gunicorn against a bare ``send_file``.

Starts two gunicorn servers with 2 sync workers each on 127.0.0.1: the gateway
(``wellbeing:create_app()``) on a fresh PostgreSQL database (with ``--sqlite`` also on a
SQLite file), and a bare Flask app that sends the same cached rendition files with
``send_file`` (bench/_serve_ceiling.py, the ceiling for this stack). Associates sign in
through the real /login form; wrk then requests, for a fixed time after a warm-up, with the
associates' session cookies:

- ceiling  GET /file/<i>           bare send_file of the cached rendition file
- safe     GET /media/<id>/safe    session check, role, break check, cached rendition
- view     GET /view/<id>          the same checks, a ledger row written, the policy
                                   evaluated and committed, the viewer page rendered

and prints throughput, p50/p99 latency, the CPU per request of the server side (gunicorn
and its PostgreSQL backends) and ratios to the ceiling measured in the same run.
Targets (issue 3): safe >= 0.5x the ceiling and p99 < 50 ms at 16 connections.

    .venv/bin/python bench/serve.py                  # PostgreSQL at 127.0.0.1:5432
    .venv/bin/python bench/serve.py --sqlite         # and a SQLite file too
    .venv/bin/python bench/serve.py --history 1000   # associates with a week of exposure

Everything it starts (gunicorn servers, the bench database, a temp directory) is stopped or
removed on exit, Ctrl-C and errors included.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from _serve_load import (  # noqa: E402
    LoadError,
    Result,
    child_pids,
    ensure_wrk,
    measure,
    run_wrk,
    wrk_script,
)
from _serve_world import (  # noqa: E402
    SetupError,
    cached_files,
    count_events,
    database_pids,
    fetch,
    login,
    populate,
    postgres_database,
    seed_history,
)

from wellbeing.cli import upgrade  # noqa: E402

HOST = "127.0.0.1"
TARGET_RATIO = 0.5
TARGET_P99_MS = 50.0
MAX_ERROR_SHARE = 0.2  # more failed answers than this and the figures mean nothing
LABELS = {
    "ceiling": "ceiling  send_file",
    "safe": "safe     /media/<id>/safe",
    "view": "view     /view/<id> +ledger",
}


class BenchError(RuntimeError):
    """The benchmark cannot run or measured something other than what it meant to."""


# --- servers ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    base: str
    log: Path

    def pids(self) -> list[int]:
        return [self.proc.pid, *child_pids(self.proc.pid)]

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        # gunicorn runs in its own session: its process group is the arbiter and workers.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""


def start_gunicorn(
    name: str, app_spec: str, env: dict[str, str], workdir: Path, args: argparse.Namespace
) -> Server:
    gunicorn = Path(sys.executable).parent / "gunicorn"
    if not gunicorn.exists():
        found = shutil.which("gunicorn")
        if found is None:
            raise BenchError("gunicorn not found; install the project: pip install -e .")
        gunicorn = Path(found)
    port = free_port()
    log = workdir / f"{name}.log"
    cmd = [str(gunicorn), "-w", str(args.workers), "-b", f"{HOST}:{port}"]
    cmd += ["--error-logfile", str(log), "--log-level", "warning", *args.gunicorn_args.split()]
    cmd.append(app_spec)
    with open(log, "ab") as stderr:  # the app's own log lines land next to gunicorn's
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
    server = Server(name, proc, f"http://{HOST}:{port}", log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"{name} server exited:\n{_tail(server.log_text())}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(server.base + "/healthz", timeout=1).status_code == 200:
                return server
        time.sleep(0.2)
    server.stop()
    raise BenchError(f"{name} server did not answer within 30 s:\n{_tail(server.log_text())}")


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def _log_problems(text: str, limit: int = 4) -> list[str]:
    """Distinct error lines of a server log, most frequent first, with their counts."""
    counts: dict[str, int] = {}
    for line in text.splitlines():
        if line.startswith((" ", "(", "[")):  # tracebacks' and SQLAlchemy's detail lines
            continue
        if any(mark in line for mark in ("Error", "error", "deadlock", "Traceback")):
            key = line.strip()[:140]
            counts[key] = counts.get(key, 0) + 1
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])[:limit]
    return [f"{n} x {line}" for line, n in ranked]


# --- one pass per database --------------------------------------------------------------


@dataclass
class Pass:
    backend: str
    results: dict[str, list[Result]] = field(default_factory=dict)
    rendition_bytes: list[int] = field(default_factory=list)
    ledger_rows: int = 0
    view_responses: int = 0
    load: tuple[float, float] = (0.0, 0.0)  # 1-minute load average before and after
    problems: list[str] = field(default_factory=list)


def bench_backend(
    backend: str, url: str, wrk: str, workdir: Path, args: argparse.Namespace
) -> Pass:
    print(f"\n== {backend}: migrating, {args.users} associates, {args.attachments} attachments")
    upgrade(url)
    world = populate(url, args.users, args.attachments)
    seed_history(url, world, args.history)
    data_dir = workdir / f"data-{backend}"
    env = {
        "WELLBEING_ENV": "production",
        "WELLBEING_SECRET_KEY": secrets.token_hex(32),
        "WELLBEING_DATABASE_URL": url,
        "WELLBEING_DATA_DIR": str(data_dir),
    }
    result = Pass(backend)
    servers: list[Server] = []
    try:
        ours = start_gunicorn(f"gateway-{backend}", "wellbeing:create_app()", env, workdir, args)
        servers.append(ours)
        cookies = [login(ours.base, name) for name in world.users]
        paths = {
            "safe": [f"/media/{i}/safe" for i in world.attachment_ids],
            "view": [f"/view/{i}" for i in world.attachment_ids],
        }
        # Warm the rendition cache: one request per attachment renders and stores it.
        bodies = [fetch(ours.base, p, cookies[0]) for p in paths["safe"]]
        for cookie in cookies:  # every session works on both endpoints before the load
            fetch(ours.base, paths["safe"][0], cookie)
        smallest = {"safe": min(map(len, bodies)), "ceiling": min(map(len, bodies))}
        smallest["view"] = len(fetch(ours.base, paths["view"][0], cookies[0])) // 2
        ceiling = start_gunicorn(
            f"ceiling-{backend}",
            "_serve_ceiling:create_app()",
            {
                "BENCH_CEILING_FILES": os.pathsep.join(_files_of(bodies, data_dir)),
                "PYTHONPATH": os.pathsep.join(
                    filter(None, [str(BENCH), os.environ.get("PYTHONPATH")])
                ),
            },
            workdir,
            args,
        )
        servers.append(ceiling)
        paths["ceiling"] = [f"/file/{i}" for i in range(len(bodies))]
        if fetch(ceiling.base, paths["ceiling"][0], cookies[0]) != bodies[0]:
            raise BenchError("the ceiling does not send the same bytes as the gateway")

        result.rendition_bytes = [len(b) for b in bodies]
        result.load = (os.getloadavg()[0], 0.0)
        order = [name for name in LABELS if name in args.endpoints]
        result.results = {name: [] for name in order}
        for round_no in range(args.rounds):
            for name in order:
                server = ceiling if name == "ceiling" else ours
                script = wrk_script(paths[name], cookies, workdir / f"{name}.lua", args.threads)
                print(f"   round {round_no + 1}/{args.rounds}: {name}", flush=True)
                run = _run_endpoint(name, server, script, url, wrk, args, result)
                if run.bytes_per_response < smallest[name]:  # e.g. redirects to /login
                    raise BenchError(
                        f"{name}: {run.bytes_per_response:.0f} bytes per response, expected "
                        f"at least {smallest[name]}: not the page or image asked for"
                    )
                if run.errors > MAX_ERROR_SHARE * run.requests:
                    raise BenchError(f"{name}: {run.errors} of {run.requests} answers failed")
                result.results[name].append(run)
        for cookie in cookies:  # sessions are still good after the load
            fetch(ours.base, paths["safe"][-1], cookie)
    except (BenchError, SetupError, LoadError):
        for server in servers:
            print(f"--- {server.name} log ---\n{_tail(server.log_text())}", file=sys.stderr)
        raise
    finally:
        for server in servers:
            server.stop()
    result.load = (result.load[0], os.getloadavg()[0])
    result.problems = _log_problems(ours.log_text())
    return result


def _files_of(bodies: list[bytes], data_dir: Path) -> list[str]:
    """The cache files holding exactly the bytes the gateway answered with."""
    on_disk = cached_files(data_dir / "renditions")
    files = []
    for body in bodies:
        path = on_disk.get(hashlib.sha256(body).hexdigest())
        if path is None or path.read_bytes() != body:
            raise BenchError("a safe response is not a cached rendition file")
        files.append(str(path))
    return files


def _run_endpoint(
    name: str,
    server: Server,
    script: Path,
    url: str,
    wrk: str,
    args: argparse.Namespace,
    into: Pass,
) -> Result:
    load = {"connections": args.connections, "threads": args.threads}
    if args.warmup > 0:
        run_wrk(wrk, server.base, script, seconds=args.warmup, **load)
    pids = server.pids() + ([] if name == "ceiling" else database_pids(url))
    before = count_events(url) if name == "view" else 0
    run = measure(wrk, server.base, script, seconds=args.duration, pids=pids, **load)
    if name == "view":
        into.ledger_rows += count_events(url) - before
        into.view_responses += run.requests
    return run


# --- report -----------------------------------------------------------------------------


def _median(results: list[Result]) -> Result:
    return sorted(results, key=lambda r: r.rps)[len(results) // 2]


def _verdict(result: Result, ceiling: Result) -> tuple[bool, str]:
    ratio = result.rps / ceiling.rps
    met = ratio >= TARGET_RATIO and result.p99_ms < TARGET_P99_MS
    return met, f"{ratio:.2f}x the ceiling, p99 {result.p99_ms:.1f} ms"


def report(passes: list[Pass], args: argparse.Namespace) -> bool:
    print(
        f"\nServing benchmark: gunicorn -w {args.workers} (sync) on {HOST}, wrk -t{args.threads} "
        f"-c{args.connections}, {args.duration:g} s per endpoint after {args.warmup:g} s "
        f"warm-up, {args.rounds} round(s), {os.cpu_count()} CPUs shared by wrk, gunicorn and "
        f"the database; {args.history} past exposure events per associate"
    )
    ok = True
    for p in passes:
        sizes = p.rendition_bytes
        print(
            f"\n{p.backend}: {len(sizes)} cached safe renditions of "
            f"{min(sizes) / 1024:.0f}-{max(sizes) / 1024:.0f} KiB, {args.users} associates; "
            f"load average {p.load[0]:.1f} before, {p.load[1]:.1f} after"
        )
        head = (
            f"{'endpoint':<27}{'req/s':>7}{'p50 ms':>8}{'p99 ms':>8}{'x ceil':>8}"
            f"{'CPU ms/req':>12}{'x ceil':>8}{'errors':>8}{'wrk CPU':>9}"
        )
        print(head)
        print("-" * len(head))
        ceiling = _median(p.results["ceiling"])
        for name, runs in p.results.items():
            r = _median(runs)
            print(
                f"{LABELS[name]:<27}{r.rps:>7.0f}{r.p50_ms:>8.1f}{r.p99_ms:>8.1f}"
                f"{r.rps / ceiling.rps:>7.2f}x{r.server_cpu_ms:>12.2f}"
                f"{ceiling.server_cpu_ms / max(r.server_cpu_ms, 1e-9):>7.2f}x"
                f"{r.errors:>8}{r.wrk_cpu_ms:>9.2f}"
            )
        if "safe" in p.results:
            met, detail = _verdict(_median(p.results["safe"]), ceiling)
            ok = ok and met
            print(
                f"target: cached safe views >= {TARGET_RATIO}x the ceiling with p99 < "
                f"{TARGET_P99_MS:.0f} ms: {'MET' if met else 'NOT MET'} ({detail})"
            )
        if "view" in p.results:
            met, detail = _verdict(_median(p.results["view"]), ceiling)
            print(
                f"viewer page with its ledger write, against the same bar: "
                f"{'met' if met else 'not met'} ({detail}); {p.ledger_rows} ledger rows "
                f"written during {p.view_responses} measured views"
            )
        if p.load[0] > (os.cpu_count() or 1) / 2:
            print(
                f"note: the machine was busy before this pass (load average {p.load[0]:.1f}); "
                "other processes skew req/s and latency more than CPU ms/req; try --rounds 3"
            )
        for line in p.problems:
            print(f"server log: {line}")
    print(
        "\nCPU ms/req: gunicorn arbiter and workers plus their PostgreSQL backends per answer; "
        "its 'x ceil' is the ceiling's CPU per answer over ours. errors: non-2xx/3xx answers, "
        "timeouts and failed connects counted by wrk."
    )
    return ok


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sqlite", action="store_true", help="also run on a SQLite file")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL pass")
    parser.add_argument("--duration", type=float, default=10, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=2, help="warm-up seconds before each")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per server")
    parser.add_argument("--users", type=int, default=16, help="associates signed in")
    parser.add_argument("--attachments", type=int, default=8, help="flagged attachments")
    parser.add_argument(
        "--history", type=int, default=0, help="past exposure events per associate (last week)"
    )
    parser.add_argument("--rounds", type=int, default=1, help="repeat; report the median")
    parser.add_argument(
        "--endpoints",
        default="safe,view",
        help="comma-separated subset of safe,view to measure (the ceiling always is)",
    )
    parser.add_argument(
        "--gunicorn-args", default="", help="extra gunicorn options for both servers"
    )
    args = parser.parse_args(argv)
    args.endpoints = {"ceiling", *(e.strip() for e in args.endpoints.split(",") if e.strip())}
    if not args.endpoints <= set(LABELS):
        parser.error("--endpoints takes some of safe,view")
    if args.no_postgres and not args.sqlite:
        parser.error("--no-postgres needs --sqlite")
    if not (1 <= args.duration <= 120 and 0 <= args.warmup <= 30 and 1 <= args.rounds <= 5):
        parser.error("keep --duration in 1-120 s, --warmup in 0-30 s and --rounds in 1-5")
    if not 1 <= args.threads <= args.connections <= 1024:
        parser.error("need 1 <= --threads <= --connections <= 1024")
    if not (1 <= args.users <= 200 and 1 <= args.attachments <= 100 and 0 <= args.history <= 20000):
        parser.error("keep --users in 1-200, --attachments in 1-100, --history in 0-20000")
    return args


def _raise_interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGHUP, _raise_interrupt)
    started = time.monotonic()
    passes: list[Pass] = []
    try:
        wrk = ensure_wrk()
        with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
            workdir = Path(tmp)
            if not args.no_postgres:
                with postgres_database() as url:
                    passes.append(bench_backend("postgresql", url, wrk, workdir, args))
            if args.sqlite:
                url = f"sqlite:///{workdir / 'bench.db'}"
                passes.append(bench_backend("sqlite", url, wrk, workdir, args))
    except (BenchError, SetupError, LoadError) as exc:
        print(f"bench/serve.py: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nbench/serve.py: interrupted; servers stopped, bench database dropped.")
        return 130
    ok = report(passes, args)
    print(f"(total {time.monotonic() - started:.0f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
