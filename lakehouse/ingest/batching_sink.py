"""One table's batching sink: batch -> plan -> dead letters -> write -> acknowledge. No I/O of its own.

The sequence that makes the lake exactly once lives here, once, behind two small seams:

- a `Committer` (the table): a snapshot, the positions it has recorded per partition, the
  conversion of rows to what it stores, and a write made on the very snapshot the plan was
  checked against, raising `CommitConflict` when a commit since that snapshot recorded a
  position for one of the same partitions (delta-rs' rule for app transactions);
- a `Consumer` (the broker): acknowledge one message, ask for redelivery.

`lake run` drives it with Delta and Pulsar (lakehouse.delta_committer, lakehouse.sink); the
protocol model (tests/unit/test_sink_protocol.py) drives the very same class with a table and a
broker in memory. The shape follows quix-streams' BatchingSink: the batch is flushed, then the
offsets are committed - here: written, then each message acknowledged on its own (a cumulative
ack could cover what another process, which took the partition over, has not stored).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    retry_if_exception_type,
    stop_after_attempt,
    stop_when_event_set,
    wait_exponential,
    wait_random,
)

from peacewatch.lakehouse.ingest.batching import BatchPolicy, CommitPlan, GapTracker, MicroBatch
from peacewatch.platform.errors import PeacewatchError
from peacewatch.platform.positions import decode_position

__all__ = [
    "BatchingSink",
    "CommitConflict",
    "CommitOptions",
    "Committer",
    "Consumer",
    "DeadLetterSink",
    "SinkStats",
    "SinkStopped",
]

log = logging.getLogger("peacewatch.lakehouse.ingest.sink")

R = TypeVar("R")  # a row waiting for its commit
D = TypeVar("D")  # a dead letter
S = TypeVar("S")  # a snapshot of the table


class SinkStopped(PeacewatchError):
    """stop() arrived while a commit was failing: the batch stays unacknowledged (it is redelivered)."""


class CommitConflict(PeacewatchError):
    """Another commit recorded a position for one of the same partitions since the snapshot the
    plan was made on: plan again against the table as it is now."""


# Freshness samples kept (a long-running sink must not grow a list forever: ~200 per commit).
_FRESHNESS_SAMPLES = 100_000


@dataclass
class SinkStats:
    """Counts of one table's sink, or of a whole sink process (`merged`): display, metrics, benchmarks."""

    received: int = 0
    written: int = 0
    skipped_duplicates: int = 0
    refused: int = 0  # by the contract, when received
    unconvertible: int = 0  # by the stored form, when committed
    commits: int = 0
    retries: int = 0
    held_back: int = 0  # messages past a gap in their partition, left for the broker to redeliver
    redeliveries: int = 0  # redeliveries asked of the broker (a gap, or a quiet consumer)
    freshness_ms: deque[float] = field(default_factory=lambda: deque(maxlen=_FRESHNESS_SAMPLES))
    # Wall-clock seconds: the last commit that wrote rows, and how old its oldest row was then
    # (commit time - publish time); the last batch settled (written, or found stored: acknowledged).
    last_commit_at: float | None = None
    last_commit_freshness_s: float | None = None
    last_settled_at: float | None = None

    @property
    def invalid(self) -> int:
        return self.refused + self.unconvertible

    @classmethod
    def merged(cls, parts: list[SinkStats]) -> SinkStats:
        """The sum of several (a process's tables); the newest of the times. The freshness
        samples stay with each part (cheap enough to call in a loop)."""
        out = cls()
        for name in ("received", "written", "skipped_duplicates", "refused", "unconvertible", "commits",
                     "retries", "held_back", "redeliveries"):  # fmt: skip
            setattr(out, name, sum(getattr(p, name) for p in parts))
        commits = [p for p in parts if p.last_commit_at is not None]
        if commits:
            newest = max(commits, key=lambda p: p.last_commit_at or 0.0)
            out.last_commit_at, out.last_commit_freshness_s = (
                newest.last_commit_at,
                newest.last_commit_freshness_s,
            )
        settled = [p.last_settled_at for p in parts if p.last_settled_at is not None]
        out.last_settled_at = max(settled) if settled else None
        return out


class Committer(Protocol[R, D, S]):
    """The table one sink writes."""

    def check_source(self) -> None:
        """Raise if the table follows another incarnation of the topic (SourceTopicChanged)."""

    def snapshot(self) -> S:
        """The table as it is now."""

    def committed(self, snapshot: S, partitions: list[str]) -> dict[str, int]:
        """The encoded position each partition has recorded in `snapshot` (absent: none)."""

    def convert(self, rows: list[R]) -> tuple[Any, list[D]]:
        """Rows as the table stores them, and those it refuses, as dead letters."""

    def write(self, snapshot: S, data: Any, plan: CommitPlan[R, D]) -> int:
        """Append `data` recording `plan.positions`, as a commit on `snapshot`; the rows written.
        CommitConflict if a commit since `snapshot` recorded a position of the same partitions."""

    def forget(self) -> None:
        """Drop any cached state: the last attempt may have failed half-way."""


class Consumer(Protocol):
    """The broker side of one sink."""

    def acknowledge(self, message: Any) -> None: ...

    def redeliver(self) -> None:
        """Deliver again whatever this consumer has not acknowledged."""


D_contra = TypeVar("D_contra", contravariant=True)


class DeadLetterSink(Protocol[D_contra]):
    def send(self, letter: D_contra) -> None: ...

    def flush(self) -> None:
        """Every letter sent is persisted (raises otherwise)."""

    def close(self) -> None: ...


@dataclass(frozen=True, kw_only=True)
class CommitOptions:
    """How a commit is retried, and how long a gap is waited for."""

    race_attempts: int = 8  # commits lost to another sink's, retried at once
    race_wait_s: float = 0.2  # at most, at random: racing sinks do not collide again
    backoff_max_s: float = 30.0  # outages: exponential backoff up to this
    gap_patience_s: float = 120.0  # see GapTracker
    gap_requests: int = 10


def _never(_: BaseException) -> bool:
    return False


def _interruptible(stop: threading.Event) -> Callable[[float], None]:
    """A sleep that `stop` cuts short."""

    def sleep(seconds: float) -> None:
        stop.wait(seconds)

    return sleep


class BatchingSink(Generic[R, D, S]):
    """Batches one table's messages and commits them exactly once. Construct, then start()."""

    def __init__(
        self,
        *,
        committer: Committer[R, D, S],
        consumer: Consumer,
        dead_letters: DeadLetterSink[D],
        policy: BatchPolicy,
        stats: SinkStats | None = None,
        options: CommitOptions | None = None,
        transient: Callable[[BaseException], bool] = _never,
        clock: Callable[[], float] = time.monotonic,
        name: str = "sink",
        table_partition_of: Callable[[R], object] | None = None,
    ) -> None:
        """`transient`: the failures worth retrying with backoff (outages); anything else stops.
        `table_partition_of`: a row's table partition, for the policy's max_partitions."""
        self.committer = committer
        self.consumer = consumer
        self.dead_letters = dead_letters
        self.policy = policy
        self.stats = stats or SinkStats()
        self.options = options or CommitOptions()
        self.transient = transient
        self.clock = clock
        self.name = name
        self.batch: MicroBatch[R, D] = MicroBatch(policy, clock=clock, table_partition_of=table_partition_of)
        self.gaps = GapTracker(
            patience_s=self.options.gap_patience_s, requests=self.options.gap_requests, clock=clock
        )

    def start(self) -> None:
        """Check, before anything is consumed, that the table follows this topic."""
        self.committer.check_source()

    # -- receiving ------------------------------------------------------------------------------
    def add(self, row: R, *, partition: str, position: int, size: int, entry_size: int, message: Any) -> None:
        self.batch.add(row, partition=partition, position=position, size=size, entry_size=entry_size,
                       message=message)  # fmt: skip

    def add_dead_letter(
        self, letter: D, *, partition: str, position: int, entry_size: int, message: Any, size: int = 0
    ) -> bool:
        """False when the position is already in the batch (a copy). `size`: the letter's bytes."""
        return self.batch.add_dead_letter(
            letter, partition=partition, position=position, entry_size=entry_size, message=message, size=size
        )

    def due(self) -> bool:
        return self.batch.due()

    def seal(self) -> MicroBatch[R, D]:
        """The batch in hand, to commit. Each partition's unfinished last entry stays behind in the
        batch that takes its place (a commit never ends inside an entry)."""
        rest = self.batch.carry_open_entries()
        batch, self.batch = self.batch, rest
        return batch

    # -- committing -----------------------------------------------------------------------------
    def commit(self, batch: MicroBatch[R, D], *, stop: threading.Event) -> CommitPlan[R, D] | None:
        """Commit `batch` (retrying outages until it lands or `stop` is set), then acknowledge
        what it covers; ask for redelivery past a gap. None for an empty batch."""
        if batch.empty:
            return None

        def before_sleep(state: RetryCallState) -> None:
            self.stats.retries += 1
            self.committer.forget()
            wait = state.next_action.sleep if state.next_action else 0.0
            error = state.outcome.exception() if state.outcome else None
            log.warning("%s: commit failed (%s); retrying in %.1fs", self.name, error, wait)

        retrying = Retrying(
            retry=retry_if_exception(self.transient),
            wait=wait_exponential(multiplier=0.5, max=self.options.backoff_max_s),
            stop=stop_when_event_set(stop),
            sleep=_interruptible(stop),
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            plan: CommitPlan[R, D] = retrying(self._commit_through_races, batch)
        except Exception as exc:
            if stop.is_set() and self.transient(exc):
                raise SinkStopped(
                    f"{self.name}: stopped while the commit kept failing: nothing acknowledged"
                ) from exc
            raise
        finally:
            self.dead_letters.close()  # release the producer names: the partition may move to another sink
        self._acknowledge(batch, plan)
        self.stats.last_settled_at = time.time()
        self.gaps.seen(plan)
        if plan.held:
            for part, gap in plan.held.items():
                log.warning(
                    "%s: a gap after %s (next received: %s): not committed past it; asking the broker "
                    "to redeliver",
                    part,
                    decode_position(gap.after) if gap.after >= 0 else "the start",
                    decode_position(gap.beyond),
                )  # fmt: skip
            self.consumer.redeliver()
        return plan

    def _acknowledge(self, batch: MicroBatch[R, D], plan: CommitPlan[R, D]) -> None:
        """Each message the commit covers, or found already committed; nothing past a gap."""
        acknowledged = batch.acknowledgeable(plan)
        acknowledge = self.consumer.acknowledge
        for message in acknowledged:
            acknowledge(message)
        self.stats.skipped_duplicates += batch.duplicates
        self.stats.held_back += len(batch.received) - len(acknowledged)

    def _commit_through_races(self, batch: MicroBatch[R, D]) -> CommitPlan[R, D]:
        """_commit, again at once when another sink committed in between (a lost race is not an
        outage: re-checking is cheap, and it must not wait for - or be cut short by - a stop)."""

        def forget_snapshot(_: RetryCallState) -> None:
            self.committer.forget()  # stale: plan again against the table as it is now

        return Retrying(
            retry=retry_if_exception_type(CommitConflict),
            stop=stop_after_attempt(self.options.race_attempts),
            wait=wait_random(0, self.options.race_wait_s),
            before_sleep=forget_snapshot,
            reraise=True,
        )(self._commit, batch)

    def _commit(self, batch: MicroBatch[R, D]) -> CommitPlan[R, D]:
        snapshot = self.committer.snapshot()
        partitions = batch.partitions
        done = self._committed(snapshot, partitions)
        trusted = self.gaps.trusted(partitions, done)
        for part in trusted:
            log.error(
                "%s: the gap after %s outlasted every redelivery: its messages were acknowledged "
                "without being stored here (skipped by an operator, or expired); committing past it",
                part, decode_position(done[part]) if part in done else "the start",
            )  # fmt: skip
        plan = batch.plan(done, trusted=trusted, required=self.gaps.required(partitions, done))
        if plan.empty:
            self.stats.skipped_duplicates += plan.skipped  # all committed before (a redelivery)
            return plan
        # Dead letters are persisted before the commit that covers their positions.
        for letter in plan.dead_letters:
            self.dead_letters.send(letter)
        self.dead_letters.flush()
        data, unconvertible = self.committer.convert(plan.rows)
        for letter in unconvertible:
            self.dead_letters.send(letter)
        self.dead_letters.flush()
        written = self._write(snapshot, data, plan)
        self.stats.skipped_duplicates += plan.skipped
        self.stats.unconvertible += len(unconvertible)
        self.stats.written += written
        self.stats.commits += 1
        return plan

    def _committed(self, snapshot: S, partitions: list[str]) -> dict[str, int]:
        return self.committer.committed(snapshot, partitions)

    def _write(self, snapshot: S, data: Any, plan: CommitPlan[R, D]) -> int:
        # On the snapshot the plan was checked against: a commit for these partitions since then
        # is a conflict, never a silent overwrite of what it recorded.
        return self.committer.write(snapshot, data, plan)
