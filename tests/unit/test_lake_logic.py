from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from peacewatch.lakehouse.arrow_schema import arrow_schema
from peacewatch.lakehouse.ingest.batching import BatchPolicy, CommitPlan, Gap, GapTracker, MicroBatch
from peacewatch.lakehouse.ingest.positions import identity_fingerprint, sink_app_id, source_app_id
from peacewatch.lakehouse.ingest.rows import to_table
from peacewatch.lakehouse.ingest.sink import RECEIVE_BYTES, receive_queue
from peacewatch.platform.contract import Citizen, Report
from peacewatch.platform.contract_data import parse_report_data
from peacewatch.platform.positions import (
    closes_entry,
    decode_position,
    encode_position,
    entry_size,
    entry_start,
    follows,
)
from peacewatch.platform.topics import MAX_ENTRY_BYTES


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _add(
    batch: MicroBatch[int, str], row: int, *, partition: str = "p0", position: int, size: int = 1,
    entry_size: int = 0,
) -> bool:  # fmt: skip
    return batch.add(row, partition=partition, position=position, size=size, entry_size=entry_size,
                     message=(partition, position))  # fmt: skip


def test_batch_flushes_on_rows_bytes_or_age() -> None:
    clock = FakeClock()
    by_rows = MicroBatch[int, str](BatchPolicy(max_rows=3, max_bytes=10**9, max_age_s=60), clock=clock)
    for i in range(2):
        _add(by_rows, i, position=i)
    assert not by_rows.due()
    _add(by_rows, 2, position=2)
    assert by_rows.due()

    by_bytes = MicroBatch[int, str](BatchPolicy(max_rows=10**6, max_bytes=100, max_age_s=60), clock=clock)
    _add(by_bytes, 0, position=0, size=99)
    assert not by_bytes.due()
    _add(by_bytes, 1, position=1, size=1)
    assert by_bytes.due()

    by_age = MicroBatch[int, str](BatchPolicy(max_rows=10**6, max_bytes=10**9, max_age_s=5), clock=clock)
    assert not by_age.due()
    assert by_age.empty
    _add(by_age, 0, position=0)
    clock.now += 4.9
    assert not by_age.due()
    assert by_age.seconds_until_due() == pytest.approx(0.1)
    clock.now += 0.1
    assert by_age.due()


def test_a_position_is_kept_once_and_every_copy_is_acknowledged() -> None:
    batch = MicroBatch[int, str](BatchPolicy())
    assert _add(batch, 10, position=7)
    assert not _add(batch, 11, position=7)  # the partition came back: a second copy
    assert batch.add_dead_letter("bad", partition="p0", position=9, entry_size=0, message=("p0", 9))
    assert not batch.add_dead_letter("bad", partition="p0", position=9, entry_size=0, message=("p0", 9))
    assert len(batch) == 1
    assert batch.duplicates == 2
    assert [m for _, _, m in batch.received] == [("p0", 7), ("p0", 7), ("p0", 9), ("p0", 9)]


def _at(ledger: int, entry: int, index: int = 0) -> int:
    return encode_position((ledger, entry, index))


def test_plan_writes_only_above_the_committed_positions_and_records_the_highest() -> None:
    batch = MicroBatch[int, str](BatchPolicy())
    for entry in (5, 3, 6, 4):
        _add(batch, entry * 10, position=_at(1, entry))
    _add(batch, 70, partition="p1", position=_at(2, 7))
    batch.add_dead_letter("bad p0 7", partition="p0", position=_at(1, 7), entry_size=0, message=None)
    batch.add_dead_letter("bad p0 2", partition="p0", position=_at(1, 2), entry_size=0, message=None)
    plan = batch.plan({"p0": _at(1, 3), "p1": _at(2, 8)})
    assert plan.rows == [40, 50, 60]  # in position order, above what is committed
    assert plan.dead_letters == ["bad p0 7"]  # the one at 2 was dead-lettered before
    assert plan.positions == {"p0": _at(1, 7)}  # p1 does not advance: nothing recorded for it
    assert plan.skipped == 2
    assert not plan.held
    assert batch.plan({"p0": _at(1, 7), "p1": _at(2, 7)}).empty
    assert batch.partitions == ["p0", "p1"]


def test_plan_stops_a_partition_at_its_first_gap_and_holds_the_rest_unacknowledged() -> None:
    batch = MicroBatch[int, str](BatchPolicy())
    for entry, index, size in ((4, 0, 2), (4, 1, 2), (5, 0, 1), (8, 0, 1), (9, 0, 1)):  # 6, 7 never came
        _add(batch, entry * 10 + index, position=_at(1, entry, index), entry_size=size)
    _add(batch, 99, partition="p1", position=_at(3, 0))  # a new ledger: follows anything older
    plan = batch.plan({"p0": _at(1, 3, 2), "p1": _at(2, 40, 5)})
    assert plan.rows == [40, 41, 50, 99]
    assert plan.positions == {"p0": _at(1, 5), "p1": _at(3, 0)}
    assert plan.held == {"p0": Gap(after=_at(1, 5), beyond=_at(1, 8))}
    assert [m for m in batch.acknowledgeable(plan)] == [
        ("p0", _at(1, 4, 0)), ("p0", _at(1, 4, 1)), ("p0", _at(1, 5)), ("p1", _at(3, 0))
    ]  # fmt: skip
    # a gap right after the committed position: nothing of p0 at all
    assert batch.plan({"p0": _at(1, 2)}).held["p0"] == Gap(after=_at(1, 2), beyond=_at(1, 4))
    # trusted (the broker would not fill it): written across
    trusted = batch.plan({"p0": _at(1, 3, 2)}, trusted=frozenset({"p0"}))
    assert not trusted.held
    assert trusted.positions["p0"] == _at(1, 9)


def test_a_gap_is_trusted_only_after_repeated_requests_over_the_patience() -> None:
    clock = FakeClock()
    gaps = GapTracker(patience_s=30, requests=3, clock=clock)
    plan = CommitPlan[int, str](rows=[], dead_letters=[], positions={}, skipped=0,
                                held={"p0": Gap(after=5, beyond=9)})  # fmt: skip
    for _ in range(3):
        gaps.seen(plan)
        clock.now += 10
    assert gaps.trusted(["p0"], {"p0": 5}) == frozenset({"p0"})
    assert gaps.trusted(["p1"], {"p0": 5}) == frozenset()  # not in this batch
    assert gaps.trusted(["p0"], {"p0": 6}) == frozenset()  # the table moved on: another gap, if any
    clock.now += 100
    gaps.seen(plan)
    closed = CommitPlan[int, str](rows=[], dead_letters=[], positions={"p0": 12}, skipped=0)
    gaps.seen(closed)  # p0 advanced without a gap: filled
    assert gaps.trusted(["p0"], {"p0": 5}) == frozenset()
    fresh = GapTracker(patience_s=30, requests=3, clock=clock)
    fresh.seen(plan)
    clock.now += 60
    assert fresh.trusted(["p0"], {"p0": 5}) == frozenset()  # one request only


@given(
    st.lists(st.tuples(st.integers(1, 4), st.integers(0, 6), st.integers(0, 3)), min_size=1, max_size=40,
             unique=True),
    st.sets(st.integers(0, 39)),
)  # fmt: skip
def test_a_plan_covers_a_gap_free_run_and_leaves_the_rest_unacknowledged(
    stream: list[tuple[int, int, int]], dropped: set[int]
) -> None:
    """Whatever is missing from a partition's delivery, a commit covers only a run from the
    committed position that skips nothing a client can see (its one blind spot: the tail of a
    ledger, since a client cannot see where a ledger ended), ends on the last message of an
    entry, and everything not covered stays unacknowledged."""
    full = sorted(encode_position(p) for p in stream)
    full = [p for p in full if _well_formed(p, set(full))]  # entries 0..n, batch indexes 0..m
    sizes = {entry_start(p): 0 for p in full}
    for p in full:
        sizes[entry_start(p)] += 1
    whole = [p for p in full if closes_entry(p, sizes[entry_start(p)])]
    if not whole:
        return
    committed = whole[0]  # a recorded position always closed its entry
    rest = [p for p in full if p > committed]
    delivered = [p for i, p in enumerate(rest) if i not in dropped]
    batch = MicroBatch[int, str](BatchPolicy())
    for pos in delivered:
        _add(batch, pos, position=pos, entry_size=sizes[entry_start(pos)])
    plan = batch.plan({"p0": committed})
    covered = plan.rows
    assert covered == delivered[: len(covered)]  # a prefix of what came, in order
    missed = [p for p in rest if p <= (covered[-1] if covered else committed) and p not in delivered]
    for pos in missed:  # skipped over only where a ledger's tail went missing
        ledger = decode_position(pos)[0]
        assert not [p for p in delivered if p > pos and decode_position(p)[0] == ledger]
    if covered:
        assert closes_entry(covered[-1], sizes[entry_start(covered[-1])])
        assert plan.positions == {"p0": covered[-1]}
    if covered != delivered:
        assert "p0" in plan.held
    acked = {message[1] for message in batch.acknowledgeable(plan)}  # type: ignore[index]
    assert acked == set(covered)


def _well_formed(position: int, positions: set[int]) -> bool:
    ledger, entry, index = decode_position(position)
    return all(
        encode_position(p) in positions
        for p in [(ledger, entry, i) for i in range(index)] + [(ledger, e, 0) for e in range(entry)]
    )


@pytest.mark.parametrize(
    "position", [(0, 0, -1), (0, 0, 0), (123, 45_678, 999), ((1 << 31) - 1, (1 << 20) - 1, 4095)]
)
def test_positions_round_trip_and_keep_their_order(position: tuple[int, int, int]) -> None:
    encoded = encode_position(position)
    assert 0 <= encoded < 1 << 63
    ledger, entry, batch = decode_position(encoded)
    assert (ledger, entry) == position[:2]
    assert batch == max(position[2], 0)


def test_encoding_is_monotonic_in_message_order() -> None:
    ordered = [(1, 0, -1), (1, 0, 5), (1, 1, 0), (1, 49_999, 999), (2, 0, 0), (900, 3, 1)]
    codes = [encode_position(p) for p in ordered]
    assert codes == sorted(codes)
    assert len(set(codes)) == len(codes)


def test_positions_out_of_range_are_refused_with_the_fix() -> None:
    with pytest.raises(ValueError, match="managedLedgerMaxEntriesPerLedger"):
        encode_position((1, 1 << 20, 0))


def test_app_ids_carry_the_topic_identity() -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    part = "persistent://t/drones/reports-partition-3"
    assert sink_app_id(a, part) != sink_app_id(b, part)
    assert sink_app_id(a, part).endswith(part)
    assert 0 <= identity_fingerprint(a) < 1 << 63
    assert identity_fingerprint(a) != identity_fingerprint(b)
    assert source_app_id("persistent://t/drones/reports") == "peacewatch-source:persistent://t/drones/reports"


def _report(ts: datetime) -> dict[str, object]:
    report = Report(
        report_id=uuid.uuid4(), drone_id="d1", ts=ts, lat=1.5, lon=2.5, battery_pct=50.0,
        citizens=[Citizen(citizen_id="c1", name="Ada", peacescore=12)], words=["riot", "tea"],
    )  # fmt: skip
    return dict(parse_report_data(report.to_json()))


def test_rows_carry_contract_fields_and_bookkeeping() -> None:
    reports = [
        _report(datetime(2026, 11, 3, 23, 59, 59, tzinfo=UTC)),
        _report(datetime(2026, 11, 4, 0, 0, 1, tzinfo=UTC)),
    ]
    ingest = datetime(2026, 11, 4, 0, 0, 5, tzinfo=UTC)
    table = to_table(
        Report, reports, [1_700_000_000_123, 1_700_000_000_456], ["(1,2,-1)", "(1,3,-1)"], ingest_time=ingest
    )
    assert table.schema == arrow_schema(Report)
    rows = table.to_pylist()
    assert [str(r["date"]) for r in rows] == ["2026-11-03", "2026-11-04"]
    assert rows[0]["citizens"] == [{"citizen_id": "c1", "name": "Ada", "peacescore": 12}]
    assert rows[0]["words"] == ["riot", "tea"]
    assert rows[1]["message_id"] == "(1,3,-1)"
    assert rows[0]["publish_time"] == datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)
    assert {r["ingest_time"] for r in rows} == {ingest}


def test_a_commit_never_ends_inside_an_entry() -> None:
    """Issue 21: with only the first of a two-message entry in hand, nothing is recorded (the next
    entry must not look like its successor); the whole entry, then the next, are."""
    batch = MicroBatch[int, str](BatchPolicy())
    _add(batch, 0, position=_at(1, 0, 0), entry_size=2)
    plan = batch.plan({})
    assert plan.empty
    assert plan.held == {"p0": Gap(after=-1, beyond=_at(1, 0, 0))}
    assert batch.acknowledgeable(plan) == []
    _add(batch, 1, position=_at(1, 1, 0), entry_size=1)  # the next entry, its predecessor unfinished
    assert batch.plan({}).held["p0"] == Gap(after=-1, beyond=_at(1, 0, 0))
    _add(batch, 2, position=_at(1, 0, 1), entry_size=2)
    whole = batch.plan({})
    assert whole.rows == [0, 2, 1]
    assert whole.positions == {"p0": _at(1, 1, 0)}


def test_seal_carries_an_unfinished_last_entry_over_to_the_next_batch() -> None:
    batch = MicroBatch[int, str](BatchPolicy())
    _add(batch, 0, position=_at(1, 0, 0), entry_size=1)
    _add(batch, 10, position=_at(1, 1, 0), entry_size=3)
    _add(batch, 11, position=_at(1, 1, 1), entry_size=3)
    _add(batch, 11, position=_at(1, 1, 1), entry_size=3)  # a copy: carried with its original
    _add(batch, 50, partition="p1", position=_at(2, 5, 1), entry_size=2)  # p1's last entry is whole
    _add(batch, 51, partition="p1", position=_at(2, 5, 0), entry_size=2)
    rest = batch.carry_open_entries()
    assert batch.plan({}).rows == [0]
    assert batch.plan({}).positions == {"p0": _at(1, 0, 0)}
    assert sorted(batch.rows["p1"]) == [_at(2, 5, 0), _at(2, 5, 1)]
    assert len(batch) == 3
    assert sorted(rest.rows["p0"]) == [_at(1, 1, 0), _at(1, 1, 1)]
    assert [pos for _, pos, _ in rest.received] == [_at(1, 1, 0), _at(1, 1, 1), _at(1, 1, 1)]
    _add(rest, 12, position=_at(1, 1, 2), entry_size=3)
    assert rest.carry_open_entries().empty
    assert rest.plan({"p0": _at(1, 0, 0)}).positions == {"p0": _at(1, 1, 2)}


@pytest.mark.parametrize(
    ("previous", "position", "closed", "expected"),
    [
        ((1, 0, 0), (1, 0, 1), False, True),  # same entry, next message
        ((1, 0, 0), (1, 1, 0), True, True),  # next entry after the last of this one
        ((1, 0, 0), (1, 1, 0), False, False),  # next entry while this one is unfinished
        ((1, 0, 4095), (1, 1, 0), False, False),  # the highest batch index + 1 is the next entry
        ((1, 7, 2), (2, 0, 0), True, True),  # a later ledger's start
        ((1, 7, 2), (2, 0, 0), False, False),
        ((1, 7, 2), (2, 1, 0), True, False),  # a ledger entered past its start
        ((1, 0, 0), (1, 2, 0), True, False),  # an entry skipped
    ],
)
def test_follows(
    previous: tuple[int, int, int], position: tuple[int, int, int], closed: bool, expected: bool
) -> None:
    assert follows(encode_position(previous), encode_position(position), closed=closed) is expected


class _SerializedId:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def serialize(self) -> bytes:
        return self.data


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


@given(
    ledger=st.integers(0, 2**40), entry=st.integers(0, 2**30), partition=st.integers(-1, 1000),
    index=st.integers(-1, 4095), ack_set=st.lists(st.integers(-(2**63), 2**63 - 1), max_size=3),
    size=st.one_of(st.none(), st.integers(0, 4096)),
)  # fmt: skip
def test_entry_size_reads_the_batch_size_of_a_serialized_message_id(
    ledger: int, entry: int, partition: int, index: int, ack_set: list[int], size: int | None
) -> None:
    """MessageIdData as protobuf writes it: varints (negative int32/int64 as 10 bytes), the
    repeated ack set unpacked, batch size last and optional."""
    data = b"\x08" + _varint(ledger) + b"\x10" + _varint(entry)
    data += b"\x18" + _varint(partition % 2**64) + b"\x20" + _varint(index % 2**64)
    data += b"".join(b"\x28" + _varint(a % 2**64) for a in ack_set)
    if size is not None:
        data += b"\x30" + _varint(size)
    assert entry_size(_SerializedId(data)) == (size or 0)


def test_what_a_commit_held_back_is_required_of_the_next_until_covered() -> None:
    """The explore run's find: held back after a hole, (1, 1, 0) must not be skipped by a later
    batch whose first message is a new ledger's start (which follows 'nothing' by the positions)."""
    gaps = GapTracker()
    first = MicroBatch[int, str](BatchPolicy())
    _add(first, 1, position=_at(1, 1, 0))
    held = first.plan({})
    assert held.held == {"p0": Gap(after=-1, beyond=_at(1, 1, 0))}
    gaps.seen(held)
    later = MicroBatch[int, str](BatchPolicy())
    _add(later, 2, position=_at(2, 0, 0))
    assert later.plan({}).positions == {"p0": _at(2, 0, 0)}  # by the positions alone: a successor
    required = gaps.required(["p0"], {})
    assert required == {"p0": _at(1, 1, 0)}
    assert later.plan({}, required=required).held == {"p0": Gap(after=-1, beyond=_at(2, 0, 0))}
    whole = MicroBatch[int, str](BatchPolicy())
    for entry in range(4):
        _add(whole, entry, position=_at(1, entry, 0))
    _add(whole, 9, position=_at(2, 0, 0))
    plan = whole.plan({}, required=required)
    assert plan.positions == {"p0": _at(2, 0, 0)}
    gaps.seen(plan)
    assert gaps.required(["p0"], {"p0": _at(2, 0, 0)}) == {}
    gaps.seen(held)
    assert gaps.required(["p0"], {"p0": _at(1, 1, 0)}) == {}  # stored meanwhile by another sink


@pytest.mark.hostile
def test_dead_letters_seal_a_batch_like_rows() -> None:
    """A flood of large invalid messages held nothing back before (issue 33): they count toward
    the batch's bytes and rows, so the sink commits (and lets go of) them as it does valid ones."""
    by_bytes = MicroBatch[int, str](BatchPolicy(max_bytes=10 * 2**20, max_rows=1_000_000, max_age_s=3600))
    for i in range(3):
        by_bytes.add_dead_letter(
            "bad", partition="p0", position=i, entry_size=0, message=None, size=4 * 2**20
        )
        assert by_bytes.full == (i == 2)  # the letter that filled it says so: sealed at once
    assert by_bytes.due()
    by_rows = MicroBatch[int, str](BatchPolicy(max_rows=5, max_age_s=3600))
    for i in range(4):
        by_rows.add_dead_letter("bad", partition="p0", position=i, entry_size=0, message=None, size=1)
    assert not by_rows.due()
    by_rows.add_dead_letter("bad", partition="p0", position=9, entry_size=0, message=None, size=1)
    assert by_rows.due()
    assert len(by_rows) == 0  # still no rows


@given(st.lists(st.integers(0, 3_000_000), min_size=1, max_size=300), st.integers(1, 40))
def test_a_commit_writes_into_a_bounded_number_of_table_partitions(days: list[int], bound: int) -> None:
    """A drone chooses its `ts` (years 1-9999): a batch reaches max_partitions days once, at the
    row that reaches it, and is due from then on; what a seal carries over keeps its own count."""
    batch = MicroBatch[int, str](
        BatchPolicy(max_partitions=bound, max_rows=10**6, max_age_s=3600), table_partition_of=lambda row: row
    )
    reached_at = None
    for i, day in enumerate(days):
        _add(batch, day, position=_at(1, i, 0), entry_size=1)
        if batch.full and reached_at is None:
            reached_at = i
            assert len(batch.table_partitions) == bound
            assert batch.due()
    distinct = len(set(days))
    assert (reached_at is not None) == (distinct >= bound)
    assert batch.due() == (distinct >= bound)
    if reached_at is not None:  # the first row of the bound's day is the one that reached it
        assert len(set(days[: reached_at + 1])) == bound > len(set(days[:reached_at]))


def test_a_carried_entry_takes_its_days_along() -> None:
    batch = MicroBatch[int, str](BatchPolicy(max_partitions=3), table_partition_of=lambda row: row)
    _add(batch, 1, position=_at(1, 0, 0), entry_size=1)
    _add(batch, 2, position=_at(1, 1, 0), entry_size=2)  # an entry of two, the second still to come
    rest = batch.carry_open_entries()
    assert batch.table_partitions == {1}
    assert rest.table_partitions == {2}
    assert not rest.full
    _add(rest, 3, position=_at(1, 1, 1), entry_size=2)
    _add(rest, 4, position=_at(1, 2, 0), entry_size=1)
    assert rest.full


def test_the_receive_queue_holds_its_budget_at_the_largest_entry() -> None:
    assert receive_queue(RECEIVE_BYTES) == 256
    for budget in (1, 2**20, 2**28, 2**33):
        queue = receive_queue(budget)
        assert queue >= 2
        assert queue == 2 or 2 * queue * MAX_ENTRY_BYTES <= budget
