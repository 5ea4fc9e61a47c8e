"""Micro-batching for the Delta sink, and what a commit of a batch writes. Pure: no I/O.

A batch flushes on whichever comes first: N rows, M bytes, T seconds since its first message.
It keeps one copy per message position (a partition that left this process and came back is
delivered again: the second copy is only acknowledged), remembers every message received (all
of them are acknowledged once the commit has landed) and, per partition, the highest position
it holds. `plan` turns it into a commit against what the table already holds: rows and dead
letters only above each partition's committed position, and the new positions to record.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["BatchPolicy", "CommitPlan", "MicroBatch"]

T = TypeVar("T")
B = TypeVar("B")


class BatchPolicy(BaseModel):
    model_config = ConfigDict(frozen=True)

    max_rows: int = Field(default=50_000, ge=1)
    max_bytes: int = Field(default=64 * 1024 * 1024, ge=1)
    max_age_s: float = Field(
        default=1.0, gt=0, description="Freshness bound: a row waits at most this long before its commit."
    )


@dataclass(frozen=True)
class CommitPlan(Generic[T, B]):
    """One commit: rows to append, invalid messages to dead-letter, positions to record."""

    rows: list[T]
    dead_letters: list[B]
    positions: dict[str, int]  # partition -> highest encoded position, only where it advances
    skipped: int  # copies already in the table (a redelivery after a crash or a partition move)

    @property
    def empty(self) -> bool:
        return not self.positions


@dataclass
class MicroBatch(Generic[T, B]):
    """One table's batch. Rows and dead letters are keyed by (partition, encoded position)."""

    policy: BatchPolicy
    clock: Callable[[], float] = time.monotonic
    rows: dict[str, dict[int, T]] = field(default_factory=dict)
    dead_letters: dict[str, dict[int, B]] = field(default_factory=dict)
    received: list[object] = field(default_factory=list)  # every message, to acknowledge after the commit
    nbytes: int = 0
    count: int = 0
    duplicates: int = 0
    started_at: float | None = None

    def _start(self) -> None:
        if self.started_at is None:
            self.started_at = self.clock()

    def add(self, row: T, *, partition: str, position: int, size: int, message: object) -> bool:
        """False when this position is already in the batch (the copy is only acknowledged)."""
        if self.started_at is None:
            self.started_at = self.clock()
        self.received.append(message)
        rows = self.rows.get(partition)
        if rows is None:
            rows = self.rows[partition] = {}
        elif position in rows:
            self.duplicates += 1
            return False
        if self.dead_letters and position in self.dead_letters.get(partition, ()):
            self.duplicates += 1
            return False
        rows[position] = row
        self.nbytes += size
        self.count += 1
        return True

    def add_dead_letter(self, item: B, *, partition: str, position: int, message: object) -> bool:
        """An invalid message: no row, but its position is covered by the commit like any other."""
        self._start()
        self.received.append(message)
        if position in self.rows.get(partition, ()) or position in self.dead_letters.get(partition, ()):
            self.duplicates += 1
            return False
        self.dead_letters.setdefault(partition, {})[position] = item
        return True

    def __len__(self) -> int:
        return self.count

    @property
    def empty(self) -> bool:
        return self.started_at is None

    def highest(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for part in (*self.rows, *self.dead_letters):
            top = max([*self.rows.get(part, {}), *self.dead_letters.get(part, {})])
            out[part] = max(top, out.get(part, -1))
        return out

    def plan(self, committed: dict[str, int]) -> CommitPlan[T, B]:
        """What to write given each partition's committed position (-1 or absent: nothing yet)."""
        rows: list[T] = []
        letters: list[B] = []
        skipped = 0
        for part, by_pos in self.rows.items():
            done = committed.get(part, -1)
            for pos in sorted(by_pos):
                if pos > done:
                    rows.append(by_pos[pos])
                else:
                    skipped += 1
        for part, letters_by_pos in self.dead_letters.items():
            done = committed.get(part, -1)
            letters.extend(letters_by_pos[pos] for pos in sorted(letters_by_pos) if pos > done)
        positions = {p: top for p, top in self.highest().items() if top > committed.get(p, -1)}
        return CommitPlan(rows=rows, dead_letters=letters, positions=positions, skipped=skipped)

    def due(self) -> bool:
        if self.started_at is None:
            return False
        return (
            self.count >= self.policy.max_rows
            or self.nbytes >= self.policy.max_bytes
            or self.clock() - self.started_at >= self.policy.max_age_s
        )

    def seconds_until_due(self) -> float:
        if self.started_at is None:
            return self.policy.max_age_s
        return max(0.0, self.policy.max_age_s - (self.clock() - self.started_at))
