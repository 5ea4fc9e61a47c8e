"""The report contract: what a drone sends, and the alert the platform raises from it.

JSON on the wire. `parse_report` is the single gate every consumer uses: it either returns a
valid Report or raises InvalidReport whose reason names the field and why.

A message is at most MAX_REPORT_BYTES of JSON (its bytes as sent, UTF-8): the field rules alone
allow megabytes (5,000 words of 100 four-byte characters), and what the broker, the alert
function and the sink hold in memory is sized from this bound. It is checked after the field
rules, so a report breaking a rule names that field whatever its size.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
)

from peacewatch.platform.alert_settings import THRESHOLD_MAX
from peacewatch.platform.errors import InvalidReport, ReportTooLarge

__all__ = [
    "ALERT_ID_NAMESPACE",
    "MAX_REPORT_BYTES",
    "SCHEMA_VERSION",
    "Alert",
    "Citizen",
    "Report",
    "alert_id_for",
    "check_size",
    "invalid_report",
    "parse_contract",
    "parse_report",
    "validation_reason",
]

SCHEMA_VERSION = 1
M = TypeVar("M", bound=BaseModel)
ALERT_ID_NAMESPACE = uuid.UUID("5b3c1f0e-7d2a-4f61-9a8e-2c9d4e6f0a11")
# 64 KiB: ~60x the simulator's largest reports, and room for every list at its longest.
MAX_REPORT_BYTES = 65_536

Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


# Every rule lives in the field types (not in model validators), so the dict validator derived
# from these models (platform.contract_data) applies exactly the same ones.
# A time keeps the offset it was sent with; the lake stores it as UTC. The bounds are instants:
# an offset must not push a time at the calendar's edge out of range in UTC
# (0001-01-01T00:30+01:00), or storing it would fail. Checked inside pydantic-core, which costs
# nothing next to a Python validator per report.
UtcDatetime = Annotated[
    AwareDatetime,
    Field(ge=datetime(1, 1, 1, tzinfo=UTC), le=datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)),
]


class _Contract(BaseModel):
    # Strict: a score sent as "12" or 12.5 is an error, not silently coerced.
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class Citizen(_Contract):
    citizen_id: Identifier
    name: Annotated[str, Field(min_length=1, max_length=200)]
    peacescore: Annotated[StrictInt, Field(ge=0, le=100)]


class Report(_Contract):
    """One drone report, sent every minute."""

    schema_version: Literal[1] = 1
    report_id: uuid.UUID
    drone_id: Identifier
    ts: UtcDatetime = Field(description="Event time at the drone, with its offset (stored as UTC).")
    lat: Annotated[float, Field(ge=-90.0, le=90.0)]
    lon: Annotated[float, Field(ge=-180.0, le=180.0)]
    battery_pct: Annotated[float, Field(ge=0.0, le=100.0)]
    citizens: Annotated[list[Citizen], Field(max_length=1000)] = Field(default_factory=list)
    words: Annotated[list[Annotated[str, Field(max_length=100)]], Field(max_length=5000)] = Field(
        default_factory=list
    )

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()


class Alert(_Contract):
    """A bad peacescore seen by a drone: where, and who."""

    schema_version: Literal[1] = 1
    alert_id: uuid.UUID
    tenant: str
    report_id: uuid.UUID
    drone_id: Identifier
    ts: UtcDatetime
    lat: float
    lon: float
    citizen_id: Identifier
    name: str
    peacescore: Annotated[StrictInt, Field(ge=0, le=100)]
    threshold: Annotated[StrictInt, Field(ge=0, le=THRESHOLD_MAX)]
    raised_at: UtcDatetime

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()


def alert_id_for(report_id: uuid.UUID, citizen_id: str) -> uuid.UUID:
    """Deterministic: a redelivered report raises an alert with the same id (consumers dedup on it)."""
    return uuid.uuid5(ALERT_ID_NAMESPACE, f"{report_id}/{citizen_id}")


def validation_reason(error: ValidationError) -> str:
    """'citizens.2.peacescore: Input should be a valid integer (got '12')' - first three problems."""
    parts = []
    for item in error.errors()[:3]:
        loc = ".".join(str(p) for p in item["loc"]) or "<report>"
        got = item.get("input")
        shown = repr(got) if not isinstance(got, dict | list) else type(got).__name__
        if len(shown) > 60:
            shown = shown[:57] + "..."
        msg = item["msg"]
        if item["type"] == "literal_error" and loc == "schema_version":
            msg = f"unknown schema_version (this platform reads {SCHEMA_VERSION})"
        parts.append(f"{loc}: {msg} (got {shown})" if item["type"] != "missing" else f"{loc}: {msg}")
    more = len(error.errors()) - 3
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def invalid_report(error: ValidationError) -> InvalidReport:
    """The InvalidReport to raise for a contract validation error."""
    if any(e["type"] == "json_invalid" for e in error.errors()):
        return InvalidReport(f"not valid JSON: {error.errors()[0]['msg']}")
    first = ".".join(str(p) for p in error.errors()[0]["loc"])
    return InvalidReport(validation_reason(error), field=first)


def check_size(data: bytes | str) -> None:
    """ReportTooLarge for a message over MAX_REPORT_BYTES (its `field` is '': the message as a
    whole is at fault). Raised here, never held in a caller's local: a raised exception's
    traceback holds the frames it passed, and a frame holding the exception is a cycle that keeps
    the message (and the dicts validated from it) alive until the cyclic GC - which the sink runs
    rarely (seen: 1.6 GB held after 700 MB of oversize reports)."""
    size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "surrogatepass"))
    if size > MAX_REPORT_BYTES:
        raise ReportTooLarge(
            f"report too large: {size} bytes, the contract allows at most {MAX_REPORT_BYTES}"
        )


def parse_contract(model: type[M], data: bytes | str) -> M:
    """Bytes from the wire -> a contract model (Report, Alert, or a newer version of one),
    or InvalidReport naming the field at fault."""
    try:
        out = model.model_validate_json(data)
    except ValidationError as exc:
        raise invalid_report(exc) from None
    check_size(data)
    return out


def parse_report(data: bytes | str) -> Report:
    return parse_contract(Report, data)
