"""The simulator's report: the contract's fields as a plain dict, and its wire encoding."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TypedDict

import orjson

__all__ = ["CitizenDict", "ReportDict", "encode_report"]


class CitizenDict(TypedDict):
    citizen_id: str
    name: str
    peacescore: int


class ReportDict(TypedDict):
    schema_version: int
    report_id: uuid.UUID
    drone_id: str
    ts: datetime
    lat: float
    lon: float
    battery_pct: float
    citizens: list[CitizenDict]
    words: list[str]


def encode_report(report: ReportDict) -> bytes:
    """JSON bytes the contract's parse_report accepts (orjson writes UUIDs and RFC 3339 times)."""
    return orjson.dumps(report)
