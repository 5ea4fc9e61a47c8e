"""The contract as a Pulsar JSON schema.

Pulsar's JSON schema type carries an Avro record definition. We derive it from the contract
tree (platform.contract_tree), so the contract is written once; the broker then refuses
producers declaring another schema (with schemaValidationEnforced).
"""

from __future__ import annotations

import json
from typing import Any

import _pulsar
from pulsar.schema import Schema
from pydantic import BaseModel

from peacewatch.platform.contract_tree import ListNode, Node, RecordNode, ScalarNode, walk

__all__ = ["ContractSchema", "avro_definition", "schema_payload"]

_AVRO: dict[str, str] = {
    "str": "string",
    "int": "int",
    "float": "double",
    "bool": "boolean",
    "uuid": "string",
    "datetime": "string",  # ISO-8601 on the wire
}


def _avro_type(node: Node, namespace: str) -> Any:
    if isinstance(node, ScalarNode):
        return _AVRO[node.kind]
    if isinstance(node, ListNode):
        return {"type": "array", "items": _avro_type(node.item, namespace)}
    return _record(node, namespace)


def _record(record: RecordNode, namespace: str) -> dict[str, Any]:
    fields = []
    for f in record.fields:
        avro: dict[str, Any] = {"name": f.name, "type": _avro_type(f.node, namespace)}
        if f.nullable:
            avro["type"] = ["null", avro["type"]]
            avro["default"] = None
        fields.append(avro)
    return {"type": "record", "name": record.name, "namespace": namespace, "fields": fields}


def avro_definition(model: type[BaseModel], *, namespace: str = "peacewatch") -> dict[str, Any]:
    """Avro record definition of a contract model (nested models become nested records)."""
    return _record(walk(model), namespace)


def _definition_text(model: type[BaseModel]) -> str:
    # Exactly the text the Python client sends (json.dumps(..., indent=True)), so the admin
    # registration and every producer present byte-identical schemas.
    return json.dumps(avro_definition(model), indent=True)


def schema_payload(model: type[BaseModel]) -> dict[str, Any]:
    """Body for POST /admin/v2/schemas/{tenant}/{ns}/{topic}/schema."""
    return {"type": "JSON", "schema": _definition_text(model), "properties": {}}


class ContractSchema(Schema):  # type: ignore[misc]
    """Declares the contract's JSON schema to the broker but passes payload bytes through.

    Producers serialise with pydantic themselves (and a test may send malformed bytes on
    purpose: the broker checks the declared schema, not each payload).
    """

    def __init__(self, model: type[BaseModel]) -> None:
        super().__init__(bytes, _pulsar.SchemaType.JSON, avro_definition(model), "JSON")

    def encode(self, obj: bytes) -> bytes:
        return obj

    def decode(self, data: bytes) -> bytes:
        return data
