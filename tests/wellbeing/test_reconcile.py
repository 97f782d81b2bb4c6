"""The reconciler pass: time-based rules, ended breaks, periodic check-ins and overdue
escalation, each exactly once however often it runs."""

from __future__ import annotations

from sqlalchemy import func, select

from exposure import ledger
from exposure.models import Alert, Attachment, Break, CheckIn, SchedulerHeartbeat
from wellbeing.reconcile import run_once


def _count(app, model, *where):
    with app.app_context():
        from wellbeing.db import db

        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _work_continuously(app, clock, user_id, att_id, minutes):
    """An associate viewing sensitive items with heartbeats, without a long pause."""
    with app.app_context():
        from wellbeing.db import db

        att = db.session.get(Attachment, att_id)
        for i in range(minutes // 5):
            eid = f"evt-run-{i:04d}"
            ledger.record_view(
                db.session,
                user_id,
                att,
                level=1,
                region=None,
                modality="image",
                client_event_id=eid,
                now=clock.now(),
            )
            for _ in range(5):
                clock.advance(seconds=60)
                ledger.heartbeat(
                    db.session, user_id, eid, clock.now(), grace_seconds=90, cap_seconds=3600
                )
        db.session.commit()


def test_hourly_break_fires_from_the_reconciler_once(app, world, clock):
    uid = world.user("ana", "associate")
    att = world.attachment(severity=2)
    _work_continuously(app, clock, uid, att, minutes=45)
    run_once(app)
    assert _count(app, Break) == 0  # 45 minutes: not yet
    _work_continuously(app, clock, uid, att, minutes=10)
    report = run_once(app)
    assert f"{uid}:hourly-break" in report.fired
    assert _count(app, Break, Break.kind == "enforced") == 1
    run_once(app)
    run_once(app)
    assert _count(app, Break) == 1
    with app.app_context():
        from wellbeing.db import db

        brk = db.session.scalars(select(Break)).one()
        assert (brk.ends_at - brk.starts_at).total_seconds() == 600
        assert db.session.get(SchedulerHeartbeat, "reconciler") is not None


def test_periodic_checkins_and_overdue_escalation_happen_once(app, world, clock):
    uid = world.user("ana", "associate")
    world.user("wes", "wellbeing")
    world.user("lee", "lead")  # not an associate: no check-in
    run_once(app)
    run_once(app)
    assert _count(app, CheckIn) == 1
    assert _count(app, CheckIn, CheckIn.user_id == uid) == 1
    clock.advance(hours=5)
    run_once(app)
    assert _count(app, CheckIn, CheckIn.reminded_at.is_not(None)) == 1
    clock.advance(hours=24 + 24 + 1)  # due in 24 h, escalated 24 h after that
    run_once(app)
    run_once(app)
    assert _count(app, Alert, Alert.kind == "checkin_overdue") == 1


def test_ended_breaks_are_completed(app, world, clock):
    from exposure import breaks

    uid = world.user("ana", "associate")
    with app.app_context():
        from wellbeing.db import db

        breaks.start_break(db.session, uid, "enforced", clock.now(), minutes=5)
        db.session.commit()
    clock.advance(minutes=6)
    assert run_once(app).breaks_completed == 1
    assert _count(app, Break, Break.status == "completed") == 1


def test_reconciler_builds_daily_summaries_once_the_policy_has_settled(app, world, clock):
    """The wellbeing page's daily tables are built by the scheduler, after the policy in
    force has been seen for a while; until then pages read the hourly rollups."""
    from datetime import timedelta

    from exposure import daily, summaries
    from wellbeing.db import db
    from wellbeing.policies import policy

    uid = world.user("ana", "associate")
    att = world.attachment(severity=3)
    _work_continuously(app, clock, uid, att, minutes=20)
    clock.advance(seconds=3600)
    assert run_once(app).summaries == "pending"
    with app.app_context():
        assert daily.source_for(db.session, policy()) is daily.Source.HOURS
    clock.advance(seconds=daily.SETTLE.total_seconds() + 1)
    assert run_once(app).summaries == "complete"
    assert run_once(app).summaries == "current"
    with app.app_context():
        pol = policy()
        assert daily.source_for(db.session, pol) is daily.Source.DAYS
        basis = daily.Basis.of(pol)
        today = basis.day_of(clock.now())
        start, end = basis.start_of(today - timedelta(days=1)), basis.start_of(today + timedelta(1))
        found = summaries.totals(db.session, pol, start, end)[uid]
        raw = summaries.totals_from_ledger(db.session, pol, start, end)[uid]
        assert found.events == raw.events == 4
        assert abs(found.dose - raw.dose) < 1e-9 and found.dose > 0


def test_db_summaries_command_builds_the_daily_tables(app, world, clock, runner):
    from exposure import daily
    from wellbeing.db import db
    from wellbeing.policies import policy

    uid = world.user("ana", "associate")
    _work_continuously(app, clock, uid, world.attachment(severity=3), minutes=10)
    result = runner.invoke(args=["db", "summaries"])
    assert result.exit_code == 0, result.output
    assert "summaries built for policy" in result.output
    with app.app_context():
        assert daily.source_for(db.session, policy()) is daily.Source.DAYS
