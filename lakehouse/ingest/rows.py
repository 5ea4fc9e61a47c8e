"""Validated contract data -> an Arrow table for one Delta append. Pure.

The rows are built from the very values the contract accepted (platform.contract_data:
defaults applied, times in UTC, UUIDs canonical), column by column along the contract tree -
never by parsing the bytes a second time, so what is stored is exactly what was validated.
Lists and nested records become flat child arrays plus offsets: one C-level conversion per
column, not per value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel

from peacewatch.lakehouse.arrow_schema import TIMESTAMP, arrow_schema, arrow_type
from peacewatch.platform.contract_tree import ListNode, Node, RecordNode, ScalarNode, walk

__all__ = ["prepare", "to_table"]


def _scalars(node: ScalarNode, values: list[Any]) -> pa.Array:
    if node.kind == "uuid":
        values = [None if v is None else str(v) for v in values]
    return pa.array(values, type=arrow_type(node))


def _column(node: Node, values: list[Any], *, nullable: bool) -> pa.Array:
    mask = pa.array([v is None for v in values]) if nullable and any(v is None for v in values) else None
    if isinstance(node, ScalarNode):
        return _scalars(node, values)
    if isinstance(node, ListNode):
        offsets = [0]
        flat: list[Any] = []
        for v in values:
            if v is not None:
                flat.extend(v)
            offsets.append(len(flat))
        child = _column(node.item, flat, nullable=False)
        return pa.ListArray.from_arrays(
            pa.array(offsets, pa.int32()), child, type=arrow_type(node), mask=mask
        )
    return _record(node, values, mask=mask)


def _record(record: RecordNode, values: list[Any], *, mask: pa.Array | None = None) -> pa.StructArray:
    children = []
    for f in record.fields:
        column = [None if v is None else v[f.name] for v in values]
        children.append(_column(f.node, column, nullable=f.nullable or mask is not None))
    return pa.StructArray.from_arrays(children, fields=list(arrow_type(record)), mask=mask)


def prepare(model: type[BaseModel]) -> None:
    """Pay the first conversion's set-up now: pyarrow imports pandas at its first conversion of
    Python values (0.3 s, seconds more where bytecode is not cached), and the contract walk is
    built once. A sink calls this at start-up so that its first batch is not the one that waits."""
    arrow_schema(model)
    walk(model)
    pa.array([], type=pa.int64())


def to_table(
    model: type[BaseModel],
    reports: Sequence[Mapping[str, Any]],
    publish_times_ms: Sequence[int],
    message_ids: Sequence[str],
    *,
    ingest_time: datetime | None = None,
) -> pa.Table:
    """Rows for validated data of `model` (contract_validator(model) output), plus date (UTC event
    date), publish_time, ingest_time and message_id (parallel sequences)."""
    if not len(reports) == len(publish_times_ms) == len(message_ids):
        raise ValueError("reports, publish times and message ids differ in length")
    schema = arrow_schema(model)
    if not reports:
        return schema.empty_table()
    record = walk(model)
    columns = [_column(f.node, [r[f.name] for r in reports], nullable=f.nullable) for f in record.fields]
    ts = columns[[f.name for f in record.fields].index("ts")]
    ingest = ingest_time or datetime.now(UTC)
    columns += [
        pc.cast(ts, pa.date32()),
        pa.array(publish_times_ms, pa.int64()).cast(pa.timestamp("ms", tz="UTC")).cast(TIMESTAMP),
        pa.array([ingest] * len(reports), TIMESTAMP),
        pa.array(message_ids, pa.string()),
    ]
    return pa.Table.from_arrays(columns, schema=schema)
