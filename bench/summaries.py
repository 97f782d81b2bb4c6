"""Dashboard summaries benchmark: each page's data at scale, from the daily tables (as
shipped), from the hourly rollups alone, and from the raw ledger, in the same run.

Builds a synthetic exposure ledger (thousands of associates in ~30 teams over 90 days, with
a few heavy reviewers, shifts, weighted categories, mostly safe-blur levels and short
views) in a SQLite file under bench/corpus/ and in a PostgreSQL database it creates and
drops, migrated with `wellbeing.cli.upgrade`. Hourly rollups are built from the raw table
with one GROUP BY; the daily tables by the app's own `exposure.daily.rebuild`. Then the
app's page functions (`exposure_report`, `team_roster`, `my_day`) run against each source:
the answers must equal the raw ledger's (floats within 1e-9), and the times are printed
with their ratios. Target (issue 6): each page's data under 300 ms on PostgreSQL at 10M.

    .venv/bin/python bench/summaries.py            # SQLite 1M events, PostgreSQL 10M
    .venv/bin/python bench/summaries.py --quick    # SQLite 100k, PostgreSQL 1M
    .venv/bin/python bench/summaries.py --pg-events 0   # SQLite only

The PostgreSQL bench database (WELLBEING_BENCH_POSTGRES_URL, default the local server)
is dropped on exit, errors and Ctrl-C included; the SQLite file is removed unless --keep.
Exit status 1 if an answer differs from the raw ledger's by more than float summation
order explains (1e-9), 2 if the databases could not be set up.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from _summaries_pages import (  # noqa: E402
    PAGES,
    SOURCES,
    TARGET_MS,
    Check,
    Measured,
    Scene,
    build_daily,
    make_scene,
    measure,
    rebuild_agrees,
    week_totals_check,
)
from _summaries_world import (  # noqa: E402
    Clock,
    People,
    SetupError,
    analyze,
    bench_clock,
    build_rollups,
    fill_postgres,
    fill_sqlite,
    make_people,
    postgres_database,
    table_sizes,
)
from sqlalchemy.orm import Session  # noqa: E402

from exposure.policy import Policy, default_policy  # noqa: E402
from exposure.storage import make_engine  # noqa: E402
from wellbeing.cli import upgrade  # noqa: E402

SQLITE_PATH = BENCH / "corpus" / "summaries.sqlite"
TEAMS = 30
REBUILD_CHECK_HOURS = 2


@dataclass
class Report:
    backend: str
    events: int
    sizes: dict[str, tuple[int, int]]
    load_s: float
    rollup_s: float
    daily: tuple[float, int, int]  # seconds, steps, person-day rows
    analyze_s: float
    scene: Scene
    measured: Measured
    weeks: Check
    rebuild: tuple[int, int, float]
    load: float  # 1-minute load average around the timed runs (this machine has 2 CPUs)


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def run_backend(
    backend: str,
    url: str,
    n_events: int,
    people: People,
    clock: Clock,
    policy: Policy,
    args: argparse.Namespace,
) -> Report:
    _log(f"{backend}: migrating")
    upgrade(url)
    _log(f"{backend}: loading {n_events:,} events")
    if backend == "SQLite":
        load_s = fill_sqlite(SQLITE_PATH, people, clock, n_events)
    else:
        load_s = fill_postgres(url, people, clock, n_events)
    _log(f"{backend}: loaded in {load_s:.1f} s; building rollups")
    rollup_s = build_rollups(url, policy.min_event_seconds)
    engine = make_engine(url)
    try:
        _log(f"{backend}: rollups in {rollup_s:.1f} s; building the daily tables")
        built = build_daily(engine, policy, clock.now)
        _log(f"{backend}: daily tables in {built[0]:.1f} s; analyzing")
        analyze_s = analyze(url)
        sizes = table_sizes(url)
        with Session(engine) as session:
            scene = make_scene(session, policy, clock.now)
        _log(f"{backend}: checking the bench's rollups against exposure.rollups.rebuild")
        rebuild = rebuild_agrees(engine, policy, clock.now - timedelta(hours=REBUILD_CHECK_HOURS))
        _log(f"{backend}: checking 8 weeks of everyone's totals against the raw ledger")
        weeks = week_totals_check(engine, policy, scene)
        _log(f"{backend}: timing pages ({args.repeats} / {args.slow_repeats} runs)")
        load = os.getloadavg()[0]
        measured = measure(engine, policy, scene, args.repeats, args.slow_repeats)
        load = max(load, os.getloadavg()[0])
    finally:
        engine.dispose()
    return Report(
        backend,
        n_events,
        sizes,
        load_s,
        rollup_s,
        built,
        analyze_s,
        scene,
        measured,
        weeks,
        rebuild,
        load,
    )


def _mb(size: int) -> str:
    return f"{size / 1e6:,.0f} MB"


def print_report(report: Report) -> None:
    print()
    print(f"== {report.backend}: {report.events:,} events")
    for table, (rows, size) in report.sizes.items():
        print(f"   {table:<24} {rows:>12,} rows {_mb(size):>10}")
    seconds, steps, _ = report.daily
    print(
        f"   load {report.load_s:.1f} s, hourly rollups {report.rollup_s:.1f} s, daily tables "
        f"{seconds:.1f} s ({steps} steps), analyze {report.analyze_s:.1f} s; team "
        f"{report.scene.team_id} has {report.scene.team_size} associates; "
        f"'now' = {report.scene.now:%Y-%m-%d %H:%M} UTC, week of {report.scene.monday}"
    )
    runs = report.measured.runs
    print(
        f"   load average around the timed runs: {report.load:.1f} on {os.cpu_count()} CPUs; "
        + ", ".join(f"{source} median of {n}" for source, n in runs.items())
    )
    pg = report.backend == "PostgreSQL"
    header = f"{'page':<24}" + "".join(f" {s + ' ms':>14}" for s in SOURCES)
    header += f" {'hourly/days':>12} {'raw/days':>9}"
    print(header + ("  target < 300 ms" if pg else ""))
    print("-" * (len(header) + (18 if pg else 0)))
    t = report.measured.timings
    for page in PAGES:
        ms = [t[page, s].median for s in SOURCES]
        line = f"{page:<24}" + "".join(f" {m:>14.1f}" for m in ms)
        line += f" {ms[1] / ms[0]:>11.1f}x {ms[2] / ms[0]:>8.1f}x"
        if pg:
            line += "  met" if ms[0] < TARGET_MS else "  NOT MET"
        print(line)
    for source, check in report.measured.checks.items():
        verdict = "equal" if check.equal else "DIFFER: " + ", ".join(check.pages_differing)
        print(f"page outputs, {source} vs raw ledger: {verdict}")
        for example in check.examples[:3]:
            print(f"   {example}")
    w = report.weeks
    print(
        f"weekly totals, daily tables vs raw ledger: {w.people:,} person-weeks compared, "
        f"{w.people_differ} differ beyond 1e-9 or in counts (largest float difference "
        f"{w.max_abs_diff:.1e})"
    )
    for example in w.examples:
        print(f"   {example}")
    rows, differ, diff = report.rebuild
    print(
        f"rollups built by the bench vs exposure.rollups.rebuild over the last "
        f"{REBUILD_CHECK_HOURS} h: {rows:,} rows, {differ} differ (max diff {diff:.1e} s)"
    )


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so the bench database is dropped either way."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _remove_sqlite() -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(str(SQLITE_PATH) + suffix).unlink(missing_ok=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sqlite-events", type=int, help="default 1M (--quick: 100k)")
    parser.add_argument("--pg-events", type=int, help="default 10M (--quick: 1M)")
    parser.add_argument("--people", type=int, default=3000, help="associates")
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--quick", action="store_true", help="100k events on SQLite, 1M on PG")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs as shipped")
    parser.add_argument(
        "--slow-repeats", type=int, default=2, help="timed runs from hourly rollups and raw"
    )
    parser.add_argument("--keep", action="store_true", help="keep the SQLite file")
    args = parser.parse_args()
    if args.sqlite_events is None:
        args.sqlite_events = 100_000 if args.quick else 1_000_000
    if args.pg_events is None:
        args.pg_events = 1_000_000 if args.quick else 10_000_000
    if args.days < 7 * 8:
        parser.error("--days must cover the 8-week trend (at least 56)")

    policy = default_policy()
    clock = bench_clock(args.days)
    people = make_people(args.people, TEAMS)
    reports: list[Report] = []
    try:
        with _terminate_as_interrupt():
            if args.sqlite_events > 0:
                _remove_sqlite()
                url = f"sqlite:///{SQLITE_PATH}"
                try:
                    reports.append(
                        run_backend("SQLite", url, args.sqlite_events, people, clock, policy, args)
                    )
                finally:
                    if not args.keep:
                        _remove_sqlite()
                print_report(reports[-1])
            if args.pg_events > 0:
                with postgres_database() as url:
                    reports.append(
                        run_backend("PostgreSQL", url, args.pg_events, people, clock, policy, args)
                    )
                print_report(reports[-1])
    except SetupError as exc:
        print(f"summaries bench: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; bench database dropped", file=sys.stderr)
        return 130
    wrong = [
        r
        for r in reports
        if not r.weeks.equal or not all(c.equal for c in r.measured.checks.values())
    ]
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
