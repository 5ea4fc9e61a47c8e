"""Onboarding plans (platform.steps): steps found by their typed keys, each key once."""

from __future__ import annotations

from enum import StrEnum

import pytest

from peacewatch.platform.kit_tokens import KitResource
from peacewatch.platform.steps import Exactly, Plan, Step, StepKey, apply_steps


class _Thing(StrEnum):
    BOX = "box"


def _step(key: StepKey, current: object, wanted: object, done: list[StepKey]) -> Step:
    return Step(key, f"{key.kind} {key.name}", current, wanted, lambda: done.append(key))


def test_a_step_is_found_by_its_key_not_its_text() -> None:
    done: list[StepKey] = []
    plan = Plan([_step(StepKey(KitResource.TOKEN, "alerting"), "missing", "current", done)])
    plan.extend([_step(StepKey(_Thing.BOX, "a"), Exactly(["x"]), Exactly(["x"]), done)])
    assert plan[StepKey(KitResource.TOKEN, "alerting")].needed
    assert not plan[StepKey(_Thing.BOX, "a")].needed
    with pytest.raises(KeyError):
        plan[StepKey(KitResource.TOKEN, "fleet")]
    # Same name, another owner's kind: another key.
    assert StepKey(_Thing.BOX, "alerting") != StepKey(KitResource.TOKEN, "alerting")
    assert apply_steps(plan) == [plan[StepKey(KitResource.TOKEN, "alerting")]]
    assert done == [StepKey(KitResource.TOKEN, "alerting")]


def test_two_steps_for_one_key_are_refused() -> None:
    key = StepKey(_Thing.BOX, "a")
    plan = Plan([_step(key, None, True, [])])
    with pytest.raises(ValueError, match="two onboarding steps"):
        plan.extend([_step(key, True, True, [])])
    assert len(plan) == 1
