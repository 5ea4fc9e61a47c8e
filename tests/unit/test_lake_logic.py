from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from peacewatch.lakehouse.arrow_schema import arrow_schema
from peacewatch.lakehouse.batching import BatchPolicy, MicroBatch
from peacewatch.lakehouse.positions import decode_position, encode_position, sink_app_id
from peacewatch.lakehouse.rows import to_table
from peacewatch.platform.contract import Citizen, Report


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_batch_flushes_on_rows_bytes_or_age() -> None:
    clock = FakeClock()
    by_rows = MicroBatch[int](BatchPolicy(max_rows=3, max_bytes=10**9, max_age_s=60), clock=clock)
    for i in range(2):
        by_rows.add(i, size=10, partition="p0", position=(1, i, -1))
    assert not by_rows.due()
    by_rows.add(2, size=10, partition="p0", position=(1, 2, -1))
    assert by_rows.due()

    by_bytes = MicroBatch[int](BatchPolicy(max_rows=10**6, max_bytes=100, max_age_s=60), clock=clock)
    by_bytes.add(0, size=99, partition="p0", position=(1, 0, -1))
    assert not by_bytes.due()
    by_bytes.add(1, size=1, partition="p0", position=(1, 1, -1))
    assert by_bytes.due()

    by_age = MicroBatch[int](BatchPolicy(max_rows=10**6, max_bytes=10**9, max_age_s=5), clock=clock)
    assert not by_age.due()
    assert by_age.empty
    by_age.add(0, size=1, partition="p0", position=(1, 0, -1))
    clock.now += 4.9
    assert not by_age.due()
    assert by_age.seconds_until_due() == pytest.approx(0.1)
    clock.now += 0.1
    assert by_age.due()


def test_batch_tracks_the_highest_position_per_partition() -> None:
    batch = MicroBatch[int](BatchPolicy())
    batch.add(0, size=1, partition="t-partition-0", position=(5, 10, 2))
    batch.add(1, size=1, partition="t-partition-1", position=(7, 1, -1))
    batch.add(2, size=1, partition="t-partition-0", position=(5, 10, 3))
    batch.note_position("t-partition-1", (7, 2, -1))  # an invalid message: no row, still covered
    assert batch.last_position == {"t-partition-0": (5, 10, 3), "t-partition-1": (7, 2, -1)}
    assert len(batch) == 3


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
    assert sink_app_id("persistent://t/drones/reports-partition-3") == (
        "peacewatch-sink:persistent://t/drones/reports-partition-3"
    )


def _report(ts: datetime, **extra: object) -> bytes:
    report = Report(
        report_id=uuid.uuid4(), drone_id="d1", ts=ts, lat=1.5, lon=2.5, battery_pct=50.0,
        citizens=[Citizen(citizen_id="c1", name="Ada", peacescore=12)], words=["riot", "tea"],
    )  # fmt: skip
    body = json.loads(report.to_json())
    body.update(extra)
    return json.dumps(body).encode()


def test_rows_carry_contract_fields_and_bookkeeping() -> None:
    payloads = [
        _report(datetime(2026, 11, 3, 23, 59, 59, tzinfo=UTC)),
        _report(datetime(2026, 11, 4, 0, 0, 1, tzinfo=UTC)),
    ]
    ingest = datetime(2026, 11, 4, 0, 0, 5, tzinfo=UTC)
    table = to_table(
        Report, payloads, [1_700_000_000_123, 1_700_000_000_456], ["(1,2,-1)", "(1,3,-1)"], ingest_time=ingest
    )
    assert table.schema == arrow_schema(Report)
    rows = table.to_pylist()
    assert [str(r["date"]) for r in rows] == ["2026-11-03", "2026-11-04"]
    assert rows[0]["citizens"] == [{"citizen_id": "c1", "name": "Ada", "peacescore": 12}]
    assert rows[0]["words"] == ["riot", "tea"]
    assert rows[1]["message_id"] == "(1,3,-1)"
    assert rows[0]["publish_time"] == datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)
    assert {r["ingest_time"] for r in rows} == {ingest}


def test_rows_refuse_fields_outside_the_contract() -> None:
    with pytest.raises(pa.ArrowInvalid):
        to_table(Report, [_report(datetime(2026, 1, 1, tzinfo=UTC), surprise=1)], [0], ["x"])
