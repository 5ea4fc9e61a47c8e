"""Broken reports, as buggy drone firmware would send them (for `--bad-rate`)."""

from __future__ import annotations

import random
from typing import Literal

import orjson

from peacewatch.simulator.report_dict import ReportDict, encode_report

__all__ = ["MALFORMED_KINDS", "MalformedKind", "corrupt"]

MalformedKind = Literal["bad_json", "missing_field", "out_of_range", "wrong_type", "unknown_version"]
MALFORMED_KINDS: tuple[MalformedKind, ...] = (
    "bad_json",
    "missing_field",
    "out_of_range",
    "wrong_type",
    "unknown_version",
)


def corrupt(report: ReportDict, *, kind: MalformedKind, rng: random.Random) -> bytes:
    """The report's bytes, broken in the given way."""
    body = dict(orjson.loads(encode_report(report)))
    if kind == "bad_json":
        raw = encode_report(report)
        return raw[: rng.randint(1, max(1, len(raw) - 2))]
    if kind == "missing_field":
        body.pop(rng.choice(["drone_id", "ts", "lat", "report_id"]))
    elif kind == "out_of_range":
        field = rng.choice(["lat", "lon", "battery_pct"])
        body[field] = {"lat": 123.4, "lon": -200.0, "battery_pct": 140.0}[field]
    elif kind == "wrong_type":
        if body["citizens"]:
            body["citizens"][0]["peacescore"] = "calm"
        else:
            body["lat"] = "north"
    elif kind == "unknown_version":
        body["schema_version"] = 99
    return orjson.dumps(body)
