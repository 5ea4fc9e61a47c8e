"""Validated payloads -> an Arrow table for one Delta append. Pure.

The payloads have already passed the contract (parse_report), so they are parsed again by
Arrow's C++ JSON reader against the table's explicit schema: ~15x faster than building the
columns from Python objects, and the bytes written are exactly the bytes received.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj
from pydantic import BaseModel

from peacewatch.lakehouse.arrow_schema import arrow_schema

__all__ = ["MessageMeta", "to_table"]


@dataclass(frozen=True, slots=True)
class MessageMeta:
    publish_time_ms: int
    message_id: str


def _contract_schema(model: type[BaseModel]) -> pa.Schema:
    full = arrow_schema(model)
    return pa.schema([full.field(name) for name in model.model_fields])


def to_table(
    model: type[BaseModel],
    payloads: Sequence[bytes],
    metas: Sequence[MessageMeta],
    *,
    ingest_time: datetime | None = None,
) -> pa.Table:
    """Rows for validated JSON payloads of `model`, plus date (UTC event date), publish_time,
    ingest_time and message_id."""
    if len(payloads) != len(metas):
        raise ValueError(f"{len(payloads)} payloads but {len(metas)} message metas")
    schema = arrow_schema(model)
    if not payloads:
        return schema.empty_table()
    options = pj.ParseOptions(explicit_schema=_contract_schema(model), unexpected_field_behavior="error")
    # Payloads are single-line JSON (json.dumps / orjson / pydantic never emit raw newlines).
    table = pj.read_json(io.BytesIO(b"\n".join(payloads)), parse_options=options)
    ts_type = schema.field("publish_time").type
    publish = pa.array([m.publish_time_ms for m in metas], pa.int64()).cast(pa.timestamp("ms", tz="UTC"))
    ingest = ingest_time or datetime.now(UTC)
    extra = {
        "date": pc.cast(table.column("ts"), pa.date32()),
        "publish_time": publish.cast(ts_type),
        "ingest_time": pa.array([ingest] * len(payloads), ts_type),
        "message_id": pa.array([m.message_id for m in metas], pa.string()),
    }
    for name, column in extra.items():
        table = table.append_column(schema.field(name), column)
    return table.select(schema.names).cast(schema)
