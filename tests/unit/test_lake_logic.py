from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from peacewatch.lakehouse.arrow_schema import arrow_schema
from peacewatch.lakehouse.batching import BatchPolicy, MicroBatch
from peacewatch.lakehouse.positions import (
    decode_position,
    encode_position,
    identity_fingerprint,
    sink_app_id,
    source_app_id,
)
from peacewatch.lakehouse.rows import to_table
from peacewatch.platform.contract import Citizen, Report
from peacewatch.platform.contract_data import parse_report_data


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _add(
    batch: MicroBatch[int, str], row: int, *, partition: str = "p0", position: int, size: int = 1
) -> bool:
    return batch.add(row, partition=partition, position=position, size=size, message=(partition, position))


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
    assert batch.add_dead_letter("bad", partition="p0", position=9, message=("p0", 9))
    assert not batch.add_dead_letter("bad", partition="p0", position=9, message=("p0", 9))
    assert len(batch) == 1
    assert batch.duplicates == 2
    assert batch.received == [("p0", 7), ("p0", 7), ("p0", 9), ("p0", 9)]


def test_plan_writes_only_above_the_committed_positions_and_records_the_highest() -> None:
    batch = MicroBatch[int, str](BatchPolicy())
    for pos in (5, 3, 9, 1):
        _add(batch, pos * 10, position=pos)
    _add(batch, 70, partition="p1", position=7)
    batch.add_dead_letter("bad p0 11", partition="p0", position=11, message=None)
    batch.add_dead_letter("bad p0 2", partition="p0", position=2, message=None)
    plan = batch.plan({"p0": 3, "p1": 8})
    assert plan.rows == [50, 90]  # in position order, above what is committed
    assert plan.dead_letters == ["bad p0 11"]  # the one at 2 was dead-lettered before
    assert plan.positions == {"p0": 11}  # p1 does not advance: nothing recorded for it
    assert plan.skipped == 3
    assert batch.plan({"p0": 11, "p1": 7}).empty
    assert batch.highest() == {"p0": 11, "p1": 7}


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
