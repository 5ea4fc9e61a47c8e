"""The sink's exactly-once protocol: the shipped BatchingSink against a broker and a table in memory.

Broker model (one subscription, Failover): per partition, entries (a producer batch of several
messages each) in order, in ledgers of a few entries; one active consumer per partition among
the connected ones; a change of active consumer rewinds delivery to the first entry not fully
acknowledged (without batch-index acks, an entry comes back whole until all its messages are
acked). The broker pushes whole entries into the owner's receiver queue; the sink takes messages
from it into its batch (a batch can end in the middle of an entry); whatever is still queued when
a sink stops is never processed. And the broker's fault seen with 4.0.8 while sinks joined and
left: an entry passed over - dispatched to nobody who acknowledges it, the read position beyond
it, no rewind to follow - until something rewinds the partition (a handover, or the owner asking
for redelivery, which also empties its receiver queue).

Table model: a commit made on a snapshot fails (CommitConflict) if a commit since that snapshot
recorded a position for one of the same partitions (delta-rs' rule for app transactions).

The sinks are the real lakehouse.batching_sink.BatchingSink - seal, plan, dead letters, write,
acknowledge, redelivery requests, race retries - with the in-memory table as its Committer and
the broker as its Consumer. Hypothesis drives the interleavings; at the end every published
message must be stored exactly once, and no recorded position may go backwards. Cases that once
lost a message are replayed in every run, and five mutations of the real code must each make the
model fail on them (test_the_model_catches_*). A fifth, cumulative
acknowledgements, no longer can: a commit covers a gap-free run from the recorded position, so
everything below the last message it acknowledges is stored - the gap check made it harmless.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from peacewatch.lakehouse.ingest import batching
from peacewatch.lakehouse.ingest.batching import BatchPolicy, CommitPlan, GapTracker
from peacewatch.lakehouse.ingest.batching_sink import BatchingSink, CommitConflict, CommitOptions
from peacewatch.platform.positions import encode_position
from tests.hypothesis_budget import budget

PARTITIONS = ("p0", "p1")
_ENTRIES_PER_LEDGER = 4
Message = tuple[str, int]  # (partition, encoded position): the model's message and its row
Snapshot = tuple[int, dict[str, int]]  # (table version, recorded positions)


def _position(entry: int, index: int) -> int:
    """The model's n-th entry of a partition as a real encoded position (ledgers roll over)."""
    return encode_position((1 + entry // _ENTRIES_PER_LEDGER, entry % _ENTRIES_PER_LEDGER, index))


@dataclass
class Table:
    rows: list[Message] = field(default_factory=list)
    positions: dict[str, int] = field(default_factory=dict)
    log: list[set[str]] = field(default_factory=list)  # partitions each commit recorded
    history: dict[str, list[int]] = field(default_factory=dict)

    @property
    def version(self) -> int:
        return len(self.log)

    def snapshot(self) -> Snapshot:
        return self.version, dict(self.positions)


class MemoryCommitter:
    """The table as the Committer seam. `stale` stands for a snapshot loaded earlier: the next
    snapshot() returns it once (another sink may have committed since)."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.stale: Snapshot | None = None

    def check_source(self) -> None:
        pass

    def snapshot(self) -> Snapshot:
        snapshot, self.stale = self.stale or self.table.snapshot(), None
        return snapshot

    def committed(self, snapshot: Snapshot, partitions: list[str]) -> dict[str, int]:
        return {p: snapshot[1][p] for p in partitions if p in snapshot[1]}

    def convert(self, rows: list[Message]) -> tuple[list[Message], list[None]]:
        return list(rows), []

    def write(self, snapshot: Snapshot, data: list[Message], plan: CommitPlan[Message, None]) -> int:
        touched = set(plan.positions)
        if any(touched & later for later in self.table.log[snapshot[0] :]):
            raise CommitConflict("a concurrent commit recorded these partitions")
        self.table.rows.extend(data)
        for p, pos in plan.positions.items():
            self.table.positions[p] = pos
            self.table.history.setdefault(p, []).append(pos)
        self.table.log.append(touched)
        return len(data)

    def forget(self) -> None:
        self.stale = None


class NoDeadLetters:
    def send(self, letter: None) -> None:
        raise AssertionError("the model publishes no invalid message")

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass
class Broker:
    entries: dict[str, list[int]] = field(default_factory=lambda: {p: [] for p in PARTITIONS})  # sizes
    acked: dict[str, set[int]] = field(default_factory=lambda: {p: set() for p in PARTITIONS})
    cursor: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PARTITIONS, 0))  # next entry
    active: dict[str, str | None] = field(default_factory=lambda: dict.fromkeys(PARTITIONS))

    def messages(self, p: str, entry: int) -> list[int]:
        return [_position(entry, i) for i in range(self.entries[p][entry])]

    def all_messages(self, p: str) -> list[int]:
        return [m for e in range(len(self.entries[p])) for m in self.messages(p, e)]

    def assign(self, p: str, owner: str | None) -> None:
        if owner != self.active[p]:
            self.active[p] = owner
            self.cursor[p] = 0  # rewind: entries not fully acknowledged are delivered again

    def rebalance(self, connected: list[str]) -> None:
        for i, p in enumerate(PARTITIONS):
            self.assign(p, sorted(connected)[i % len(connected)] if connected else None)

    def rewind(self, owner: str) -> None:
        """A consumer asked for what it has not acknowledged: the partitions it owns rewind."""
        for p in PARTITIONS:
            if self.active[p] == owner:
                self.cursor[p] = 0

    def next_entry(self, p: str) -> list[int] | None:
        while (
            self.cursor[p] < len(self.entries[p]) and set(self.messages(p, self.cursor[p])) <= self.acked[p]
        ):
            self.cursor[p] += 1
        if self.cursor[p] >= len(self.entries[p]):
            return None
        self.cursor[p] += 1
        return self.messages(p, self.cursor[p] - 1)


class MemoryConsumer:
    """The broker as one sink's Consumer seam. A redelivery request takes effect when the model's
    `redeliver` rule says so (the broker answers asynchronously)."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.asked = False

    def acknowledge(self, message: Message) -> None:
        part, pos = message
        self.broker.acked[part].add(pos)

    def acknowledge_cumulative(self, message: Message) -> None:
        part, pos = message
        self.broker.acked[part].update(m for m in self.broker.all_messages(part) if m <= pos)

    def redeliver(self) -> None:
        self.asked = True


@dataclass
class Sink:
    """One sink process: the real BatchingSink and its client's receiver queue."""

    name: str
    real: BatchingSink[Message, None, Snapshot]
    committer: MemoryCommitter
    consumer: MemoryConsumer
    queue: list[tuple[str, int, int]] = field(default_factory=list)  # (partition, position, entry size)


_NO_WAIT = CommitOptions(race_wait_s=0.0)
_RUNNING = threading.Event()  # never set: the model's commits are never stopped


def _new_sink(name: str, table: Table, broker: Broker) -> Sink:
    committer, consumer = MemoryCommitter(table), MemoryConsumer(broker)
    real: BatchingSink[Message, None, Snapshot] = BatchingSink(
        committer=committer, consumer=consumer, dead_letters=NoDeadLetters(), policy=BatchPolicy(),
        options=_NO_WAIT, clock=lambda: 0.0, name=name,
    )  # fmt: skip
    real.start()
    return Sink(name, real, committer, consumer)


def _offer(sink: Sink, part: str, pos: int, entry_size: int) -> None:
    sink.real.add(
        (part, pos), partition=part, position=pos, size=1, entry_size=entry_size, message=(part, pos)
    )


def _commit(sink: Sink) -> None:
    sink.real.commit(sink.real.seal(), stop=_RUNNING)


NAMES = st.sampled_from(["a", "b", "c"])


@pytest.fixture(autouse=True)
def _quiet_sink_log() -> Iterator[None]:
    """The model meets thousands of gaps: their warnings cost more than the model itself."""
    log = logging.getLogger("peacewatch.lakehouse.ingest.sink")
    level, log.level = log.level, logging.ERROR + 10
    yield
    log.setLevel(level)


class SinkProtocol(RuleBasedStateMachine):
    """Sinks joining, leaving, crashing and committing while messages flow."""

    def __init__(self) -> None:
        super().__init__()
        self.broker = Broker()
        self.table = Table()
        self.sinks: dict[str, Sink] = {}

    @rule(part=st.sampled_from(PARTITIONS), size=st.integers(1, 3))
    def publish(self, part: str, size: int) -> None:
        self.broker.entries[part].append(size)

    @rule(who=NAMES)
    def join(self, who: str) -> None:
        if who not in self.sinks:
            self.sinks[who] = _new_sink(who, self.table, self.broker)
            self.broker.rebalance(list(self.sinks))

    @rule(who=NAMES, graceful=st.booleans())
    def leave(self, who: str, graceful: bool) -> None:
        sink = self.sinks.pop(who, None)
        if sink is None:
            return
        if graceful:  # SIGTERM: commit the batch in hand, then go
            _commit(sink)
        # kill -9: the batch is gone, nothing of it was acknowledged
        self.broker.rebalance(list(self.sinks))

    @rule(part=st.sampled_from(PARTITIONS))
    def dispatch(self, part: str) -> None:
        """The broker pushes the partition's next entry into its owner's receiver queue."""
        owner = self.sinks.get(self.broker.active[part] or "")
        entry = self.broker.next_entry(part) if owner is not None else None
        if owner is not None and entry is not None:
            owner.queue.extend((part, pos, len(entry)) for pos in entry)

    @rule(part=st.sampled_from(PARTITIONS))
    def pass_over(self, part: str) -> None:
        """The broker's fault: the partition's next entry goes to no one, and no rewind follows.
        Not a ledger's last entry: a client cannot see where a ledger ends, so a hole there is the
        protocol's one blind spot (lakehouse.batching; ledgers of 50,000 entries in production)."""
        broker = self.broker
        entry = broker.cursor[part]
        while entry < len(broker.entries[part]) and set(broker.messages(part, entry)) <= broker.acked[part]:
            entry += 1
        if broker.active[part] is not None and entry % _ENTRIES_PER_LEDGER != _ENTRIES_PER_LEDGER - 1:
            broker.cursor[part] = min(entry + 1, len(broker.entries[part]))

    @rule(who=NAMES)
    def redeliver(self, who: str) -> None:
        """The broker answers a sink's request: its receiver queue is cleared, its partitions
        rewind."""
        sink = self.sinks.get(who)
        if sink is not None and sink.consumer.asked:
            sink.consumer.asked = False
            sink.queue.clear()
            self.broker.rewind(who)

    @rule(who=NAMES, n=st.integers(1, 4))
    def take(self, who: str, n: int) -> None:
        """The sink's receive: up to n messages from the queue into its batch (entries can be cut)."""
        sink = self.sinks.get(who)
        while sink is not None and sink.queue and n > 0:
            part, pos, size = sink.queue.pop(0)
            sink.real.add(
                (part, pos), partition=part, position=pos, size=1, entry_size=size, message=(part, pos)
            )
            n -= 1

    @rule(part=st.sampled_from(PARTITIONS), who=NAMES)
    def move(self, part: str, who: str) -> None:
        """The broker gives a partition to another connected consumer (priorities, reconnects)."""
        if who in self.sinks:
            self.broker.assign(part, who)

    @rule(who=NAMES)
    def snapshot(self, who: str) -> None:
        """The sink loads the table now; its next commit is planned on this snapshot, whatever
        other sinks commit meanwhile."""
        if who in self.sinks:
            self.sinks[who].committer.stale = self.table.snapshot()

    @rule(who=NAMES)
    def commit(self, who: str) -> None:
        sink = self.sinks.get(who)
        if sink is not None:
            _commit(sink)

    @invariant()
    def positions_never_go_backwards(self) -> None:
        for p, recorded in self.table.history.items():
            assert recorded == sorted(recorded), f"{p} went backwards: {recorded}"

    @invariant()
    def nothing_stored_twice(self) -> None:
        assert len(self.table.rows) == len(set(self.table.rows)), "a message stored twice"

    def teardown(self) -> None:
        # Drain: every sink commits, then one last sink takes everything still unacknowledged.
        for sink in self.sinks.values():
            _commit(sink)
        last = _new_sink("final", self.table, self.broker)
        self.broker.rebalance(["final"])
        for p in PARTITIONS:
            while (entry := self.broker.next_entry(p)) is not None:
                for pos in entry:
                    last.real.add(
                        (p, pos), partition=p, position=pos, size=1, entry_size=len(entry), message=(p, pos)
                    )
        _commit(last)
        expected = sorted((p, m) for p in PARTITIONS for m in self.broker.all_messages(p))
        missing = sorted(set(expected) - set(self.table.rows))
        assert not missing, f"every message, exactly once -- the table lacks {missing}"
        assert sorted(self.table.rows) == expected, "every message, exactly once"


# Recorded cases: each a run of the model's rules that once lost a message. Replayed in every run,
# and against each mutation of the real code below.
def _entry_cut_then_passed_over(state: SinkProtocol) -> None:
    """CI's counterexample (issue 21): sink c commits the first message of a two-message entry;
    sink a then receives the next entry - which a position inside an entry must not let look like
    its successor - and the final owner would skip the rest of the first entry as stored."""
    state.publish(part="p0", size=2)
    state.join(who="c")
    state.dispatch(part="p0")
    state.join(who="a")
    state.pass_over(part="p0")
    state.publish(part="p0", size=1)
    state.take(n=1, who="c")
    state.dispatch(part="p0")
    state.take(n=1, who="a")
    state.commit(who="c")  # only the first message of entry 0 in hand: nothing may be recorded
    state.commit(who="a")


def _held_then_a_new_ledger(state: SinkProtocol) -> None:
    """The explore run's find: a commit holds back what follows a hole (received, not
    acknowledged); the next batch starts with a new ledger's first entry, which follows "nothing"
    - recorded, it made the whole held ledger look stored."""
    state.publish(part="p1", size=1)
    state.join(who="b")
    state.pass_over(part="p1")
    for size in (1, 1, 2):
        state.publish(part="p1", size=size)
    state.dispatch(part="p1")
    state.pass_over(part="p1")
    state.publish(part="p1", size=1)
    state.take(n=1, who="b")
    state.dispatch(part="p1")
    state.dispatch(part="p1")
    state.take(n=2, who="b")
    state.commit(who="b")  # a gap after the start: (1, 1, 0) and (1, 3, *) held back
    state.take(n=1, who="b")  # (2, 0, 0): a ledger's start


def _stale_snapshot(state: SinkProtocol) -> None:
    """Sink a plans on a snapshot from before sink b stored the same message."""
    state.publish(part="p0", size=1)
    state.join(who="a")
    state.dispatch(part="p0")
    state.take(n=1, who="a")
    state.snapshot(who="a")
    state.join(who="b")
    state.move(part="p0", who="b")
    state.dispatch(part="p0")
    state.take(n=1, who="b")
    state.commit(who="b")
    state.commit(who="a")  # its snapshot predates b's commit of the same partition


def _redelivered_after_a_crash(state: SinkProtocol) -> None:
    """Sink a commits and is killed before acknowledging; sink b gets the message again."""
    state.publish(part="p0", size=1)
    state.join(who="a")
    state.dispatch(part="p0")
    state.take(n=1, who="a")
    state.commit(who="a")
    state.broker.acked["p0"].clear()  # the acknowledgement never reached the broker
    state.join(who="b")
    state.leave(who="a", graceful=False)
    state.dispatch(part="p0")
    state.take(n=1, who="b")
    state.commit(who="b")


def _a_hole_in_a_ledger(state: SinkProtocol) -> None:
    """The broker passes an entry over; the next one reaches the sink."""
    state.join(who="a")
    for _ in range(3):
        state.publish(part="p0", size=1)
    state.dispatch(part="p0")
    state.take(n=1, who="a")
    state.pass_over(part="p0")
    state.dispatch(part="p0")
    state.take(n=1, who="a")
    state.commit(who="a")


CASES = {
    "entry cut, then passed over": _entry_cut_then_passed_over,
    "held, then a new ledger": _held_then_a_new_ledger,
    "stale snapshot": _stale_snapshot,
    "redelivered after a crash": _redelivered_after_a_crash,
    "a hole in a ledger": _a_hole_in_a_ledger,
}


def _replay(case: Callable[[SinkProtocol], None]) -> None:
    state = SinkProtocol()
    case(state)
    state.positions_never_go_backwards()
    state.nothing_stored_twice()
    state.teardown()


@pytest.mark.parametrize("case", CASES.values(), ids=CASES)
def test_a_recorded_case_stores_every_message_once(case: Callable[[SinkProtocol], None]) -> None:
    _replay(case)


_CI = settings(max_examples=budget(1500), stateful_step_count=budget(50, explore=200), deadline=None)
SinkProtocol.TestCase.settings = _CI
test_sink_protocol = SinkProtocol.TestCase


# -- mutations of the real code: each must make the model fail ------------------------------------
# Random search meets some of them only in rare interleavings (and a derandomized run's examples
# change with the test's source), so each is shown on the recorded case that needs it.


@contextmanager
def _mutated(target: Any, name: str, replacement: Callable[..., Any]) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(target, name, replacement)
        yield


def _fails(case: str) -> None:
    with pytest.raises(AssertionError):
        _replay(CASES[case])


def test_the_model_catches_a_write_without_the_conflict_check() -> None:
    def on_a_fresh_snapshot(self: BatchingSink[Message, None, Snapshot], _: Any, data: Any, plan: Any) -> int:
        return self.committer.write(self.committer.snapshot(), data, plan)

    with _mutated(BatchingSink, "_write", on_a_fresh_snapshot):
        _fails("stale snapshot")


def test_the_model_catches_copies_not_recognised_as_stored() -> None:
    with _mutated(BatchingSink, "_committed", lambda self, snapshot, partitions: {}):
        _fails("redelivered after a crash")


def test_the_model_catches_a_commit_across_a_gap() -> None:
    with _mutated(batching, "follows", lambda previous, position, *, closed: True):
        _fails("a hole in a ledger")


def test_the_model_catches_a_commit_ending_inside_an_entry() -> None:
    with _mutated(batching, "closes_entry", lambda position, size: True):
        _fails("entry cut, then passed over")


def test_the_model_catches_a_commit_skipping_what_was_held_back() -> None:
    with _mutated(GapTracker, "required", lambda self, partitions, committed: {}):
        _fails("held, then a new ledger")
