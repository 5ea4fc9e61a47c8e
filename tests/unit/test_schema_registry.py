from __future__ import annotations

import json

from peacewatch.platform.contract import Alert, Report
from peacewatch.platform.schema_registry import ContractSchema, avro_definition, schema_payload


def test_report_definition_is_an_avro_record_with_every_field() -> None:
    definition = avro_definition(Report)
    assert definition["type"] == "record"
    assert [f["name"] for f in definition["fields"]] == list(Report.model_fields)
    types = {f["name"]: f["type"] for f in definition["fields"]}
    assert types["lat"] == "double"
    assert types["schema_version"] == "int"
    assert types["words"] == {"type": "array", "items": "string"}
    citizen = types["citizens"]["items"]
    assert citizen["name"] == "Citizen"
    assert {f["name"]: f["type"] for f in citizen["fields"]}["peacescore"] == "int"


def test_payload_matches_what_the_client_declares() -> None:
    # The broker must see byte-identical definitions from the admin API and from producers.
    payload = schema_payload(Alert)
    assert payload["type"] == "JSON"
    declared = ContractSchema(Alert).schema_info().schema()
    assert json.loads(payload["schema"]) == json.loads(declared)
    assert payload["schema"] == declared


def test_contract_schema_passes_bytes_through() -> None:
    schema = ContractSchema(Report)
    assert schema.encode(b"{not json") == b"{not json"
    assert schema.decode(b"abc") == b"abc"
