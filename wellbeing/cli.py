"""The `wellbeing` command: database, users, teams, tokens, demo and server."""

from __future__ import annotations

import getpass
import os
from pathlib import Path

import click
from alembic import command
from alembic.config import Config as AlembicConfig
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from exposure import accounts
from wellbeing.db import clock, db

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def register_cli(app: Flask) -> None:
    app.cli.add_command(db_group)
    app.cli.add_command(user_group)
    app.cli.add_command(team_group)
    app.cli.add_command(token_group)
    app.cli.add_command(policy_group)
    from wellbeing.demo import demo_command

    app.cli.add_command(demo_command)
    from wellbeing.scheduler import scheduler_command

    app.cli.add_command(scheduler_command)


@click.group("db", help="Create and migrate the database schema (Alembic).")
def db_group() -> None:
    pass


@db_group.command("upgrade")
@click.argument("revision", default="head")
@with_appcontext
def db_upgrade(revision: str) -> None:
    upgrade(current_app.config["DATABASE_URL"], revision)
    click.echo(f"database at {revision}")


@db_group.command("summaries")
@click.option("--hours", is_flag=True, help="Also recompute the hourly rollups from the ledger.")
@with_appcontext
def db_summaries(hours: bool) -> None:
    """Rebuild the daily summary tables for the policy in force now, without waiting for the
    scheduler (e.g. right after an upgrade on a large ledger). Safe while the service runs."""
    from exposure import daily
    from wellbeing.policies import policy

    pol = policy()
    steps = daily.rebuild(db.session, pol, clock().now(), hours=hours)
    db.session.commit()
    click.echo(f"summaries built for policy {pol.version} in {steps} steps")


@db_group.command("downgrade")
@click.argument("revision")
@with_appcontext
def db_downgrade(revision: str) -> None:
    command.downgrade(alembic_config(current_app.config["DATABASE_URL"]), revision)
    click.echo(f"database at {revision}")


@click.group("user", help="Manage people.")
def user_group() -> None:
    pass


@user_group.command("create")
@click.argument("username")
@click.option(
    "--role", "roles", multiple=True, required=True, help="associate, lead, wellbeing, admin"
)
@click.option("--team", default=None, help="Team name")
@click.option("--name", default=None, help="Display name")
@click.option("--password-env", default=None, help="Read the password from this env variable")
@with_appcontext
def user_create(
    username: str,
    roles: tuple[str, ...],
    team: str | None,
    name: str | None,
    password_env: str | None,
) -> None:
    password = os.environ.get(password_env or "", "") if password_env else ""
    if not password:
        password = getpass.getpass(f"Password for {username}: ")
    now = clock().now()
    try:
        team_row = accounts.team_by_name(db.session, team) if team else None
        user = accounts.create_user(
            db.session, username, password, roles, now, display_name=name, team=team_row
        )
        if team_row is not None and "lead" in roles:
            accounts.make_lead(db.session, team_row, user)
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"created user {username} ({', '.join(sorted(roles))})")


@click.group("team", help="Manage teams.")
def team_group() -> None:
    pass


@team_group.command("create")
@click.argument("name")
@with_appcontext
def team_create(name: str) -> None:
    try:
        accounts.create_team(db.session, name, clock().now())
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"created team {name}")


@click.group("token", help="Manage API tokens for the ticketing system.")
def token_group() -> None:
    pass


@token_group.command("create")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, default=("attachments:write", "attachments:read"))
@with_appcontext
def token_create(name: str, scopes: tuple[str, ...]) -> None:
    try:
        token, plaintext = accounts.create_api_token(db.session, name, scopes, clock().now())
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"token {token.id} ({token.scopes}); shown once, store it now:")
    click.echo(plaintext)


@token_group.command("revoke")
@click.argument("token_id", type=int)
@with_appcontext
def token_revoke(token_id: int) -> None:
    try:
        accounts.revoke_api_token(db.session, token_id, clock().now())
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"revoked token {token_id}")


def _create_app() -> Flask:
    from wellbeing import create_app

    return create_app()


cli = FlaskGroup(create_app=_create_app, add_default_commands=True, help="Safe-view gateway")


def main() -> None:
    cli.main(prog_name="wellbeing")


@click.group("policy", help="Check and simulate exposure policies.")
def policy_group() -> None:
    pass


@policy_group.command("check")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def policy_check(path: str) -> None:
    """Validate a policy file; list every problem with its rule and field."""
    from exposure.policy import PolicyError, parse_policy

    try:
        pol = parse_policy(Path(path).read_text(encoding="utf-8"))
    except PolicyError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"policy {pol.version}: {len(pol.rules)} rules, valid")
    for rule in pol.rules:
        actions = ", ".join(a.type for a in rule.actions)
        window = rule.window.label
        click.echo(f"  {rule.id}: {rule.metric} over {window} >= {rule.threshold:g} -> {actions}")


@policy_group.command("simulate")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--days", default=30, show_default=True, type=click.IntRange(1, 90))
@with_appcontext
def policy_simulate(path: str, days: int) -> None:
    """Replay the last DAYS of the ledger against a policy and print what it would trigger."""
    from datetime import timedelta

    from exposure.policy import PolicyError, parse_policy
    from exposure.simulate import simulate

    try:
        pol = parse_policy(Path(path).read_text(encoding="utf-8"))
    except PolicyError as exc:
        raise click.ClickException(str(exc)) from None
    end = clock().now()
    result = simulate(db.session, pol, end - timedelta(days=days), end)
    db.session.rollback()
    click.echo(
        f"policy {pol.version} over the last {days} days: "
        f"{result.events} events, {result.people} people"
    )
    click.echo("per rule:")
    for rule in pol.rules:
        click.echo(f"  {rule.id}: {result.per_rule.get(rule.id, 0)}")
    click.echo("per person:")
    for (name, rule_id), count in sorted(result.per_person.items()):
        click.echo(f"  {name}: {rule_id} x{count}")
