"""The admin pages in a real Chromium: an invalid policy shows its problems rule by rule, a
valid one is simulated and activated, an API token is shown once and then only by its
prefix, and people and teams are managed through the forms. Screenshots of every admin page
land in test-artifacts/ (admin-*.png) for a human to look at."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from exposure import accounts
from exposure.models import ApiToken, ExposureEvent, PolicyVersion, User
from tests.conftest import PASSWORD, World, make_app
from tests.wellbeing.browser_fixtures import chromium, serve
from tests.wellbeing.test_admin import BROKEN, STRICT
from wellbeing import policies
from wellbeing.clock import FakeClock
from wellbeing.db import db

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as found:
        yield found


@pytest.fixture
def live(db_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[tuple[str, Any, World]]:
    app = make_app(db_url, tmp_path, clock)
    world = World(app, clock)
    team = world.team("Queue A")
    world.team("Queue B")
    world.user("root", "admin")
    world.user("ana", "associate", team_id=team)
    world.user("lee", "lead", "associate", team_id=team, lead_of=True)
    try:
        with serve(app) as url:
            yield url, app, world
    finally:
        with app.app_context():
            db.dispose()


@pytest.fixture
def page(browser: Any, live: tuple[str, Any, World]) -> Iterator[Any]:
    context = browser.new_context(base_url=live[0], viewport={"width": 1100, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto("/admin")
    page.wait_for_url(re.compile(r"/login\?next="))
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live[0]}/admin")
    yield page
    context.close()


def screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"admin-{name}.png", full_page=True)


def test_invalid_policy_shows_problems_per_rule_then_a_valid_one_is_simulated_and_activated(
    page: Any, live: tuple[str, Any, World], clock: FakeClock
) -> None:
    url, app, world = live
    # A little ledger for the simulation: ana revealed twice yesterday.
    att = world.attachment()
    with app.app_context():
        ana = db.session.scalar(select(User).where(User.username == "ana"))
        for n in range(2):
            at = clock.now() - timedelta(days=1, minutes=n * 5)
            db.session.add(
                ExposureEvent(
                    user_id=ana.id,
                    attachment_id=att,
                    client_event_id=f"seed-{n:04d}",
                    category="graphic_violence",
                    severity=4,
                    level=3,
                    modality="image",
                    started_at=at,
                    last_seen_at=at + timedelta(seconds=30),
                    duration_seconds=30,
                )
            )
        db.session.commit()

    assert page.get_by_role("heading", name="Admin").is_visible()
    assert page.locator("#policy-version").inner_text() == "default-2026-11"
    screenshot(page, "overview")

    page.get_by_role("navigation", name="Admin").get_by_role("link", name="Policy").click()
    page.wait_for_url(f"{url}/admin/policy")
    assert "The default policy shipped" in page.locator("#policy-source").inner_text()
    assert page.locator("table.rules tbody tr").count() == 6
    screenshot(page, "policy")

    # Invalid: every problem, under the rule it belongs to; nothing stored.
    page.get_by_label("Paste TOML").fill(BROKEN)
    page.get_by_role("button", name="Check and upload").click()
    problems = page.locator("#problems")
    problems.wait_for()
    assert page.get_by_role("heading", name="This policy was not saved").is_visible()
    titles = problems.locator(".problem-group h2").all_inner_texts()
    assert titles == ["Top level", "Rule 1: too-fast", "Rule 2: no-words"]
    too_fast = problems.locator('.problem-group[data-rule="too-fast"] li').all_inner_texts()
    assert too_fast == [
        "window: must be 'rolling <N>m', 'rolling <N>h', 'shift', 'day' or 'week', "
        "got 'rolling 5 fortnights'",
        "threshold: must be > 0 and <= 1e+09, got -1",
        "actions[0].minutes: a break needs its length in minutes",
    ]
    assert 'window = "rolling 5 fortnights"' in page.get_by_label("Paste TOML").input_value()
    screenshot(page, "policy-invalid")
    with app.app_context():
        assert db.session.scalars(select(PolicyVersion)).all() == []

    # Valid: stored as a version, simulated over the last days, then activated.
    page.get_by_label("Paste TOML").fill(STRICT)
    page.get_by_role("button", name="Check and upload").click()
    page.wait_for_url(re.compile(r"/admin/policy/\d+$"))
    assert "Not active yet" in page.locator("main").inner_text()
    page.get_by_label("Days").fill("3")
    page.get_by_role("button", name="Simulate").click()
    page.wait_for_url(re.compile(r"/simulate\?days=3$"))
    summary = page.locator("#sim-summary").inner_text()
    assert summary == "Policy strict-1 over the last 3 days: 2 events, 1 person."
    assert page.locator("#per-rule tbody tr").all_inner_texts() == ["any-reveal\t1"]
    assert page.locator("#per-person tbody tr").all_inner_texts() == ["ana\tany-reveal\t1"]
    screenshot(page, "policy-simulated")

    page.get_by_role("button", name="Activate strict-1").click()
    page.wait_for_url(f"{url}/admin/policy")
    assert page.get_by_role("heading", name="Policy in force: strict-1").is_visible()
    assert "From the database: version #" in page.locator("#policy-source").inner_text()
    screenshot(page, "policy-activated")
    with app.app_context():
        assert policies.policy().version == "strict-1"

    # And back: the file policy (here the shipped default) is in force again.
    assert "default policy shipped" in page.locator("#use-file").inner_text()
    page.get_by_role("button", name="Use the policy file instead").click()
    page.wait_for_url(f"{url}/admin/policy")
    assert page.get_by_role("heading", name="Policy in force: default-2026-11").is_visible()
    assert page.locator("#use-file").count() == 0
    with app.app_context():
        assert policies.policy().version == "default-2026-11"


def test_a_token_is_shown_once_then_only_its_prefix(
    page: Any, live: tuple[str, Any, World], clock: FakeClock
) -> None:
    url, app, _ = live
    page.get_by_role("navigation", name="Admin").get_by_role("link", name="API tokens").click()
    page.get_by_label("Name (who uses it)").fill("ticketing")
    page.get_by_label("attachments:read").check()
    page.get_by_label("attachments:write").check()
    page.get_by_role("button", name="Create token").click()
    page.get_by_role("heading", name="Token created").wait_for()
    plaintext = page.locator("#plaintext").input_value()
    assert plaintext.startswith("svg_")
    assert "only time it is shown" in page.locator("main").inner_text()
    screenshot(page, "token-created")
    with app.app_context():
        token = accounts.token_for(db.session, plaintext, clock.now())
        assert token is not None and token.scopes == "attachments:read attachments:write"
        db.session.rollback()

    page.get_by_role("link", name="Back to API tokens").click()
    page.wait_for_url(f"{url}/admin/tokens")
    assert plaintext not in page.content()
    row = page.locator("#tokens tbody tr").first
    assert row.locator("code").inner_text() == plaintext[:10] + "…"
    assert "never" in row.inner_text()
    screenshot(page, "tokens")

    # Reloading the list or the overview never brings it back.
    page.goto("/admin")
    assert plaintext not in page.content()

    page.goto("/admin/tokens")
    page.get_by_role("button", name=f"Revoke ticketing ({plaintext[:10]})").click()
    page.wait_for_url(f"{url}/admin/tokens")
    assert "revoked" in page.locator("#tokens tbody tr").first.inner_text()
    with app.app_context():
        assert db.session.scalars(select(ApiToken)).one().revoked_at is not None


def test_people_and_teams_are_managed_through_the_forms(
    page: Any, live: tuple[str, Any, World]
) -> None:
    url = live[0]
    page.get_by_role("navigation", name="Admin").get_by_role("link", name="People").click()
    page.wait_for_url(f"{url}/admin/users")
    form = page.locator("#new-user")
    form.get_by_label("Username").fill("bo")
    form.get_by_label("Display name").fill("Bo Berg")
    form.get_by_label("Email").fill("bo@example.org")
    form.get_by_label("Initial password").fill("short")
    form.get_by_label("lead", exact=True).check()
    form.get_by_label("Team", exact=True).select_option(label="Queue B")
    # The browser's own check (minlength) stops a short password; without it, the server's.
    page.evaluate("document.querySelector('#new-user form').noValidate = true")
    form.get_by_role("button", name="Add person").click()
    assert page.locator("#error").inner_text() == "password must be at least 10 characters"
    assert form.get_by_label("Username").input_value() == "bo"
    screenshot(page, "users-error")

    form.get_by_label("Initial password").fill("initial-password-1")
    form.get_by_label("Leads this team").check()
    form.get_by_role("button", name="Add person").click()
    page.wait_for_url(re.compile(r"/admin/users/\d+$"))
    assert "Created bo." in page.locator(".flash").inner_text()
    assert "leads Queue B" in page.locator("#status").inner_text()
    screenshot(page, "user")

    page.goto("/admin/users")
    screenshot(page, "users")
    page.goto("/admin/teams")
    queue_b = page.locator("#teams tr", has_text="Queue B")
    assert queue_b.get_by_label("Bo Berg").is_checked()
    screenshot(page, "teams")

    page.goto("/admin/audit?action=admin.")
    rows = page.locator("table.audit tbody tr")
    assert rows.count() == 1 and "admin.user_created" in rows.first.inner_text()
    screenshot(page, "audit")

    # A phone-sized screen: the pages reflow, tables scroll inside their card.
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto("/admin/users")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    screenshot(page, "users-narrow")
