"""How much hypothesis explores: a fixed, derandomized budget in CI, much more by hand.

`PEACEWATCH_HYPOTHESIS=explore pytest tests/unit -k "protocol or properties"` runs the property
tests and the sink's protocol model with random seeds and `budget(n)` examples scaled up (the
README's "Exploring deeper"); anything else runs the `ci` profile: derandomized, no example
database, the same examples on every run.
"""

from __future__ import annotations

import os

from hypothesis import settings

__all__ = ["PROFILE", "budget", "exploring", "load_profile"]

PROFILE = os.environ.get("PEACEWATCH_HYPOTHESIS", "ci")
_EXPLORE_SCALE = int(os.environ.get("PEACEWATCH_HYPOTHESIS_SCALE", "20"))


def exploring() -> bool:
    return PROFILE == "explore"


def budget(n: int, *, explore: int | None = None) -> int:
    """`n` examples (or steps) in CI; when exploring, `explore` or n times the scale."""
    if not exploring():
        return n
    return explore if explore is not None else n * _EXPLORE_SCALE


def load_profile() -> None:
    settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)
    settings.register_profile("explore", derandomize=False, deadline=None, print_blob=True)
    settings.load_profile("explore" if exploring() else "ci")
