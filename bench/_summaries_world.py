"""The synthetic ledger bench/summaries.py measures: teams, associates, attachments and
exposure events with a realistic skew, loaded fast into SQLite (executemany) or PostgreSQL
(server-side SQL), and hourly rollups built from them with one GROUP BY."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from _pg import SetupError, scratch_database
from sqlalchemy import Connection, Engine, create_engine, insert, text
from sqlalchemy.engine import make_url

from exposure.categories import CATEGORIES
from exposure.models import Attachment, Blob, ExposureRollup, Team, TeamLead, User, UserRole
from exposure.storage import make_engine

PG_BENCH_DB = "wellbeing_bench_summaries"
SEED = 20261122

# Share of events per category ('clear' = an unflagged item, shown in colour, no dose).
CATEGORY_SHARE: dict[str, float] = {
    "clear": 20,
    "nudity": 17,
    "other": 15,
    "hate_speech": 12,
    "bullying": 10,
    "graphic_violence": 9,
    "child_abuse": 4,
    "self_harm": 4,
    "sexual_assault": 2.5,
    "suicide": 2,
    "murder": 2,
    "torture": 1.5,
    "bestiality": 1,
}
SEVERITY = {
    "clear": 0,
    "other": 1,
    "nudity": 2,
    "bullying": 2,
    "hate_speech": 3,
    "graphic_violence": 4,
    "self_harm": 4,
    "suicide": 4,
    "bestiality": 4,
    "murder": 5,
    "torture": 5,
    "sexual_assault": 5,
    "child_abuse": 5,
}
# Reveal levels: most views stay at the safe blur; items that open as a placeholder
# (and may be revealed at most to grayscale) mostly stay there.
LEVELS_SAFE_FIRST = {1: 80, 2: 10, 3: 6, 4: 4}
LEVELS_PLACEHOLDER_FIRST = {0: 55, 1: 33, 2: 8, 3: 4}
LEVELS_CLEAR = {4: 100}
MODALITY_SHARE = {"image": 80, "video": 12, "animation": 6, "audio": 2}
ATTACHMENTS_PER_CATEGORY = 50
SHIFT_HOURS = 8
SHIFT_STARTS = (6, 14, 22)  # follow-the-sun queues, UTC
MIN_DURATION, MAX_DURATION = 5.0, 600.0
DURATION_SKEW = 3  # duration = min + span * u**skew: most views are short


def level_share(category: str) -> dict[int, float]:
    if category == "clear":
        return LEVELS_CLEAR
    if CATEGORIES[category].default_level == 0:
        return LEVELS_PLACEHOLDER_FIRST
    return LEVELS_SAFE_FIRST


def _thresholds(share: Mapping[object, float]) -> list[tuple[object, float]]:
    """(value, cumulative probability) pairs; the last is exactly 1."""
    total = sum(share.values())
    out, acc = [], 0.0
    for value, weight in share.items():
        acc += weight / total
        out.append((value, acc))
    out[-1] = (out[-1][0], 1.0)
    return out


@dataclass(frozen=True)
class Clock:
    """The bench's "now": today 15:00 UTC. The ledger covers the days up to it."""

    now: datetime
    days: int

    @property
    def today(self) -> datetime:
        return self.now.replace(hour=0, minute=0, second=0, microsecond=0)

    @property
    def first_day(self) -> datetime:
        return self.today - timedelta(days=self.days - 1)


def bench_clock(days: int) -> Clock:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return Clock(today + timedelta(hours=15), days)


@dataclass
class People:
    """Associates and their habits: team, shift, weekly days off and how much they review."""

    user_ids: np.ndarray
    team_ids: np.ndarray
    weights: np.ndarray
    shift_hours: np.ndarray
    off_days: np.ndarray
    team_names: dict[int, str]
    leads: dict[int, int]  # team id -> lead's user id


def make_people(n_people: int, n_teams: int) -> People:
    rng = np.random.default_rng(SEED)
    team_ids = np.arange(1, n_teams + 1)
    # Teams of uneven size; each team works one shift and shares its days off.
    team_size_weight = rng.lognormal(0.0, 0.5, n_teams)
    member_team = rng.choice(team_ids, size=n_people, p=team_size_weight / team_size_weight.sum())
    team_shift = np.array([SHIFT_STARTS[i % len(SHIFT_STARTS)] for i in range(n_teams)])
    team_off = rng.integers(0, 7, n_teams)
    # Most people review at a similar pace, a few heavy reviewers at 3-5x.
    weights = rng.lognormal(0.0, 0.35, n_people)
    heavy = rng.random(n_people) < 0.04
    weights[heavy] *= rng.uniform(3, 5, heavy.sum())
    user_ids = np.arange(1, n_people + 1)
    lead_ids = n_people + team_ids  # one lead per team, after the associates
    return People(
        user_ids=user_ids,
        team_ids=member_team,
        weights=weights,
        shift_hours=team_shift[member_team - 1],
        off_days=team_off[member_team - 1],
        team_names={int(t): f"Queue {t:02d}" for t in team_ids},
        leads={int(t): int(u) for t, u in zip(team_ids, lead_ids, strict=True)},
    )


def insert_people(engine: Engine, people: People, clock: Clock) -> None:
    """Teams, associates (1% no longer active), one lead per team, wellbeing staff and an
    admin, with ids given explicitly so both databases hold the same people."""
    created = clock.first_day - timedelta(days=30)
    rng = np.random.default_rng(SEED + 1)
    inactive = set(rng.choice(people.user_ids, size=len(people.user_ids) // 100, replace=False))

    def user(uid: int, name: str, team: int | None, active: bool = True) -> dict[str, object]:
        return {
            "id": uid,
            "username": name,
            "display_name": name.replace("-", " ").title(),
            "email": f"{name}@bench.invalid",
            "password_hash": "!bench-no-login",
            "team_id": team,
            "active": active,
            "session_token": f"bench-{uid}",
            "failed_logins": 0,
            "created_at": created,
        }

    teams = [{"id": t, "name": n, "created_at": created} for t, n in people.team_names.items()]
    users = [
        user(int(u), f"assoc-{u:05d}", int(t), int(u) not in inactive)
        for u, t in zip(people.user_ids, people.team_ids, strict=True)
    ]
    roles = [{"user_id": int(u), "role": "associate"} for u in people.user_ids]
    for team, lead in people.leads.items():
        users.append(user(lead, f"lead-{team:02d}", team))
        roles.append({"user_id": lead, "role": "lead"})
    staff = max(people.leads.values()) + 1
    for i in range(3):
        users.append(user(staff + i, f"wellbeing-{i}", None))
        roles.append({"user_id": staff + i, "role": "wellbeing"})
    users.append(user(staff + 3, "admin-0", None))
    roles.append({"user_id": staff + 3, "role": "admin"})
    with engine.begin() as conn:
        conn.execute(insert(Team), teams)
        conn.execute(insert(User), users)
        conn.execute(insert(UserRole), roles)
        conn.execute(
            insert(TeamLead), [{"team_id": t, "user_id": u} for t, u in people.leads.items()]
        )
        if engine.dialect.name == "postgresql":
            for table in ("team", "user_account"):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )


def insert_attachments(engine: Engine, clock: Clock) -> dict[str, int]:
    """ATTACHMENTS_PER_CATEGORY items per category, ids in one block per category; returns
    the first id of each category's block."""
    created = clock.first_day - timedelta(days=1)
    sha = "0" * 64
    rows, first = [], {}
    next_id = 1
    for category in CATEGORY_SHARE:
        first[category] = next_id
        for i in range(ATTACHMENTS_PER_CATEGORY):
            rows.append(
                {
                    "id": next_id,
                    "ticket_ref": f"T-{category}",
                    "external_id": f"{category}-{i}",
                    "filename": f"{category}-{i}.jpg",
                    "media_kind": "image",
                    "format": "JPEG",
                    "mime": "image/jpeg",
                    "sha256": sha,
                    "size": 1,
                    "width": 1,
                    "height": 1,
                    "frames": 1,
                    "source_url": None,
                    "labels": [] if category == "clear" else [category],
                    "flag_state": "clear" if category == "clear" else "flagged",
                    "categories": [] if category == "clear" else [category],
                    "severity": SEVERITY[category],
                    "flag_source": None if category == "clear" else "ticket_label",
                    "created_at": created,
                    "updated_at": created,
                }
            )
            next_id += 1
    with engine.begin() as conn:
        conn.execute(
            insert(Blob), [{"sha256": sha, "size": 1, "data": b"x", "created_at": created}]
        )
        conn.execute(insert(Attachment), rows)
        if engine.dialect.name == "postgresql":
            conn.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence('attachment', 'id'), "
                    "(SELECT max(id) FROM attachment))"
                )
            )
    return first


# --- SQLite: events generated with numpy, loaded with executemany -------------------------

SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # what UTCDateTime stores on SQLite (checked at run time)


def check_sqlite_time_format(engine: Engine, clock: Clock) -> None:
    """The bench writes event times as text: check it is the text the app's column type
    stores (read back a team's created_at, written through UTCDateTime)."""
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT created_at FROM team ORDER BY id LIMIT 1")).scalar_one()
    expected = (clock.first_day - timedelta(days=30)).replace(tzinfo=None).strftime(SQLITE_TIME)
    if stored != expected:
        raise SetupError(f"unexpected SQLite time format: {stored!r}, expected {expected!r}")


def _person_days(
    people: People, clock: Clock, n_events: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each associate's working days (two days off a week, shifts cut at "now"), with the
    number of events each gets: proportional to pace x hours worked x a daily wobble, and
    summing exactly to n_events. Ordered by shift start, as a ledger fills up."""
    days = np.arange(clock.days)
    person = np.repeat(np.arange(len(people.user_ids)), clock.days)
    day = np.tile(days, len(people.user_ids))
    working = (day + people.off_days[person]) % 7 >= 2
    person, day = person[working], day[working]
    base = int(clock.first_day.timestamp())
    start = base + day * 86400 + people.shift_hours[person] * 3600
    avail = np.minimum(SHIFT_HOURS * 3600, int(clock.now.timestamp()) - start)
    keep = avail > 0
    person, start, avail = person[keep], start[keep], avail[keep]
    order = np.lexsort((people.user_ids[person], start))
    person, start, avail = person[order], start[order], avail[order]
    share = people.weights[person] * avail * rng.uniform(0.7, 1.3, len(person))
    cum = np.cumsum(share)
    cum = np.round(cum / cum[-1] * n_events)
    counts = np.diff(np.concatenate(([0], cum))).astype(np.int64)
    return person, start, avail, counts


def _pick(rng: np.random.Generator, share: Mapping[object, float], n: int) -> np.ndarray:
    values = list(share)
    p = np.array([share[v] for v in values], dtype=float)
    return np.array(values, dtype=object)[rng.choice(len(values), size=n, p=p / p.sum())]


def _sqlite_rows(
    people: People, clock: Clock, n_events: int, first_attachment: dict[str, int]
) -> Iterator[list[tuple[object, ...]]]:
    rng = np.random.default_rng(SEED + 2)
    person, start, avail, counts = _person_days(people, clock, n_events, rng)
    chunk_days = 20_000
    done = 0
    for lo in range(0, len(counts), chunk_days):
        c = counts[lo : lo + chunk_days]
        n = int(c.sum())
        if n == 0:
            continue
        idx = np.repeat(np.arange(lo, lo + len(c)), c)
        g = np.arange(n) - np.repeat(np.cumsum(c) - c, c) + 1  # 1..count within the day
        offset = avail[idx] * (g - rng.random(n)) / counts[idx]
        started_us = start[idx] * 1_000_000 + np.floor(offset * 1e6).astype(np.int64)
        duration = np.round(
            MIN_DURATION + (MAX_DURATION - MIN_DURATION) * rng.random(n) ** DURATION_SKEW, 6
        )
        seen_us = started_us + np.round(duration * 1e6).astype(np.int64)
        category = _pick(rng, CATEGORY_SHARE, n)
        level = np.empty(n, dtype=np.int64)
        for name in CATEGORY_SHARE:
            mask = category == name
            level[mask] = _pick(rng, level_share(name), int(mask.sum())).astype(np.int64)
        modality = _pick(rng, MODALITY_SHARE, n)
        severity = np.array([SEVERITY[c] for c in category])
        attachment = np.array([first_attachment[c] for c in category]) + rng.integers(
            0, ATTACHMENTS_PER_CATEGORY, n
        )
        fmt = np.char.replace(
            np.datetime_as_string(started_us.astype("datetime64[us]"), unit="us"), "T", " "
        )
        seen = np.char.replace(
            np.datetime_as_string(seen_us.astype("datetime64[us]"), unit="us"), "T", " "
        )
        yield list(
            zip(
                people.user_ids[person[idx]].tolist(),
                attachment.tolist(),
                [f"e{done + i}" for i in range(n)],
                category.tolist(),
                severity.tolist(),
                level.tolist(),
                modality.tolist(),
                fmt.tolist(),
                seen.tolist(),
                duration.tolist(),
                strict=True,
            )
        )
        done += n


def fill_sqlite(path: Path, people: People, clock: Clock, n_events: int) -> float:
    """Load the events with executemany in big transactions, durability off for the load
    only; secondary indexes are dropped during the load and rebuilt after. Returns seconds."""
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    try:
        insert_people(engine, people, clock)
        first = insert_attachments(engine, clock)
        check_sqlite_time_format(engine, clock)
    finally:
        engine.dispose()
    t0 = time.perf_counter()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-262144")
        indexes = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type='index' AND tbl_name='exposure_event'"
            " AND sql IS NOT NULL"
        ).fetchall()
        for name, _sql in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        statement = (
            "INSERT INTO exposure_event (user_id, attachment_id, client_event_id, category, "
            "severity, level, modality, started_at, last_seen_at, duration_seconds) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )
        for rows in _sqlite_rows(people, clock, n_events, first):
            conn.execute("BEGIN")
            conn.executemany(statement, rows)
            conn.execute("COMMIT")
        for _name, sql in indexes:
            conn.execute(sql)
    finally:
        conn.close()
    return time.perf_counter() - t0


# --- PostgreSQL: events generated by the server ------------------------------------------


def postgres_database() -> contextlib.AbstractContextManager[str]:
    """A fresh bench database on the PostgreSQL server, dropped afterwards."""
    return scratch_database(PG_BENCH_DB, "run with --pg-events 0")


def _case(column: str, share: Mapping[object, float], quote: bool) -> str:
    """SQL picking a value by a uniform random `column`, with the given shares."""

    def literal(value: object) -> str:
        return repr(str(value)) if quote else str(value)

    steps = _thresholds(share)
    if len(steps) == 1:
        return literal(steps[0][0])
    parts = " ".join(f"WHEN {column} < {p!r} THEN {literal(v)}" for v, p in steps[:-1])
    return f"CASE {parts} ELSE {literal(steps[-1][0])} END"


def _events_sql(first_attachment: dict[str, int]) -> str:
    level = (
        "CASE "
        + " ".join(
            f"WHEN category = '{name}' THEN {_case('rl', level_share(name), quote=False)}"
            for name in CATEGORY_SHARE
        )
        + " END"
    )
    severity = (
        "CASE category "
        + " ".join(f"WHEN '{name}' THEN {SEVERITY[name]}" for name in CATEGORY_SHARE)
        + " END"
    )
    first = (
        "CASE category "
        + " ".join(f"WHEN '{name}' THEN {first_attachment[name]}" for name in CATEGORY_SHARE)
        + " END"
    )
    span = MAX_DURATION - MIN_DURATION
    return f"""
INSERT INTO exposure_event (user_id, attachment_id, client_event_id, category, severity,
    level, region, modality, started_at, last_seen_at, duration_seconds)
SELECT user_id, {first} + floor(ra * {ATTACHMENTS_PER_CATEGORY})::int, client_event_id,
    category, {severity}, {level}, NULL, modality, started_at,
    started_at + duration * interval '1 second', duration
FROM (
    SELECT user_id, client_event_id, started_at, rl, ra,
        {_case("rc", CATEGORY_SHARE, quote=True)} AS category,
        {_case("rm", MODALITY_SHARE, quote=True)} AS modality,
        round(({MIN_DURATION} + {span} * power(rd, {DURATION_SKEW}))::numeric, 6)::float8
            AS duration
    FROM (
        SELECT d.user_id, 'e' || d.day_no || '-' || g AS client_event_id,
            d.shift_start + d.avail * ((g - random()) / d.n) * interval '1 second'
                AS started_at,
            random() AS rc, random() AS rl, random() AS rm, random() AS rd, random() AS ra
        FROM (SELECT * FROM bench_day WHERE n > 0 ORDER BY shift_start, user_id) d
        CROSS JOIN LATERAL generate_series(1, d.n) AS g
    ) raw
) e
"""


def _person_days_sql() -> str:
    """As _person_days, computed by the server."""
    return f"""
CREATE TEMP TABLE bench_day AS
WITH d AS (
    SELECT p.user_id, p.weight, k AS day_no,
        CAST(:first_day AS timestamptz) + k * interval '1 day' + p.shift_hour * interval '1 hour'
            AS shift_start
    FROM bench_person p CROSS JOIN generate_series(0, :days - 1) AS k
    WHERE (k + p.off_day) % 7 >= 2
), a AS (
    SELECT *, least({SHIFT_HOURS * 3600},
        extract(epoch FROM CAST(:now AS timestamptz) - shift_start))::float8 AS avail
    FROM d
), w AS MATERIALIZED (
    SELECT *, weight * avail * (0.7 + 0.6 * random()) AS share FROM a WHERE avail > 0
), c AS (
    SELECT *, sum(share) OVER (ORDER BY shift_start, user_id ROWS UNBOUNDED PRECEDING) AS cum
    FROM w
), t AS (
    SELECT *, coalesce(lag(cum) OVER (ORDER BY shift_start, user_id), 0) AS before,
        max(cum) OVER () AS total
    FROM c
)
-- Rounded cumulative shares telescope: the counts sum to exactly :n.
SELECT user_id, day_no, shift_start, avail,
    (round(cum / total * :n) - round(before / total * :n))::int AS n
FROM t ORDER BY shift_start, user_id
"""


def _index_ddl(conn: Connection, table: str, *, primary_key: bool) -> list[tuple[str, str]]:
    """(drop, create) statements for the table's indexes and unique constraints (and its
    primary key if asked: only for a table no foreign key points at)."""
    kinds = ("u", "p") if primary_key else ("u",)
    rows = conn.execute(
        text(
            "SELECT i.indexname, i.indexdef, c.conname, pg_get_constraintdef(c.oid), c.contype "
            "FROM pg_indexes i LEFT JOIN pg_constraint c "
            "ON c.conname = i.indexname AND c.conrelid = CAST(CAST(:t AS text) AS regclass) "
            "WHERE i.tablename = CAST(:t AS text)"
        ),
        {"t": table},
    ).all()
    out = []
    for index, indexdef, constraint, condef, kind in rows:
        if constraint is None:
            out.append((f'DROP INDEX "{index}"', indexdef))
        elif kind in kinds:
            out.append(
                (
                    f'ALTER TABLE {table} DROP CONSTRAINT "{constraint}"',
                    f'ALTER TABLE {table} ADD CONSTRAINT "{constraint}" {condef}',
                )
            )
    return out


def fill_postgres(url: str, people: People, clock: Clock, n_events: int) -> float:
    """Generate the events with one INSERT ... SELECT from generate_series; foreign-key
    triggers are off and secondary indexes dropped during the load, rebuilt after."""
    engine = make_engine(url)
    try:
        insert_people(engine, people, clock)
        first = insert_attachments(engine, clock)
        t0 = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL TIME ZONE 'UTC'"))
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(text("SET LOCAL synchronous_commit = off"))
            conn.execute(text("SET LOCAL work_mem = '256MB'"))
            conn.execute(text("SET LOCAL maintenance_work_mem = '1GB'"))
            conn.execute(text("SELECT setseed(0.4242)"))
            conn.execute(
                text(
                    "CREATE TEMP TABLE bench_person (user_id int, weight float8, "
                    "shift_hour int, off_day int) ON COMMIT DROP"
                )
            )
            conn.execute(
                text("INSERT INTO bench_person VALUES (:u, :w, :s, :o)"),
                [
                    {"u": int(u), "w": float(w), "s": int(s), "o": int(o)}
                    for u, w, s, o in zip(
                        people.user_ids,
                        people.weights,
                        people.shift_hours,
                        people.off_days,
                        strict=True,
                    )
                ],
            )
            conn.execute(
                text(_person_days_sql()),
                {"first_day": clock.first_day, "days": clock.days, "now": clock.now, "n": n_events},
            )
            ddl = _index_ddl(conn, "exposure_event", primary_key=False)
            for drop, _create in ddl:
                conn.execute(text(drop))
            conn.execute(text(_events_sql(first)))
            for _drop, create in ddl:
                conn.execute(text(create))
            conn.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence('exposure_event', 'id'), "
                    "(SELECT max(id) FROM exposure_event))"
                )
            )
            conn.execute(text("DROP TABLE bench_day"))
    finally:
        engine.dispose()
    return time.perf_counter() - t0


# --- Rollups and statistics --------------------------------------------------------------


def build_rollups(url: str, floor: float) -> float:
    """Rebuild exposure_rollup from the raw table with one INSERT ... SELECT ... GROUP BY,
    in hour order as the ledger would have filled it. Returns seconds."""
    engine = make_engine(url)
    postgres = engine.dialect.name == "postgresql"
    hour = (
        "date_trunc('hour', started_at)"
        if postgres
        else "strftime('%Y-%m-%d %H:00:00.000000', started_at)"
    )
    floored = "greatest(duration_seconds, :floor)" if postgres else "max(duration_seconds, :floor)"
    t0 = time.perf_counter()
    try:
        with engine.begin() as conn:
            ddl: list[tuple[str, str]] = []
            if postgres:
                conn.execute(text("SET LOCAL TIME ZONE 'UTC'"))
                conn.execute(text("SET LOCAL work_mem = '512MB'"))
                conn.execute(text("SET LOCAL maintenance_work_mem = '1GB'"))
                conn.execute(text("SET LOCAL synchronous_commit = off"))
                ddl = _index_ddl(conn, ExposureRollup.__tablename__, primary_key=True)
            conn.execute(text(f"DELETE FROM {ExposureRollup.__tablename__}"))
            for drop, _create in ddl:
                conn.execute(text(drop))
            conn.execute(
                text(
                    f"INSERT INTO {ExposureRollup.__tablename__} (user_id, hour_start, category,"
                    " level, modality, events, seconds, floored_seconds) "
                    f"SELECT user_id, {hour} AS hour, category, level, modality, count(*),"
                    f" sum(duration_seconds), sum({floored}) FROM exposure_event"
                    " GROUP BY user_id, hour, category, level, modality ORDER BY hour, user_id"
                ),
                {"floor": floor},
            )
            for _drop, create in ddl:
                conn.execute(text(create))
    finally:
        engine.dispose()
    return time.perf_counter() - t0


def analyze(url: str) -> float:
    """VACUUM ANALYZE on PostgreSQL (as autovacuum would have done), ANALYZE on SQLite."""
    t0 = time.perf_counter()
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text("VACUUM ANALYZE"))
        finally:
            engine.dispose()
    else:
        conn = sqlite3.connect(str(parsed.database), isolation_level=None)
        try:
            conn.execute("ANALYZE")
        finally:
            conn.close()
    return time.perf_counter() - t0


def table_sizes(url: str) -> dict[str, tuple[int, int]]:
    """Rows and on-disk bytes (table plus its indexes) of the ledger and the rollups."""
    engine = make_engine(url)
    out = {}
    try:
        with engine.connect() as conn:
            for table in (
                "exposure_event",
                "exposure_rollup",
                "exposure_day",
                "exposure_week",
                "exposure_week_category",
            ):
                rows = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                if engine.dialect.name == "postgresql":
                    size = conn.execute(
                        text("SELECT pg_total_relation_size(:t)"), {"t": table}
                    ).scalar_one()
                else:
                    size = conn.execute(
                        text(
                            "SELECT sum(pgsize) FROM dbstat WHERE name = :t OR name IN "
                            "(SELECT name FROM sqlite_master WHERE type='index' AND tbl_name=:t)"
                        ),
                        {"t": table},
                    ).scalar_one()
                out[table] = (int(rows), int(size or 0))
    finally:
        engine.dispose()
    return out
