from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from peacewatch.platform.contract import Alert, Report, alert_id_for, parse_report
from peacewatch.platform.errors import InvalidReport


def _report(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schema_version": 1,
        "report_id": "6b0c7e5e-2a1b-4c56-9a0b-1f2e3d4c5b6a",
        "drone_id": "north-d0001",
        "ts": "2026-11-02T08:30:00+00:00",
        "lat": 48.85,
        "lon": 2.35,
        "battery_pct": 77.5,
        "citizens": [{"citizen_id": "c000001", "name": "Ada Lopez", "peacescore": 12}],
        "words": ["hello", "riot"],
    }
    body.update(changes)
    return body


def _raw(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


def test_valid_report_round_trips() -> None:
    report = parse_report(_raw(_report()))
    assert report.drone_id == "north-d0001"
    assert report.citizens[0].peacescore == 12
    assert report.ts.utcoffset() is not None
    assert report.ts.utcoffset().total_seconds() == 0
    assert parse_report(report.to_json()) == report


def test_event_time_keeps_its_offset_and_is_stored_as_utc() -> None:
    from datetime import UTC, datetime

    from peacewatch.lakehouse.ingest.rows import to_table
    from peacewatch.platform.contract_data import parse_report_data

    raw = _raw(_report(ts="2026-11-02T10:30:00+02:00"))
    report = parse_report(raw)
    assert report.ts == datetime(2026, 11, 2, 8, 30, tzinfo=UTC)  # the same instant
    row = to_table(Report, [parse_report_data(raw)], [0], ["m"]).to_pylist()[0]
    assert row["ts"].isoformat() == "2026-11-02T08:30:00+00:00"
    assert str(row["date"]) == "2026-11-02"


@pytest.mark.parametrize(
    ("changes", "field", "why"),
    [
        ({"lat": 123.4}, "lat", "less than or equal to 90"),
        ({"lon": -181.0}, "lon", "greater than or equal to -180"),
        ({"battery_pct": 101}, "battery_pct", "less than or equal to 100"),
        ({"schema_version": 7}, "schema_version", "unknown schema_version"),
        ({"report_id": "not-a-uuid"}, "report_id", "UUID"),
        ({"ts": "2026-11-02T08:30:00"}, "ts", "timezone"),
        ({"drone_id": "drone with spaces"}, "drone_id", "pattern"),
        ({"words": "riot"}, "words", "valid array"),
        ({"extra": 1}, "extra", "Extra inputs are not permitted"),
        (
            {"citizens": [{"citizen_id": "c1", "name": "A", "peacescore": "12"}]},
            "citizens.0.peacescore",
            "valid integer",
        ),
        (
            {"citizens": [{"citizen_id": "c1", "name": "A", "peacescore": 12.5}]},
            "citizens.0.peacescore",
            "valid integer",
        ),
        (
            {"citizens": [{"citizen_id": "c1", "name": "A", "peacescore": 101}]},
            "citizens.0.peacescore",
            "less than or equal to 100",
        ),
    ],
)
def test_invalid_reports_name_their_field(changes: dict[str, Any], field: str, why: str) -> None:
    with pytest.raises(InvalidReport) as info:
        parse_report(_raw(_report(**changes)))
    assert info.value.reason.startswith(f"{field}:"), info.value.reason
    assert why in info.value.reason


def test_missing_field_is_named() -> None:
    body = _report()
    del body["drone_id"]
    with pytest.raises(InvalidReport, match=r"^drone_id: Field required"):
        parse_report(_raw(body))


def test_bad_json_says_so() -> None:
    with pytest.raises(InvalidReport, match=r"^not valid JSON"):
        parse_report(b'{"schema_version": 1, "report_')


def test_many_errors_are_summarised() -> None:
    with pytest.raises(InvalidReport, match=r"and \d+ more$"):
        parse_report(b"{}")


def test_alert_id_is_deterministic_per_report_and_citizen() -> None:
    rid = uuid.uuid4()
    assert alert_id_for(rid, "c1") == alert_id_for(rid, "c1")
    assert alert_id_for(rid, "c1") != alert_id_for(rid, "c2")
    assert alert_id_for(rid, "c1") != alert_id_for(uuid.uuid4(), "c1")


def test_alert_validates_its_fields() -> None:
    report = parse_report(_raw(_report()))
    alert = Alert(
        alert_id=alert_id_for(report.report_id, "c000001"),
        tenant="north-precinct",
        report_id=report.report_id,
        drone_id=report.drone_id,
        ts=report.ts,
        lat=report.lat,
        lon=report.lon,
        citizen_id="c000001",
        name="Ada Lopez",
        peacescore=12,
        threshold=20,
        raised_at=report.ts,
    )
    assert Alert.model_validate_json(alert.to_json()) == alert
    assert isinstance(Report.model_json_schema(), dict)
