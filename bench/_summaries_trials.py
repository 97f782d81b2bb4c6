"""Other ways of answering `exposure.summaries.totals`, prototyped in the bench database
only, so bench/summaries.py can measure what an app change would buy:

- weights in SQL: the same hourly rollups, but dose, graphic minutes and reveals summed by
  the database, one row per person instead of one per person, category, level and modality;
- a daily table: per person per day, weighted with the policy when written (as
  floored_seconds already bakes in min_event_seconds), rebuilt when a policy is activated;
- the Wellbeing page's distributions computed by the database from that table.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime

from _summaries_pages import Scene, weekly_dose_cap
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from exposure.policy import Policy
from exposure.summaries import Totals

DAILY_TABLE = "bench_exposure_daily"


def _float(value: float) -> str:
    return f"CAST({float(value)!r} AS DOUBLE PRECISION)"


def weight_sql(policy: Policy) -> str:
    """`exposure.summaries._weight` as SQL, multiplied in the same order."""
    cats = " ".join(f"WHEN '{n}' THEN {_float(r.weight)}" for n, r in policy.categories.items())
    levels = " ".join(f"WHEN {k} THEN {_float(v)}" for k, v in policy.level_factors.items())
    mods = " ".join(f"WHEN '{k}' THEN {_float(v)}" for k, v in policy.modality_factors.items())
    one = _float(1.0)
    return (
        f"(CASE WHEN category = 'clear' THEN {_float(0.0)} "
        f"ELSE (CASE category {cats} ELSE {one} END) "
        f"* (CASE level {levels} ELSE {one} END) "
        f"* (CASE modality {mods} ELSE {one} END) END)"
    )


GRAPHIC = "category <> 'clear' AND level >= 2"


def _filters(
    user_ids: Iterable[int] | None, categories: Iterable[str] | None
) -> tuple[str, dict[str, object]]:
    sql, params = "", {}
    if user_ids is not None:
        sql += " AND user_id = ANY(:user_ids)"
        params["user_ids"] = list(user_ids)
    if categories is not None:
        sql += " AND category = ANY(:categories)"
        params["categories"] = list(categories)
    return sql, params


def _collect(session: Session, sql: str, params: dict[str, object]) -> dict[int, Totals]:
    return {
        user_id: Totals(float(dose), float(graphic), int(reveals), int(events))
        for user_id, events, dose, graphic, reveals in session.execute(text(sql), params).all()
    }


def totals_weighted_in_sql(
    session: Session,
    policy: Policy,
    start: datetime,
    end: datetime,
    *,
    user_ids: Iterable[int] | None = None,
    categories: Iterable[str] | None = None,
) -> dict[int, Totals]:
    """As `totals`, with the weighting done by the database."""
    where, params = _filters(user_ids, categories)
    sql = (
        f"SELECT user_id, sum(events), sum(floored_seconds / 60 * {weight_sql(policy)}), "
        f"sum(CASE WHEN {GRAPHIC} THEN floored_seconds / 60 ELSE 0 END), "
        f"sum(CASE WHEN {GRAPHIC} THEN events ELSE 0 END) "
        "FROM exposure_rollup WHERE hour_start >= :start AND hour_start < :end"
        f"{where} GROUP BY user_id"
    )
    return _collect(session, sql, {"start": start, "end": end, **params})


def build_daily(engine: Engine, policy: Policy) -> float:
    """The daily table, from the hourly rollups (what activating a policy would rerun)."""
    t0 = time.perf_counter()
    tz = policy.timezone.key
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL work_mem = '256MB'"))
        conn.execute(text(f"DROP TABLE IF EXISTS {DAILY_TABLE}"))
        conn.execute(
            text(
                f"CREATE TABLE {DAILY_TABLE} (user_id int NOT NULL, day_start timestamptz "
                "NOT NULL, events int NOT NULL, dose_minutes float8 NOT NULL, graphic_minutes "
                "float8 NOT NULL, reveals int NOT NULL, PRIMARY KEY (user_id, day_start))"
            )
        )
        conn.execute(
            text(
                f"INSERT INTO {DAILY_TABLE} SELECT user_id, "
                f"date_trunc('day', hour_start, '{tz}') AS day, sum(events), "
                f"sum(floored_seconds / 60 * {weight_sql(policy)}), "
                f"sum(CASE WHEN {GRAPHIC} THEN floored_seconds / 60 ELSE 0 END), "
                f"sum(CASE WHEN {GRAPHIC} THEN events ELSE 0 END) "
                "FROM exposure_rollup GROUP BY user_id, day ORDER BY day, user_id"
            )
        )
        conn.execute(text(f"CREATE INDEX ix_{DAILY_TABLE}_day ON {DAILY_TABLE} (day_start)"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"VACUUM ANALYZE {DAILY_TABLE}"))
    return time.perf_counter() - t0


def drop_daily(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {DAILY_TABLE}"))


def daily_rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {DAILY_TABLE}")).scalar_one())


def totals_from_daily(
    session: Session,
    policy: Policy,
    start: datetime,
    end: datetime,
    *,
    user_ids: Iterable[int] | None = None,
    categories: Iterable[str] | None = None,
) -> dict[int, Totals]:
    """As `totals`, from the daily table: whole days (in the policy's time zone) only."""
    for instant in (start, end):
        local = instant.astimezone(policy.timezone)
        if (local.hour, local.minute, local.second, local.microsecond) != (0, 0, 0, 0):
            raise ValueError(f"the daily table answers for whole days only, not {instant}")
    if categories is not None:
        raise ValueError("the daily table has no per-category split")
    where, params = _filters(user_ids, None)
    sql = (
        "SELECT user_id, sum(events), sum(dose_minutes), sum(graphic_minutes), sum(reveals) "
        f"FROM {DAILY_TABLE} WHERE day_start >= :start AND day_start < :end{where} "
        "GROUP BY user_id"
    )
    return _collect(session, sql, {"start": start, "end": end, **params})


def wellbeing_page_in_sql(session: Session, policy: Policy, scene: Scene) -> object:
    """The Wellbeing "Exposure" page's output (as `_summaries_pages.wellbeing_page`) in one
    query on the daily table: medians, p90s and counts over the cap computed by the
    database (percentile_cont interpolates as `exposure.summaries.percentile` does), so
    ~80 rows travel instead of 27,000 per-person totals."""
    windows = [scene.week, *scene.weeks]  # 0: this week per team; 1..: the trend
    values = ", ".join(
        f"({k}, CAST(:s{k} AS timestamptz), CAST(:e{k} AS timestamptz))"
        for k in range(len(windows))
    )
    params: dict[str, object] = {"cap": weekly_dose_cap(policy)}
    for k, (start, end) in enumerate(windows):
        params[f"s{k}"], params[f"e{k}"] = start, end
    sql = f"""
WITH w(k, s, e) AS (VALUES {values}),
people AS (
    SELECT u.id AS user_id, u.team_id FROM user_account u
    JOIN user_role r ON r.user_id = u.id AND r.role = 'associate' WHERE u.active
),
per_week AS (
    SELECT d.user_id, w.k, sum(d.dose_minutes) AS dose, sum(d.graphic_minutes) AS graphic
    FROM {DAILY_TABLE} d JOIN w ON d.day_start >= w.s AND d.day_start < w.e
    GROUP BY d.user_id, w.k
),
grid AS (
    SELECT p.team_id, w.k, coalesce(x.dose, 0) AS dose, coalesce(x.graphic, 0) AS graphic
    FROM people p CROSS JOIN w LEFT JOIN per_week x ON x.user_id = p.user_id AND x.k = w.k
)
SELECT k, CASE WHEN k = 0 THEN team_id END AS team, count(*),
    percentile_cont(0.5) WITHIN GROUP (ORDER BY dose),
    percentile_cont(0.9) WITHIN GROUP (ORDER BY dose),
    count(*) FILTER (WHERE dose >= CAST(:cap AS float8)),
    percentile_cont(0.5) WITHIN GROUP (ORDER BY graphic),
    percentile_cont(0.9) WITHIN GROUP (ORDER BY graphic)
FROM grid GROUP BY 1, 2 ORDER BY 1, 2
"""
    teams, trend = {}, []
    for k, team, n, med, p90, over, gmed, gp90 in session.execute(text(sql), params).all():
        row = ((n, round(med, 2), round(p90, 2), over), (n, round(gmed, 2), round(gp90, 2), 0))
        if k == 0:
            teams[team] = row
        else:
            trend.append(row)
    return (teams, trend)
