"""The shape of the project: leaf packages stay leaves, and the README documents every setting."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import config

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "leaf, forbidden",
    [
        ("exposure", ["flask", "wellbeing", "config", "blur", "cv2", "PIL"]),
        ("blur", ["flask", "wellbeing", "config", "exposure", "sqlalchemy"]),
    ],
)
def test_leaf_packages_import_nothing_above_them(leaf, forbidden):
    modules = [p.stem for p in (ROOT / leaf).glob("*.py") if p.stem != "__init__"]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module('{leaf}.' + m)\n"
        f"bad = [m for m in {forbidden!r} if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert out.stdout.strip() == "", f"{leaf} imported {out.stdout.strip()}"


def test_readme_documents_every_setting():
    readme = (ROOT / "README.md").read_text()
    missing = [name for name in config.SETTINGS if f"`WELLBEING_{name}`" not in readme]
    assert missing == []


def test_environment_overrides_defaults_with_types():
    values = config.load(
        {"WELLBEING_MAX_PIXELS": "1000", "WELLBEING_SECURE_COOKIES": "yes", "DATABASE_URL": "x"}
    )
    assert values["MAX_PIXELS"] == 1000
    assert values["SECURE_COOKIES"] is True
    assert values["DATABASE_URL"] == "x"
