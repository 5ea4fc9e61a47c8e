"""Micro-batching for the Delta sink, and what a commit of a batch writes. Pure: no I/O.

A batch flushes on whichever comes first: N rows, M bytes, T seconds since its first message.
It keeps one copy per message position (a partition that left this process and came back is
delivered again: the second copy is only acknowledged), remembers every message received and,
per partition, the highest position it holds. `plan` turns it into a commit against what the
table already holds: rows and dead letters only above each partition's committed position, and
the new positions to record.

A commit records one position per partition, so it must cover every message up to it. Pulsar
can deliver a partition with a hole in it (a Failover handover that never rewinds - seen with
broker 4.0.8 while sinks joined and left: entries dispatched to a consumer that was no longer
active, left unacknowledged behind the read position). Recording a position past a hole would
make the hole's reports look stored when the broker finally redelivers them. So `plan` stops
each partition at its first gap (platform.positions.follows): what lies beyond is held -
neither written nor acknowledged - and the sink asks the broker to redeliver.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, NamedTuple, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from peacewatch.platform.positions import follows

__all__ = ["BatchPolicy", "CommitPlan", "Gap", "GapTracker", "MicroBatch"]

T = TypeVar("T")
B = TypeVar("B")


class BatchPolicy(BaseModel):
    model_config = ConfigDict(frozen=True)

    max_rows: int = Field(default=50_000, ge=1)
    max_bytes: int = Field(default=64 * 1024 * 1024, ge=1)
    max_age_s: float = Field(
        default=1.0, gt=0, description="Freshness bound: a row waits at most this long before its commit."
    )


class Gap(NamedTuple):
    """A hole in a partition's delivery: `after` is the last position covered, `beyond` the
    first one received past the hole (held back with everything after it)."""

    after: int
    beyond: int


@dataclass(frozen=True)
class CommitPlan(Generic[T, B]):
    """One commit: rows to append, invalid messages to dead-letter, positions to record."""

    rows: list[T]
    dead_letters: list[B]
    positions: dict[str, int]  # partition -> highest encoded position, only where it advances
    skipped: int  # copies already in the table (a redelivery after a crash or a partition move)
    # partition -> its first gap: from there on nothing is written or acknowledged
    held: dict[str, Gap] = field(default_factory=dict)

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
    # every message as (partition, position, message), to acknowledge after the commit
    received: list[tuple[str, int, object]] = field(default_factory=list)
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
        self.received.append((partition, position, message))
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
        self.received.append((partition, position, message))
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

    @property
    def partitions(self) -> list[str]:
        """The partitions this batch holds messages of (rows or dead letters)."""
        return list(dict.fromkeys((*self.rows, *self.dead_letters)))

    def plan(self, committed: dict[str, int], *, trusted: frozenset[str] = frozenset()) -> CommitPlan[T, B]:
        """What to write given each partition's committed position (-1 or absent: nothing yet).

        Each partition is covered up to its first gap - after its committed position or inside
        the batch - except the `trusted` ones (a gap the broker would not fill: taken as it is)."""
        rows: list[T] = []
        letters: list[B] = []
        positions: dict[str, int] = {}
        held: dict[str, Gap] = {}
        skipped = 0
        for part in self.partitions:
            by_pos = self.rows.get(part, {})
            letters_by_pos = self.dead_letters.get(part, {})
            done = committed.get(part, -1)
            last = done
            for pos in sorted((*by_pos, *letters_by_pos)):
                if pos <= done:
                    skipped += pos in by_pos
                    continue
                if part not in trusted and not follows(last, pos):
                    held[part] = Gap(after=last, beyond=pos)
                    break
                if pos in by_pos:
                    rows.append(by_pos[pos])
                else:
                    letters.append(letters_by_pos[pos])
                last = pos
            if last > done:
                positions[part] = last
        return CommitPlan(rows=rows, dead_letters=letters, positions=positions, skipped=skipped, held=held)

    def acknowledgeable(self, plan: CommitPlan[T, B]) -> list[object]:
        """The messages to acknowledge once `plan` is committed: all but those it holds back."""
        held = plan.held
        if not held:  # the usual case, without a test per message
            return [message for _, _, message in self.received]
        return [m for part, pos, m in self.received if part not in held or pos < held[part].beyond]

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


@dataclass
class GapTracker:
    """The gaps one table's commits met, and when one may be taken as it is.

    A gap is asked to be filled (the broker rewinds and redelivers what is unacknowledged). One
    still there after `requests` commits over `patience_s` was not unacknowledged: acknowledged
    without being stored (an operator's skip, an expiry), so waiting longer would stall the
    partition for good. Then the partition is trusted across it, once. Generous on purpose: in the
    join/leave test a real hole outlasted four commits before its entries came (a handover's
    rewind can wait for the previous owner), and crossing a real hole loses its reports."""

    patience_s: float = 120.0
    requests: int = 10
    clock: Callable[[], float] = time.monotonic
    _open: dict[str, tuple[int, float, int]] = field(default_factory=dict)  # part -> (after, since, seen)

    def seen(self, plan: CommitPlan[Any, Any]) -> None:
        """The gaps of a commit just made; a partition it advanced with no gap has none left."""
        for part in [p for p in self._open if p in plan.positions and p not in plan.held]:
            del self._open[part]
        for part, gap in plan.held.items():
            after, since, count = self._open.get(part, (gap.after, self.clock(), 0))
            if after != gap.after:  # the table moved on: another gap
                since, count = self.clock(), 0
            self._open[part] = (gap.after, since, count + 1)

    def trusted(self, partitions: list[str], committed: dict[str, int]) -> frozenset[str]:
        """Of `partitions`, those whose gap right after their committed position has outlasted the
        patience."""
        now = self.clock()
        return frozenset(
            part
            for part in partitions
            if part in self._open
            and (gap := self._open[part])[0] == committed.get(part, -1)
            and gap[2] >= self.requests
            and now - gap[1] >= self.patience_s
        )
