"""Validated payloads -> an Arrow table for one Delta append. Pure.

The payloads have already passed the contract (parse_report), so they are parsed again by
Arrow's C++ JSON reader against the table's explicit schema: ~15x faster than building the
columns from Python objects, and the bytes written are exactly the bytes received.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj
from pydantic import BaseModel

from peacewatch.lakehouse.arrow_schema import arrow_schema

__all__ = ["to_table"]


def _contract_schema(model: type[BaseModel]) -> pa.Schema:
    full = arrow_schema(model)
    return pa.schema([full.field(name) for name in model.model_fields])


def to_table(
    model: type[BaseModel],
    payloads: Sequence[bytes],
    publish_times_ms: Sequence[int],
    message_ids: Sequence[str],
    *,
    ingest_time: datetime | None = None,
) -> pa.Table:
    """Rows for validated JSON payloads of `model`, plus date (UTC event date), publish_time,
    ingest_time and message_id (parallel sequences)."""
    if not len(payloads) == len(publish_times_ms) == len(message_ids):
        raise ValueError("payloads, publish times and message ids differ in length")
    schema = arrow_schema(model)
    if not payloads:
        return schema.empty_table()
    options = pj.ParseOptions(explicit_schema=_contract_schema(model), unexpected_field_behavior="error")
    # Payloads are single-line JSON (json.dumps / orjson / pydantic never emit raw newlines).
    table = pj.read_json(io.BytesIO(b"\n".join(payloads)), parse_options=options)
    ts_type = schema.field("publish_time").type
    publish = pa.array(publish_times_ms, pa.int64()).cast(pa.timestamp("ms", tz="UTC"))
    ingest = ingest_time or datetime.now(UTC)
    extra = {
        "date": pc.cast(table.column("ts"), pa.date32()),
        "publish_time": publish.cast(ts_type),
        "ingest_time": pa.array([ingest] * len(payloads), ts_type),
        "message_id": pa.array(message_ids, pa.string()),
    }
    for name, column in extra.items():
        table = table.append_column(schema.field(name), column)
    return table.select(schema.names).cast(schema)
