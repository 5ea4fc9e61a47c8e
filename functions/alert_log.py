"""The alert line officers read on the alert-log topic: logfmt, readable and parseable.

ALERT tenant=north-precinct drone=north-d0001 lat=48.85000 lon=2.35000 citizen="Ada Lopez"
citizen_id=c000001 peacescore=12 threshold=20 ts=2026-11-02T08:30:00+00:00 alert_id=...
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from peacewatch.platform.contract import Alert

__all__ = ["format_alert_line", "parse_alert_line"]

_MARK = "ALERT "
_INT_FIELDS = ("peacescore", "threshold")
_FLOAT_FIELDS = ("lat", "lon")


def format_alert_line(alert: Alert) -> str:
    name = alert.name.replace('"', "'")
    return (
        f"{_MARK}tenant={alert.tenant} drone={alert.drone_id} lat={alert.lat:.5f} lon={alert.lon:.5f} "
        f'citizen="{name}" citizen_id={alert.citizen_id} peacescore={alert.peacescore} '
        f"threshold={alert.threshold} ts={alert.ts.isoformat()} alert_id={alert.alert_id}"
    )


def parse_alert_line(line: str) -> dict[str, Any] | None:
    """A log-topic line -> the alert's fields; None for lines that are not alerts.

    The runtime prefixes lines with its own time/level, so the alert is found by its mark.
    """
    at = line.find(_MARK)
    if at < 0:
        return None
    try:
        pairs = shlex.split(line[at + len(_MARK) :])
    except ValueError:
        return None
    fields: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if sep and re.fullmatch(r"[a-z_]+", key):
            fields[key] = value
    try:
        for key in _INT_FIELDS:
            fields[key] = int(fields[key])
        for key in _FLOAT_FIELDS:
            fields[key] = float(fields[key])
    except (KeyError, ValueError):
        return None
    return fields
