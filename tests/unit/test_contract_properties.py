"""Property tests over reports generated from the contract (tests/contract_strategies.py).

One source of truth: the model validator (parse_report), the hot paths' dict validator
(parse_report_data), the Delta row builder (to_table) and the alert decision must agree on
every generated report; every near miss is refused by both, naming its field; and no input at
all makes either gate raise anything but InvalidReport.
"""

from __future__ import annotations

import gc
import json
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from peacewatch.functions.runtime.alert_log import format_alert_line, parse_alert_line
from peacewatch.functions.runtime.decision import AlertConfig, decide
from peacewatch.lakehouse.arrow_schema import arrow_schema, contract_schema
from peacewatch.lakehouse.ingest.rows import to_table
from peacewatch.platform.contract import (
    MAX_REPORT_BYTES,
    Alert,
    Report,
    alert_id_for,
    parse_contract,
    parse_report,
)
from peacewatch.platform.contract_data import contract_validator, parse_report_data
from peacewatch.platform.errors import InvalidReport
from peacewatch.platform.schema_registry import avro_definition

from ..contract_strategies import (
    documents,
    encodings,
    largest_document,
    near_misses,
    payloads,
    report_of_bytes,
)

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
MANY = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _dumped(report: Report) -> dict[str, Any]:
    out = report.model_dump()
    out["report_id"] = str(out["report_id"])
    return out


@MANY
@given(payloads(Report))
def test_both_validators_accept_the_same_reports_and_rows_are_what_was_validated(payload: bytes) -> None:
    model = parse_report(payload)
    data = parse_report_data(payload)
    assert data == model.model_dump()  # defaults applied, times in UTC, UUIDs parsed
    table = to_table(Report, [data], [1_700_000_000_000], ["1:2:3"])
    assert table.schema == arrow_schema(Report)
    row = table.to_pylist()[0]
    assert {k: row[k] for k in Report.model_fields} == _dumped(model)
    assert row["date"] == model.ts.astimezone(UTC).date()


@MANY
@given(near_misses(Report))
def test_every_near_miss_is_refused_by_both_naming_its_field(miss: Any) -> None:
    reasons, fields = [], []
    for gate in (parse_report, parse_report_data):
        with pytest.raises(InvalidReport) as refused:
            gate(miss.payload)
        reasons.append(refused.value.reason)
        fields.append(refused.value.field)
    assert reasons[0] == reasons[1]  # the same words from both gates
    assert fields[0] == fields[1]
    assert reasons[0].startswith(fields[0])  # `field` is the first one the reason names
    if miss.field:
        assert reasons[0].startswith(miss.field) or f"; {miss.field}" in reasons[0], (miss.rule, reasons[0])
    else:
        assert reasons[0].startswith("not valid JSON"), reasons[0]


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=12), kids, max_size=6),
    max_leaves=25,
)


@settings(max_examples=1500, deadline=None)
@given(st.one_of(st.binary(max_size=400), _json.map(lambda v: json.dumps(v).encode())))
@example(b'{"lat": NaN}')
@example(b"\xff\xfe")
@example(b'{"report_id":"x","ts":"0001-01-01T00:30:00+01:00"}')
def test_nothing_a_producer_sends_makes_a_gate_raise_anything_else(payload: bytes) -> None:
    for gate in (
        parse_report,
        parse_report_data,
        contract_validator(Alert),
        lambda p: parse_contract(Alert, p),
    ):
        try:
            gate(payload)
        except InvalidReport as exc:
            reason = exc.reason
            assert reason


@MANY
@given(documents(Report).flatmap(encodings), st.integers(0, 101))
def test_the_decision_is_every_distinct_citizen_below_the_threshold(payload: bytes, threshold: int) -> None:
    data = parse_report_data(payload)
    alerts = decide(data, tenant="t-x", config=AlertConfig(threshold=threshold), raised_at=NOW)
    expected: list[str] = []
    for c in json.loads(payload).get("citizens", []):
        if c["peacescore"] < threshold and c["citizen_id"] not in expected:
            expected.append(c["citizen_id"])
    assert [a.citizen_id for a in alerts] == expected
    for alert in alerts:
        assert alert.alert_id == alert_id_for(data["report_id"], alert.citizen_id)
        # The officers' line survives any name: quotes, backslashes, newlines, any script.
        parsed = parse_alert_line("[2026-11-23 12:00:00 +0000] [WARNING]: " + format_alert_line(alert))
        assert parsed is not None
        assert (parsed["citizen"], parsed["citizen_id"], parsed["alert_id"]) == (
            alert.name,
            alert.citizen_id,
            str(alert.alert_id),
        )


def test_every_list_at_its_longest_is_valid_and_stored_and_the_bytes_bound_holds() -> None:
    doc = largest_document(Report)
    payload = json.dumps(doc, ensure_ascii=False).encode()
    # Each field at its limit is far over the bound on a message's bytes: refused as a whole.
    for gate in (parse_report_data, parse_report):
        with pytest.raises(InvalidReport, match="report too large") as refused:
            gate(payload)
        assert refused.value.field == ""
    # Every list at its longest still fits the bound with its shortest items.
    doc["words"] = [""] * len(doc["words"])
    doc["citizens"] = [{"citizen_id": "c", "name": "n", "peacescore": 1}] * len(doc["citizens"])
    doc["drone_id"] = "d"
    payload = json.dumps(doc, separators=(",", ":")).encode()
    assert len(payload) <= MAX_REPORT_BYTES
    data = parse_report_data(payload)
    assert data == parse_report(payload).model_dump()
    table = to_table(Report, [data], [0], ["m"])
    assert len(table.column("citizens")[0]) == 1000
    assert len(table.column("words")[0]) == 5000


@given(st.integers(min_value=-300, max_value=300), st.booleans())
def test_the_bytes_bound_is_exact_on_both_gates(offset: int, as_text: bool) -> None:
    payload = report_of_bytes(MAX_REPORT_BYTES + offset)
    data: bytes | str = payload.decode() if as_text else payload
    for gate in (parse_report_data, parse_report):
        if offset <= 0:
            gate(data)
        else:
            with pytest.raises(InvalidReport, match=f"report too large: {MAX_REPORT_BYTES + offset} bytes"):
                gate(data)


def test_a_rule_broken_names_its_field_whatever_the_size() -> None:
    doc = json.loads(report_of_bytes(MAX_REPORT_BYTES + 10))
    doc["lat"] = 91.0
    with pytest.raises(InvalidReport) as refused:
        parse_report_data(json.dumps(doc).encode())
    assert refused.value.field == "lat"


def test_avro_and_arrow_forms_come_from_the_same_fields() -> None:
    for model in (Report, Alert):
        avro = [f["name"] for f in avro_definition(model)["fields"]]
        assert avro == contract_schema(model).names == list(model.model_fields)
    citizens = [f["name"] for f in avro_definition(Report)["fields"][7]["type"]["items"]["fields"]]
    assert citizens == [f.name for f in contract_schema(Report).field("citizens").type.value_type]
    assert isinstance(contract_schema(Report).field("citizens").type, pa.ListType)


def test_a_refusal_leaves_no_reference_cycle_holding_the_message() -> None:
    """The sink runs the cyclic GC rarely (lake run's thresholds): a refusal that left a cycle
    (exception -> traceback -> frame -> the exception in a local) held every oversize report and
    its validated dict - 1.6 GB after 700 MB of them. Each gate's refusals are freed by refcount."""
    too_large = report_of_bytes(MAX_REPORT_BYTES + 1)
    bad_field = json.loads(too_large)
    bad_field["lat"] = 91.0
    refused = [too_large, too_large.decode(), b"{not json", json.dumps(bad_field).encode()]
    gc.collect()
    gc.disable()
    try:
        for gate in (parse_report_data, parse_report, contract_validator(Report)):
            for payload in refused:
                with pytest.raises(InvalidReport):
                    gate(payload)
        assert gc.collect() == 0
    finally:
        gc.enable()
