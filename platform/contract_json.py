"""The contract's JSON form: a JSON Schema generated from the pydantic models, for the alert
function's Java implementation (functions/java), which reads its rules from it.

Two things pydantic's JSON Schema leaves out are added here, still from the models: the bounds
of a time (the `ge`/`le` of UtcDatetime, as formatMinimum/formatMaximum) and the default of a
list field (its default_factory's value). The alert ids' uuid5 namespace and the bound on a
message's bytes ride along.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from peacewatch.platform.contract import ALERT_ID_NAMESPACE, MAX_REPORT_BYTES

__all__ = ["contract_json_schema", "contract_json_text"]


def _instant(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class _ContractSchema(GenerateJsonSchema):
    def datetime_schema(self, schema: core_schema.DatetimeSchema) -> JsonSchemaValue:
        out = super().datetime_schema(schema)
        if "ge" in schema:
            out["formatMinimum"] = _instant(schema["ge"])
        if "le" in schema:
            out["formatMaximum"] = _instant(schema["le"])
        return out

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        factory = schema.get("default_factory")
        if factory is not None and not schema.get("default_factory_takes_data"):
            out = self.generate_inner(schema["schema"])
            out["default"] = self.encode_default(factory())  # type: ignore[call-arg]
            return out
        return super().default_schema(schema)


def contract_json_schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(schema_generator=_ContractSchema)
    schema["x-alert-id-namespace"] = str(ALERT_ID_NAMESPACE)
    schema["x-max-bytes"] = MAX_REPORT_BYTES
    return schema


def contract_json_text(model: type[BaseModel]) -> str:
    return json.dumps(contract_json_schema(model), indent=1) + "\n"
