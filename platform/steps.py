"""Onboarding steps: what is there now, what is wanted, and how to get from one to the other.

Each package contributes the steps of the resources it owns (tenants: the Pulsar tenant; the
foundation: the token kits; lakehouse: the MinIO bucket, users and Delta tables; functions: the
alert function), each under a typed key. The orchestrator (peacewatch.tenants.onboarding)
collects them into a Plan, in order, and applies only those that differ - so a second apply
changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["Exactly", "Plan", "Step", "StepKey", "apply_steps", "same"]


@dataclass(frozen=True)
class StepKey:
    """What a step is about: one of its owner's resource kinds (an enum the owner declares) and,
    where there are several of that kind, which one - `StepKey(KitResource.TOKEN, "alerting")`.
    Steps are found by what they are, never by their display text."""

    kind: StrEnum
    name: str = ""


@dataclass(frozen=True)
class Exactly:
    """A wanted value that must match exactly (grants: an extra role is a leak, not a detail)."""

    value: Any

    def __str__(self) -> str:
        return str(self.value)


def same(current: Any, wanted: Any) -> bool:
    """Does what is there satisfy what is wanted? Mappings: every wanted key matches (the broker
    adds fields of its own); lists compare as sets (order is not meaningful in roles or actions);
    Exactly(...) must be equal."""
    if isinstance(wanted, Exactly):
        return isinstance(current, Exactly) and current.value == wanted.value
    if isinstance(wanted, dict):
        return isinstance(current, dict) and all(same(current.get(k), v) for k, v in wanted.items())
    if isinstance(wanted, list):
        return isinstance(current, list) and sorted(map(str, current)) == sorted(map(str, wanted))
    return bool(current == wanted)


@dataclass(frozen=True)
class Step:
    key: StepKey
    what: str  # for people: plan tables and progress lines
    current: Any
    wanted: Any
    apply: Callable[[], object]

    @property
    def needed(self) -> bool:
        return not same(self.current, self.wanted)


class Plan:
    """Steps in the order they are applied, each key once."""

    def __init__(self, steps: Iterable[Step] = ()) -> None:
        self._steps: dict[StepKey, Step] = {}
        self.extend(steps)

    def extend(self, steps: Iterable[Step]) -> None:
        for step in steps:
            if step.key in self._steps:
                raise ValueError(f"two onboarding steps for {step.key!r}")  # a contributor's bug
            self._steps[step.key] = step

    def __getitem__(self, key: StepKey) -> Step:
        return self._steps[key]

    def __iter__(self) -> Iterator[Step]:
        return iter(self._steps.values())

    def __len__(self) -> int:
        return len(self._steps)

    @property
    def steps(self) -> list[Step]:
        return list(self._steps.values())


def apply_steps(steps: Iterable[Step], *, on_step: Callable[[Step], None] = lambda _s: None) -> list[Step]:
    """Carry out the steps that are needed, in order; returns them."""
    done = []
    for step in steps:
        if step.needed:
            step.apply()
            on_step(step)
            done.append(step)
    return done
