"""Dashboard summaries benchmark: rollups against the raw ledger, at scale.

Builds a synthetic exposure ledger (thousands of associates in ~30 teams over 90 days, with
a few heavy reviewers, shifts, weighted categories, mostly safe-blur levels and short
views) in a SQLite file under bench/corpus/ and in a PostgreSQL database it creates and
drops, migrated with `wellbeing.cli.upgrade`. Rollups are built from the raw table with one
GROUP BY. Then each dashboard page's data is computed from the rollups
(`exposure.summaries.totals`) and from the raw ledger (`totals_from_ledger`) in the same
run: the answers must be identical (rounded as `Totals.rounded()`), and the ratio raw/rollup
is printed. Target (issue 6): each page's data under 300 ms on PostgreSQL at 10M events.

    .venv/bin/python bench/summaries.py            # SQLite 1M events, PostgreSQL 10M
    .venv/bin/python bench/summaries.py --quick    # SQLite 100k, PostgreSQL 1M
    .venv/bin/python bench/summaries.py --pg-events 0   # SQLite only

The PostgreSQL bench database (WELLBEING_BENCH_POSTGRES_URL, default the local server)
is dropped on exit, errors and Ctrl-C included; the SQLite file is removed unless --keep.
Exit status 1 if a rollup answer differs from the raw one by more than float summation
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
    TARGET_MS,
    Measured,
    Scene,
    make_scene,
    measure,
    misaligned_window,
    rebuild_agrees,
)
from _summaries_probe import Diagnosis, diagnose  # noqa: E402
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
    analyze_s: float
    scene: Scene
    measured: Measured
    rebuild: tuple[int, int, float]
    misaligned: tuple[int, int]
    load: float  # 1-minute load average around the timed runs (this machine has 2 CPUs)
    diagnosis: Diagnosis | None = None


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
    _log(f"{backend}: rollups in {rollup_s:.1f} s; analyzing")
    analyze_s = analyze(url)
    sizes = table_sizes(url)
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            scene = make_scene(session, policy, clock.now)
        _log(f"{backend}: checking the bench's rollups against exposure.rollups.rebuild")
        rebuild = rebuild_agrees(engine, policy, clock.now - timedelta(hours=REBUILD_CHECK_HOURS))
        misaligned = misaligned_window(engine, policy, scene)
        _log(f"{backend}: timing pages ({args.repeats} rollup, {args.raw_repeats} raw runs)")
        load = os.getloadavg()[0]
        measured = measure(engine, policy, scene, args.repeats, args.raw_repeats)
        load = max(load, os.getloadavg()[0])
        report = Report(
            backend,
            n_events,
            sizes,
            load_s,
            rollup_s,
            analyze_s,
            scene,
            measured,
            rebuild,
            misaligned,
            load,
        )
        if backend == "PostgreSQL" and not args.no_diagnose:
            _log(f"{backend}: explaining the rollup queries, trying changes")
            report.diagnosis = diagnose(
                engine,
                policy,
                scene,
                args.repeats,
                measured,
                BENCH / "corpus" / "summaries-plans.txt",
            )
    finally:
        engine.dispose()
    return report


def _mb(size: int) -> str:
    return f"{size / 1e6:,.0f} MB"


def print_report(report: Report) -> None:
    rows_events, size_events = report.sizes["exposure_event"]
    rows_rollup, size_rollup = report.sizes["exposure_rollup"]
    print()
    print(
        f"== {report.backend}: {rows_events:,} events ({_mb(size_events)} with indexes), "
        f"{rows_rollup:,} rollup rows ({_mb(size_rollup)}), "
        f"{rows_events / max(rows_rollup, 1):.1f} events per rollup row"
    )
    print(
        f"   load {report.load_s:.1f} s, rollups built in {report.rollup_s:.1f} s, "
        f"analyze {report.analyze_s:.1f} s; team {report.scene.team_id} has "
        f"{report.scene.team_size} associates; 'now' = {report.scene.now:%Y-%m-%d %H:%M} UTC"
    )
    print(
        f"   load average around the timed runs: {report.load:.1f} on {os.cpu_count()} CPUs; "
        f"median of {len(report.measured.timings[(next(iter(PAGES)), 'rollup')].page_ms)} "
        f"rollup and {len(report.measured.timings[(next(iter(PAGES)), 'raw')].page_ms)} raw runs"
    )
    pg = report.backend == "PostgreSQL"
    header = f"{'page / part':<44} {'rollup ms':>10} {'raw ms':>10} {'raw/rollup':>11}"
    print(header + ("  target < 300 ms" if pg else ""))
    print("-" * (len(header) + (18 if pg else 0)))
    t = report.measured.timings
    for page in PAGES:
        roll, raw = t[(page, "rollup")], t[(page, "raw")]
        line = f"{page + ' page':<44} {roll.median:>10.1f} {raw.median:>10.1f}"
        line += f" {raw.median / roll.median:>10.1f}x"
        if pg:
            line += "  met" if roll.median < TARGET_MS else "  NOT MET"
        print(line)
        for part in roll.parts_ms:
            a, b = roll.part(part), raw.part(part)
            print(f"  {part:<42} {a:>10.1f} {b:>10.1f} {b / a:>10.1f}x")
    c = report.measured.check
    print(
        f"answers, rollup vs raw: {c.summary()}; {c.compared:,} per-person totals compared, "
        f"largest unrounded difference {c.max_abs_diff:.1e}; page outputs "
        f"{'equal' if c.pages_equal else 'DIFFER'}"
    )
    for example in c.examples:
        print(f"   {example}")
    rows, differ, diff = report.rebuild
    print(
        f"rollups built by the bench vs exposure.rollups.rebuild over the last "
        f"{REBUILD_CHECK_HOURS} h: {rows:,} rows, {differ} differ (max diff {diff:.1e} s)"
    )
    people, differ = report.misaligned
    print(
        f"a 7-day window starting at :30 instead of :00: {differ} of {people} people get a "
        "different answer from rollups than from the raw ledger (windows must be hour-aligned)"
    )
    if report.diagnosis is not None:
        report.diagnosis.print()


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
    parser.add_argument("--repeats", type=int, default=5, help="timed runs from rollups")
    parser.add_argument("--raw-repeats", type=int, default=3, help="timed runs from raw")
    parser.add_argument("--no-diagnose", action="store_true", help="skip EXPLAIN and indexes")
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
    # Differences at the rounding boundary only are printed, not failed: see docs/performance.md.
    return 1 if any(r.measured.check.beyond_tolerance for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
