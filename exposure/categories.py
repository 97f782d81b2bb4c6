"""Harm categories with their severity weights and display rules.

These are the built-in defaults; the policy file (its own issue) will override them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

PLACEHOLDER, SAFE, PEEK, GRAY, ORIGINAL = 0, 1, 2, 3, 4
LEVEL_NAMES = {0: "placeholder", 1: "safe", 2: "peek", 3: "grayscale", 4: "original"}


@dataclass(frozen=True)
class CategoryRule:
    weight: float
    default_level: int = SAFE
    max_level: int = ORIGINAL


CATEGORIES: dict[str, CategoryRule] = {
    "child_abuse": CategoryRule(5.0, default_level=PLACEHOLDER, max_level=GRAY),
    "sexual_assault": CategoryRule(4.5, default_level=PLACEHOLDER, max_level=GRAY),
    "torture": CategoryRule(4.5),
    "bestiality": CategoryRule(4.0, default_level=PLACEHOLDER, max_level=GRAY),
    "murder": CategoryRule(4.5),
    "suicide": CategoryRule(4.0),
    "self_harm": CategoryRule(3.5),
    "graphic_violence": CategoryRule(3.5),
    "hate_speech": CategoryRule(2.0),
    "bullying": CategoryRule(1.5),
    "nudity": CategoryRule(1.5),
    "other": CategoryRule(1.0),
}
FLAG_SOURCES = ("ticket_label", "manual", "hash_match", "classifier")
FLAG_STATES = ("flagged", "clear", "unknown")


def validate_categories(names: Iterable[str]) -> list[str]:
    names = list(dict.fromkeys(names))
    unknown = [n for n in names if n not in CATEGORIES]
    if unknown:
        raise ValueError(f"unknown categories {unknown}; known: {', '.join(CATEGORIES)}")
    return names


def primary_category(names: Iterable[str], table: Mapping[str, CategoryRule] = CATEGORIES) -> str:
    """The heaviest category, which decides the ledger's category."""
    names = list(names)
    if not names:
        return "other"
    return max(names, key=lambda n: table[n].weight)


def display_rule(
    names: Iterable[str], table: Mapping[str, CategoryRule] = CATEGORIES
) -> CategoryRule:
    """The strictest rule over all of an item's categories."""
    rules = [table[n] for n in names] or [table["other"]]
    return CategoryRule(
        weight=max(r.weight for r in rules),
        default_level=min(r.default_level for r in rules),
        max_level=min(r.max_level for r in rules),
    )
