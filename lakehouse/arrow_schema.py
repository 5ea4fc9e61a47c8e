"""Arrow schemas of the lake tables, derived from the contract tree (platform.contract_tree).

reports: the Report fields (citizens as list<struct>, words as list<string>) plus
`date` (partition column, from event time), `publish_time`, `ingest_time` and `message_id`.
alerts: the Alert fields plus the same bookkeeping columns. A new optional field in the
contract becomes a new nullable column; the sink writes with schema_mode="merge".
"""

from __future__ import annotations

import pyarrow as pa
from pydantic import BaseModel

from peacewatch.platform.contract_tree import ListNode, Node, RecordNode, ScalarNode, walk

__all__ = ["BOOKKEEPING", "TIMESTAMP", "arrow_field", "arrow_schema", "arrow_type", "contract_schema"]

TIMESTAMP = pa.timestamp("us", tz="UTC")
# Columns the sink adds to every row.
BOOKKEEPING: list[pa.Field] = [
    pa.field("date", pa.date32(), nullable=False),
    pa.field("publish_time", TIMESTAMP, nullable=False),
    pa.field("ingest_time", TIMESTAMP, nullable=False),
    pa.field("message_id", pa.string(), nullable=False),
]
_SCALARS: dict[str, pa.DataType] = {
    "bool": pa.bool_(),
    "int": pa.int64(),
    "float": pa.float64(),
    "str": pa.string(),
    "uuid": pa.string(),
    "datetime": TIMESTAMP,
}


def arrow_type(node: Node) -> pa.DataType:
    if isinstance(node, ScalarNode):
        return _SCALARS[node.kind]
    if isinstance(node, ListNode):
        return pa.list_(arrow_type(node.item))
    return pa.struct([arrow_field(f.name, f.node, nullable=f.nullable) for f in node.fields])


def arrow_field(name: str, node: Node, *, nullable: bool) -> pa.Field:
    # Only Optional contract fields are nullable; lists may be empty but never null.
    return pa.field(name, arrow_type(node), nullable=nullable)


def contract_schema(model: type[BaseModel]) -> pa.Schema:
    """The model's own fields, without the sink's bookkeeping columns."""
    record: RecordNode = walk(model)
    return pa.schema([arrow_field(f.name, f.node, nullable=f.nullable) for f in record.fields])


def arrow_schema(model: type[BaseModel]) -> pa.Schema:
    return pa.schema([*contract_schema(model), *BOOKKEEPING])
