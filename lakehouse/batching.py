"""Micro-batching for the Delta sink. Pure: no I/O, unit-tested on its own.

A batch flushes on whichever comes first: N rows, M bytes, T seconds since its first message.
It remembers, per topic partition, the highest message position it holds: that position is
what the Delta commit records, and what a restarted sink skips up to.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["BatchPolicy", "MicroBatch", "Position"]

T = TypeVar("T")

# A Pulsar message position inside one partition: (ledger id, entry id, batch index).
Position = tuple[int, int, int]


class BatchPolicy(BaseModel):
    model_config = ConfigDict(frozen=True)

    max_rows: int = Field(default=50_000, ge=1)
    max_bytes: int = Field(default=64 * 1024 * 1024, ge=1)
    max_age_s: float = Field(default=5.0, gt=0, description="Freshness bound: a row waits at most this long.")


@dataclass
class MicroBatch(Generic[T]):
    policy: BatchPolicy
    clock: Callable[[], float] = time.monotonic
    rows: list[T] = field(default_factory=list)
    nbytes: int = 0
    started_at: float | None = None
    last_position: dict[str, Position] = field(default_factory=dict)

    def add(self, row: T, *, size: int, partition: str, position: Position) -> None:
        if self.started_at is None:
            self.started_at = self.clock()
        self.rows.append(row)
        self.nbytes += size
        self.note_position(partition, position)

    def note_position(self, partition: str, position: Position) -> None:
        """Also for messages that write no row (invalid ones sent to the DLQ)."""
        if self.started_at is None:
            self.started_at = self.clock()
        if position > self.last_position.get(partition, (-1, -1, -1)):
            self.last_position[partition] = position

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def empty(self) -> bool:
        return self.started_at is None

    def due(self) -> bool:
        if self.started_at is None:
            return False
        return (
            len(self.rows) >= self.policy.max_rows
            or self.nbytes >= self.policy.max_bytes
            or self.clock() - self.started_at >= self.policy.max_age_s
        )

    def seconds_until_due(self) -> float:
        if self.started_at is None:
            return self.policy.max_age_s
        return max(0.0, self.policy.max_age_s - (self.clock() - self.started_at))
