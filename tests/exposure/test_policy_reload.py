"""The running service reloads a changed policy file and keeps its last good policy when
the new one is invalid."""

from __future__ import annotations

import os

import pytest

from exposure.policy import PolicyError
from wellbeing.policies import PolicyStore

RULE = """
[[rules]]
id = "burst"
description = "Reveals in a burst."
metric = "reveals"
window = "rolling 15m"
threshold = {threshold}
actions = [{{ type = "break", minutes = 5 }}]
"""


def text(version: str, threshold: int = 3) -> str:
    return f'version = "{version}"\n' + RULE.format(threshold=threshold)


@pytest.fixture
def policy_file(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text(text("v1"))
    os.utime(path, (1_000_000, 1_000_000))
    return path


def replace(path, content: str | bytes, stamp: int) -> None:
    """Write the file and give it a distinct modification time, as a deploy would."""
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    os.utime(path, (stamp, stamp))


def test_a_valid_change_is_picked_up(policy_file):
    store = PolicyStore.open(str(policy_file))
    assert store.current().version == "v1"
    replace(policy_file, text("v2", threshold=7), 1_000_100)
    pol = store.current()
    assert pol.version == "v2" and pol.rule("burst").threshold == 7
    assert store.last_error is None


def test_an_invalid_replacement_keeps_the_last_good_policy_and_says_why(policy_file):
    store = PolicyStore.open(str(policy_file))
    replace(policy_file, text("v2", threshold=-1), 1_000_100)
    assert store.current().version == "v1"
    assert store.current().rule("burst").threshold == 3
    assert store.last_error is not None
    assert "id=burst" in store.last_error and "threshold" in store.last_error

    replace(policy_file, "version = \n", 1_000_200)
    assert store.current().version == "v1"
    assert "TOML" in store.last_error

    replace(policy_file, text("v3"), 1_000_300)  # fixed: loaded, and the error clears
    assert store.current().version == "v3"
    assert store.last_error is None


def test_a_vanished_file_keeps_the_last_good_policy(policy_file):
    store = PolicyStore.open(str(policy_file))
    policy_file.unlink()
    assert store.current().version == "v1"
    assert "cannot read" in (store.last_error or "")


def test_an_invalid_policy_at_start_up_refuses_to_start(policy_file):
    replace(policy_file, text("v1", threshold=0), 1_000_100)
    with pytest.raises(PolicyError, match="threshold"):
        PolicyStore.open(str(policy_file))


@pytest.mark.parametrize(
    "content", [b'version = "v2"\n\xff\xfe', 'version = "v2"\ndose = 5\n'], ids=["latin", "crash"]
)
def test_any_broken_replacement_keeps_the_last_good_policy(policy_file, content):
    store = PolicyStore.open(str(policy_file))
    replace(policy_file, content, 1_000_100)
    try:
        first = store.current()
    finally:
        second = store.current()
    assert first.version == second.version == "v1"
    assert store.last_error is not None
