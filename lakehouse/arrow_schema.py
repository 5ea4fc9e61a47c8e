"""Arrow schemas of the lake tables, derived from the contract (written once, in platform/).

reports: the Report fields (citizens as list<struct>, words as list<string>) plus
`date` (partition column, from event time), `publish_time`, `ingest_time` and `message_id`.
alerts: the Alert fields plus the same bookkeeping columns. A new optional field in the
contract becomes a new nullable column; the sink writes with schema_mode="merge".
"""

from __future__ import annotations

import types
import typing
import uuid
from datetime import datetime
from typing import Any, Literal

import pyarrow as pa
from pydantic import AwareDatetime, BaseModel

__all__ = ["BOOKKEEPING", "arrow_schema", "arrow_type"]

_TS = pa.timestamp("us", tz="UTC")
# Columns the sink adds to every row.
BOOKKEEPING: list[pa.Field] = [
    pa.field("date", pa.date32(), nullable=False),
    pa.field("publish_time", _TS, nullable=False),
    pa.field("ingest_time", _TS, nullable=False),
    pa.field("message_id", pa.string(), nullable=False),
]
_PRIMITIVES: dict[Any, pa.DataType] = {
    bool: pa.bool_(),
    int: pa.int64(),
    float: pa.float64(),
    str: pa.string(),
    uuid.UUID: pa.string(),
    datetime: _TS,
    AwareDatetime: _TS,
}


def arrow_type(annotation: Any) -> tuple[pa.DataType, bool]:
    """(arrow type, nullable) for a contract field annotation."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return arrow_type(args[0])
    if origin is Literal:
        return arrow_type(type(args[0]))
    if origin in (typing.Union, types.UnionType):
        non_null = [a for a in args if a is not type(None)]
        if len(non_null) != 1:
            raise TypeError(f"unsupported union {annotation!r}")
        return arrow_type(non_null[0])[0], True
    if origin is list:
        item, _ = arrow_type(args[0])
        return pa.list_(item), False
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return pa.struct(_fields(annotation)), False
    for py_type, arrow in _PRIMITIVES.items():
        if isinstance(annotation, type) and issubclass(annotation, py_type):
            return arrow, False
    raise TypeError(f"no Arrow type for {annotation!r}")


def _fields(model: type[BaseModel]) -> list[pa.Field]:
    out = []
    for name, info in model.model_fields.items():
        dtype, nullable = arrow_type(info.annotation)
        # Only Optional contract fields are nullable; lists may be empty but never null.
        out.append(pa.field(name, dtype, nullable=nullable))
    return out


def arrow_schema(model: type[BaseModel]) -> pa.Schema:
    return pa.schema([*_fields(model), *BOOKKEEPING])
