"""The alert line officers read on the alert-log topic: logfmt, readable and parseable.

[2026-11-02 08:30:00 +0000] [WARNING]: ALERT tenant=north-precinct drone=north-d0001 lat=48.85000
lon=2.35000 citizen="Ada Lopez" citizen_id=c000001 peacescore=12 threshold=20
ts=2026-11-02T08:30:00+00:00 alert_id=...

The prefix is the one the Functions runtime gives its log-topic lines. Free text (the citizen's
name) is a JSON string literal, so any name - quotes, backslashes, newlines - survives the
round trip and can never forge another field.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from peacewatch.platform.contract import Alert

__all__ = ["format_alert_line", "log_line", "parse_alert_line"]

_MARK = "ALERT "
_INT_FIELDS = ("peacescore", "threshold")
_FLOAT_FIELDS = ("lat", "lon")
_PAIR = re.compile(r'([a-z_]+)=("(?:[^"\\]|\\.)*"|\S*)')
_REQUIRED = ("tenant", "drone", "citizen", "citizen_id", "ts", "alert_id", *_INT_FIELDS, *_FLOAT_FIELDS)


def format_alert_line(alert: Alert) -> str:
    return (
        f"{_MARK}tenant={alert.tenant} drone={alert.drone_id} lat={alert.lat:.5f} lon={alert.lon:.5f} "
        f"citizen={json.dumps(alert.name)} citizen_id={alert.citizen_id} peacescore={alert.peacescore} "
        f"threshold={alert.threshold} ts={alert.ts.isoformat()} alert_id={alert.alert_id}"
    )


def log_line(message: str, *, level: str = "WARNING", at: float | None = None) -> str:
    """A line as the Functions runtime writes it to a log topic."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(at if at is not None else time.time()))
    return f"[{stamp}] [{level}]: {message}"


def parse_alert_line(line: str) -> dict[str, Any] | None:
    """A log-topic line -> the alert's fields; None for lines that are not alerts."""
    at = line.find(_MARK)
    if at < 0:
        return None
    fields: dict[str, Any] = {}
    try:
        for key, raw in _PAIR.findall(line[at + len(_MARK) :]):
            fields[key] = json.loads(raw) if raw.startswith('"') else raw
        for key in _INT_FIELDS:
            fields[key] = int(fields[key])
        for key in _FLOAT_FIELDS:
            fields[key] = float(fields[key])
    except (KeyError, ValueError):
        return None
    if any(key not in fields for key in _REQUIRED):
        return None
    return fields
