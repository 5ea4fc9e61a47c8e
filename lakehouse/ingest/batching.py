"""Micro-batching for the Delta sink, and what a commit of a batch writes. Pure: no I/O.

A batch flushes on whichever comes first: N rows, M bytes, T seconds since its first message,
P table partitions (days of event time: a drone chooses its `ts`, and one commit must not write a
file into each of thousands of days).
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

An entry (one producer batch) is delivered as several messages, and a micro-batch can end
between two of them. A position recorded in the middle of an entry would let the next entry
look like its successor (the rest of the entry lost if the broker then passed it over), so a
commit only ever ends a partition on the last message of an entry: `seal` carries a
partition's unfinished last entry over to the next batch, and `plan` holds one back if it
still meets it.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, NamedTuple, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from peacewatch.platform.positions import closes_entry, entry_start, follows

__all__ = ["BatchPolicy", "CommitPlan", "Gap", "GapTracker", "MicroBatch"]

T = TypeVar("T")
B = TypeVar("B")
V = TypeVar("V")


class BatchPolicy(BaseModel):
    model_config = ConfigDict(frozen=True)

    max_rows: int = Field(default=50_000, ge=1)
    max_bytes: int = Field(default=64 * 1024 * 1024, ge=1)
    max_age_s: float = Field(
        default=1.0, gt=0, description="Freshness bound: a row waits at most this long before its commit."
    )
    max_partitions: int = Field(
        default=64, ge=1,
        description="Table partitions (event days) one commit writes into, beyond those of the one entry "
        "(producer batch) that reaches the bound: a commit never ends inside an entry.",
    )  # fmt: skip


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
    # a row's table partition (counted against max_partitions); None: not counted
    table_partition_of: Callable[[T], object] | None = None
    rows: dict[str, dict[int, T]] = field(default_factory=dict)
    dead_letters: dict[str, dict[int, B]] = field(default_factory=dict)
    # every message as (partition, position, message), to acknowledge after the commit
    received: list[tuple[str, int, object]] = field(default_factory=list)
    # per partition, the positions that are the last message of their entry
    closing: dict[str, set[int]] = field(default_factory=dict)
    nbytes: int = 0
    count: int = 0
    letters: int = 0  # dead letters held: they count toward max_rows like rows
    table_partitions: set[object] = field(default_factory=set)
    # set by the message that made the batch reach its bytes or its table partitions: the caller
    # seals it then, not after the rest of what it received at once (1,000 messages of 256 KiB
    # overshot a 64 MiB batch by 120 MiB before this)
    full: bool = False
    duplicates: int = 0
    started_at: float | None = None

    def _start(self) -> None:
        if self.started_at is None:
            self.started_at = self.clock()

    def _closing(self, partition: str) -> set[int]:
        closing = self.closing.get(partition)
        if closing is None:
            closing = self.closing[partition] = set()
        return closing

    def carry_open_entries(self) -> MicroBatch[T, B]:
        """Move each partition's unfinished last entry (its highest message is not the entry's
        last) out of this batch into a new one, which takes this one's place once it is sealed:
        the rest of the entry is usually already on its way."""
        rest: MicroBatch[T, B] = MicroBatch(
            self.policy, clock=self.clock, table_partition_of=self.table_partition_of
        )
        moving: dict[str, int] = {}  # partition -> first position moved (its entry's start)
        for part in self.partitions:
            held = (*self.rows.get(part, ()), *self.dead_letters.get(part, ()))
            highest = max(held)
            if highest not in self.closing.get(part, ()):
                moving[part] = entry_start(highest)
        if not moving:
            return rest
        rest.started_at = self.clock()
        for part, start in moving.items():
            moved = _move_from(self.rows, rest.rows, part, start)
            self.count -= moved
            rest.count += moved
            moved = _move_from(self.dead_letters, rest.dead_letters, part, start)
            self.letters -= moved
            rest.letters += moved
            closing = self.closing.get(part, set())
            rest.closing[part] = {p for p in closing if p >= start}
        table_partition_of = self.table_partition_of
        if table_partition_of is not None:
            for batch in (self, rest):
                batch.table_partitions = {
                    table_partition_of(r) for rows in batch.rows.values() for r in rows.values()
                }
        kept: list[tuple[str, int, object]] = []
        for item in self.received:
            part, pos, _ = item
            (rest.received if part in moving and pos >= moving[part] else kept).append(item)
        self.received = kept
        return rest

    def add(
        self, row: T, *, partition: str, position: int, size: int, entry_size: int, message: object
    ) -> bool:
        """False when this position is already in the batch (the copy is only acknowledged).
        `entry_size`: how many messages its entry holds (0: not batched)."""
        if self.started_at is None:
            self.started_at = self.clock()
        self.received.append((partition, position, message))
        if closes_entry(position, entry_size):
            self._closing(partition).add(position)
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
        if self.table_partition_of is not None:
            held = self.table_partitions
            before = len(held)
            held.add(self.table_partition_of(row))
            if len(held) > before and len(held) == self.policy.max_partitions:
                self.full = True
        if self.nbytes >= self.policy.max_bytes:
            self.full = True
        return True

    def add_dead_letter(
        self, item: B, *, partition: str, position: int, entry_size: int, message: object, size: int = 0
    ) -> bool:
        """An invalid message: no row, but its position is covered by the commit like any other.
        `size`: its bytes, held until the commit like a row's (a flood of large invalid messages
        must seal batches as valid ones do)."""
        self._start()
        self.received.append((partition, position, message))
        if closes_entry(position, entry_size):
            self._closing(partition).add(position)
        if position in self.rows.get(partition, ()) or position in self.dead_letters.get(partition, ()):
            self.duplicates += 1
            return False
        self.dead_letters.setdefault(partition, {})[position] = item
        self.nbytes += size
        self.letters += 1
        if self.nbytes >= self.policy.max_bytes:
            self.full = True
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

    def plan(
        self,
        committed: dict[str, int],
        *,
        trusted: frozenset[str] = frozenset(),
        required: Mapping[str, int] | None = None,
    ) -> CommitPlan[T, B]:
        """What to write given each partition's committed position (-1 or absent: nothing yet).

        Each partition is covered up to its first gap - after its committed position or inside
        the batch, or past a `required` position it does not hold (one an earlier batch held
        back: it was received, so a run that skips it has a hole, whatever the positions say) -
        except the `trusted` ones (a gap the broker would not fill: taken as it is)."""
        required = required or {}
        rows: list[T] = []
        letters: list[B] = []
        positions: dict[str, int] = {}
        held: dict[str, Gap] = {}
        skipped = 0
        for part in self.partitions:
            by_pos = self.rows.get(part, {})
            letters_by_pos = self.dead_letters.get(part, {})
            closing = self.closing.get(part, set())
            done = committed.get(part, -1)
            last, closed = done, True  # a recorded position always closed its entry
            need = required.get(part)
            covered: list[int] = []
            for pos in sorted((*by_pos, *letters_by_pos)):
                if pos <= done:
                    skipped += pos in by_pos
                    continue
                if part not in trusted and (
                    not follows(last, pos, closed=closed) or (need is not None and last < need < pos)
                ):
                    held[part] = Gap(after=last, beyond=pos)
                    break
                covered.append(pos)
                last, closed = pos, pos in closing
            if not closed and part not in trusted:
                # The run ends inside an entry: stop before that entry (recorded there, the next
                # entry would look like its successor).
                cut = bisect_left(covered, entry_start(last))
                beyond = covered[cut]
                del covered[cut:]
                held[part] = Gap(after=covered[-1] if covered else done, beyond=beyond)
            for pos in covered:
                if pos in by_pos:
                    rows.append(by_pos[pos])
                else:
                    letters.append(letters_by_pos[pos])
            if covered:
                positions[part] = covered[-1]
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
            self.count + self.letters >= self.policy.max_rows
            or self.nbytes >= self.policy.max_bytes
            or len(self.table_partitions) >= self.policy.max_partitions
            or self.clock() - self.started_at >= self.policy.max_age_s
        )

    def seconds_until_due(self) -> float:
        if self.started_at is None:
            return self.policy.max_age_s
        return max(0.0, self.policy.max_age_s - (self.clock() - self.started_at))


def _move_from(
    source: dict[str, dict[int, V]], target: dict[str, dict[int, V]], part: str, start: int
) -> int:
    """Move `part`'s items at or above `start` from `source` to `target`; how many moved."""
    items = source.get(part, {})
    moving = [p for p in items if p >= start]
    for pos in moving:
        target.setdefault(part, {})[pos] = items.pop(pos)
    if part in source and not items:
        del source[part]
    return len(moving)


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
    _required: dict[str, int] = field(default_factory=dict)  # part -> lowest position held back

    def seen(self, plan: CommitPlan[Any, Any]) -> None:
        """The gaps of a commit just made; a partition it advanced with no gap has none left. What
        it held back is required of later commits until one covers it."""
        for part in [p for p in self._open if p in plan.positions and p not in plan.held]:
            del self._open[part]
        for part, recorded in plan.positions.items():
            if self._required.get(part, recorded + 1) <= recorded:
                del self._required[part]
        for part, gap in plan.held.items():
            self._required[part] = min(gap.beyond, self._required.get(part, gap.beyond))
            after, since, count = self._open.get(part, (gap.after, self.clock(), 0))
            if after != gap.after:  # the table moved on: another gap
                since, count = self.clock(), 0
            self._open[part] = (gap.after, since, count + 1)

    def required(self, partitions: list[str], committed: dict[str, int]) -> dict[str, int]:
        """Of `partitions`, the positions an earlier commit held back and no commit has covered yet:
        a later run must pass through them (the messages between were received here and dropped,
        so a run that skips them - a new ledger's start looks like a successor - would lose them)."""
        for part in [p for p in self._required if self._required[p] <= committed.get(p, -1)]:
            del self._required[part]  # stored since, by whichever sink
        return {p: self._required[p] for p in partitions if p in self._required}

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
