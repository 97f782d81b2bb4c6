"""Nothing lost, nothing doubled: concurrent reveals with retries give exact ledger counts."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from exposure.models import ExposureEvent, RevealGrant
from tests.conftest import Auth, World, make_app

THREADS = 8
REVEALS = 100


def test_concurrent_reveals_with_retries_are_exact(any_db_url, tmp_path, clock):
    app = make_app(any_db_url, tmp_path, clock)
    world = World(app, clock)
    users = [world.user(f"user{i}", "associate") for i in range(THREADS)]
    # Low severity, so the default policy's burst rule does not send everyone on a break.
    att = world.attachment(severity=2)
    start = threading.Barrier(THREADS)

    def work(i: int) -> list[int]:
        client = app.test_client()
        auth = Auth(client)
        auth.login(f"user{i}")
        token = auth.csrf()
        statuses = []
        start.wait()
        for n in range(REVEALS):
            form = {"level": "3", "client_event_id": f"evt-{i}-{n:04d}"}
            # Every reveal is sent twice, as a client retrying after a lost answer would.
            for _ in range(2):
                r = client.post(f"/view/{att}/reveal", data=form, headers={"X-CSRFToken": token})
                statuses.append(r.status_code)
        return statuses

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(work, range(THREADS)))

    assert all(s == 200 for statuses in results for s in statuses)
    with app.app_context():
        from wellbeing.db import db

        total = db.session.scalar(select(func.count()).select_from(ExposureEvent))
        per_user = dict(
            db.session.execute(
                select(ExposureEvent.user_id, func.count()).group_by(ExposureEvent.user_id)
            ).all()
        )
        grants = db.session.scalar(select(func.count()).select_from(RevealGrant))
        db.session.close()
        db.dispose()
    assert total == THREADS * REVEALS
    assert per_user == {uid: REVEALS for uid in users}
    assert grants == THREADS * REVEALS * 2
