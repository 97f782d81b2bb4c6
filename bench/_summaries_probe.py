"""Why the rollup queries take the time they do, on PostgreSQL: EXPLAIN ANALYZE of the
statements `exposure.summaries.totals` sends, the split between SQL and Python, and what
candidate changes buy (a setting, an index, a query, a table), each tried in the bench
database only, measured on the same pages, checked against the raw answers, and undone."""

from __future__ import annotations

import contextlib
import re
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from _summaries_pages import (
    PAGES,
    TARGET_MS,
    Check,
    Measured,
    Scene,
    TotalsFn,
    measure_contenders,
)
from _summaries_trials import (
    build_daily,
    daily_rows,
    drop_daily,
    totals_from_daily,
    totals_weighted_in_sql,
    wellbeing_page_in_sql,
)
from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session

from exposure.policy import Policy
from exposure.storage import make_engine
from exposure.summaries import people_in_scope, totals

COVERING_INDEX = "bench_ix_rollup_hour_covering"
COVERING_DDL = (
    f"CREATE INDEX {COVERING_INDEX} ON exposure_rollup (hour_start, user_id) "
    "INCLUDE (category, level, modality, events, floored_seconds)"
)
AS_IS = "as is (hourly rollups, weighted in Python)"
WORK_MEM = "work_mem 64MB (no hash spill)"
COVERING = "+ index (hour_start, user_id) INCLUDE (...)"
IN_SQL = "weights summed in SQL, one row per person"
DAILY = "daily table per person, weighted on write"
DISTRIBUTIONS_IN_SQL = "  + medians and p90s computed in SQL"


@contextlib.contextmanager
def captured(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """The SQL statements (with their parameters) the engine sends while inside."""
    seen: list[tuple[str, Any]] = []

    def listener(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def totals_sql(
    engine: Engine, policy: Policy, window: tuple[datetime, datetime], **kwargs: Any
) -> tuple[str, Any]:
    """The statement `totals` sends for these arguments."""
    with captured(engine) as seen, Session(engine) as session:
        totals(session, policy, window[0], window[1], **kwargs)
        session.rollback()
    return next((s, p) for s, p in seen if "exposure_rollup" in s)


def explain(engine: Engine, statement: str, params: Any) -> str:
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, params).all()
        conn.rollback()
    return "\n".join(str(r[0]) for r in rows)


def _median_ms(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


@dataclass
class Query:
    """One rollup query: its plan, and where its time goes."""

    plan: str
    sql_ms: float  # run and fetch every row, no Python summing
    totals_ms: float  # the whole `totals` call

    def fact(self, pattern: str) -> str:
        match = re.search(pattern, self.plan)
        return match.group(1) if match else "-"

    def scanned(self) -> tuple[int, int]:
        """(rollup rows kept, rows read and filtered out), over all parallel processes."""
        match = re.search(
            r"Scan[^\n]*on exposure_rollup[^\n]*actual time=[\d.]+\.\.[\d.]+ "
            r"rows=(\d+) loops=(\d+)\)((?:\n {8,}[^\n]*)*)",
            self.plan,
        )
        if not match:
            return 0, 0
        loops = int(match.group(2))
        removed = re.search(r"Rows Removed by Filter: (\d+)", match.group(3))
        return int(match.group(1)) * loops, int(removed.group(1)) * loops if removed else 0


@dataclass
class Trial:
    name: str
    pages_ms: dict[str, float]
    check: Check
    setup: str = ""

    @property
    def met(self) -> bool:
        return all(ms < TARGET_MS for ms in self.pages_ms.values())


@dataclass
class Diagnosis:
    queries: dict[str, Query] = field(default_factory=dict)
    trials: list[Trial] = field(default_factory=list)
    plans_file: Path | None = None

    def print(self) -> None:
        print("rollup queries on PostgreSQL (EXPLAIN ANALYZE; median ms):")
        print(
            f"  {'query':<18} {'rollup rows read':>26} {'groups out':>10} {'hash spill':>10} "
            f"{'plan exec':>9} {'SQL+fetch':>9} {'totals()':>9}"
        )
        for name, q in self.queries.items():
            kept, removed = q.scanned()
            scanned = f"{kept + removed}" + (f" ({removed} dropped)" if removed else "")
            groups = q.fact(r"Aggregate[^\n]*actual time=[\d.]+\.\.[\d.]+ rows=(\d+)")
            spill = q.fact(r"Disk Usage: (\d+kB)")
            exec_ms = q.fact(r"Execution Time: ([\d.]+) ms")
            print(
                f"  {name:<18} {scanned:>26} {groups:>10} {spill:>10} {exec_ms:>9} "
                f"{q.sql_ms:>9.1f} {q.totals_ms:>9.1f}"
            )
        if self.plans_file is not None:
            print(f"  full plans: {self.plans_file}")
        print("what changes would buy (rollup side, median ms per page; tried in the bench DB):")
        names = list(PAGES)
        print(
            f"  {'change':<46} "
            + " ".join(f"{n.split()[0]:>10}" for n in names)
            + f"  {'< 300 ms':>8}  answers vs raw"
        )
        for t in self.trials:
            same = t.check.summary()
            print(
                f"  {t.name:<46} "
                + " ".join(
                    f"{t.pages_ms[n]:>10.1f}" if n in t.pages_ms else f"{'-':>10}" for n in names
                )
                + f"  {'met' if t.met else 'NOT MET':>8}  {same}"
            )
            if t.setup:
                print(f"    {t.setup}")


def _members(engine: Engine, scene: Scene) -> list[int]:
    with Session(engine) as session:
        return people_in_scope(session, scene.team_id)


def _totals_call(engine: Engine, policy: Policy, window: Any, kw: dict[str, Any]) -> None:
    with Session(engine) as session:
        totals(session, policy, window[0], window[1], **kw)
        session.rollback()


def _fetch_all(engine: Engine, statement: str, params: Any) -> None:
    with engine.connect() as conn:
        conn.exec_driver_sql(statement, params).all()
        conn.rollback()


def diagnose(
    engine: Engine,
    policy: Policy,
    scene: Scene,
    repeats: int,
    measured: Measured,
    plans_file: Path,
) -> Diagnosis:
    d = Diagnosis(plans_file=plans_file)
    queries: dict[str, tuple[tuple[datetime, datetime], dict[str, Any]]] = {
        "week, all people": (scene.week, {}),
        "week, one team": (scene.week, {"user_ids": _members(engine, scene)}),
        "week, one person": (scene.week, {"user_ids": [scene.person_id]}),
    }
    texts = []
    for name, (window, kw) in queries.items():
        statement, params = totals_sql(engine, policy, window, **kw)
        plan = explain(engine, statement, params)
        d.queries[name] = Query(
            plan,
            _median_ms(lambda s=statement, p=params: _fetch_all(engine, s, p), repeats),
            _median_ms(lambda w=window, k=kw: _totals_call(engine, policy, w, k), repeats),
        )
        texts.append(f"-- {name}\n{statement}\n\n{plan}\n")
    plans_file.parent.mkdir(parents=True, exist_ok=True)
    plans_file.write_text("\n".join(texts))

    tries = max(3, repeats // 2)
    roomy = make_engine(
        engine.url.render_as_string(hide_password=False),
        connect_args={"options": "-c work_mem=64MB"},
    )
    try:
        built = build_daily(engine, policy)
        contenders: dict[str, tuple[Engine, TotalsFn]] = {
            AS_IS: (engine, totals),
            WORK_MEM: (roomy, totals),
            IN_SQL: (engine, totals_weighted_in_sql),
            DAILY: (engine, totals_from_daily),
        }
        notes = {
            DAILY: f"{daily_rows(engine):,} rows, rebuilt from the hourly rollups in {built:.1f} s"
        }
        results = measure_contenders(contenders, policy, scene, tries, measured)
        in_sql_page = _page_in_sql(engine, policy, scene, tries, measured)
    finally:
        drop_daily(engine)
        roomy.dispose()
    with trial_index(engine, COVERING_DDL, COVERING_INDEX) as seconds:
        used = [
            name
            for name, (window, kw) in queries.items()
            if COVERING_INDEX in explain(engine, *totals_sql(engine, policy, window, **kw))
        ]
        results.update(
            measure_contenders({COVERING: (engine, totals)}, policy, scene, tries, measured)
        )
        notes[COVERING] = (
            f"index built in {seconds:.1f} s, timed after the rows above; the planner uses it "
            f"for: {', '.join(used) or 'none of the three queries'}"
        )
    for name, (timings, check) in results.items():
        pages_ms = {p: t.median for p, t in timings.items()}
        d.trials.append(Trial(name, pages_ms, check, notes.get(name, "")))
        if name == DAILY:
            d.trials.append(in_sql_page)
    return d


def _page_in_sql(
    engine: Engine, policy: Policy, scene: Scene, repeats: int, measured: Measured
) -> Trial:
    """The Wellbeing page from the daily table with its distributions computed in SQL,
    its output compared with the page computed from the raw ledger."""
    page = next(iter(PAGES))
    outputs = []

    def run() -> None:
        with Session(engine) as session:
            outputs.append(wellbeing_page_in_sql(session, policy, scene))
            session.rollback()

    run()  # warm-up
    ms = _median_ms(run, repeats)
    check = Check(compared=1, pages_equal=outputs[0] == measured.raw_pages[page])
    return Trial(
        DISTRIBUTIONS_IN_SQL,
        {page: ms},
        check,
        "one query for the whole page; the Lead and My day pages are as in the row above",
    )


@contextlib.contextmanager
def trial_index(engine: Engine, ddl: str, name: str) -> Iterator[float]:
    """Create an index in the bench database only, ANALYZE, and drop it afterwards."""
    t0 = time.perf_counter()
    try:
        with engine.begin() as conn:
            conn.execute(text(ddl))
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE exposure_rollup"))
        yield time.perf_counter() - t0
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP INDEX IF EXISTS "{name}"'))
