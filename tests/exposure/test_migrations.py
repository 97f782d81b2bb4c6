"""Migrations go up and down on SQLite and PostgreSQL, and the models do not drift from them."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from exposure.models import Base
from exposure.storage import make_engine
from wellbeing.cli import alembic_config


def test_models_match_the_latest_migration(any_db_url):
    engine = make_engine(any_db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_downgrade_to_base_and_up_again(any_db_url):
    cfg = alembic_config(any_db_url)
    command.downgrade(cfg, "base")
    engine = make_engine(any_db_url)
    assert "exposure_event" not in inspect(engine).get_table_names()
    command.upgrade(cfg, "head")
    assert "exposure_event" in inspect(engine).get_table_names()
    engine.dispose()
