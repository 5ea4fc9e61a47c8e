"""Both alert function implementations (Python, and Java for Pulsar's Java runtime) against one
set of test vectors, and against each other on generated input.

The Java side runs its VectorCheck main in one JVM per batch: the same validator, decision, alert
JSON and log line the function uses, without Pulsar. It needs javac and our Pulsar distribution's
API jars (`./run test` installs both)."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peacewatch.functions.deploy.java_package import build_function_jar
from peacewatch.platform.contract import MAX_REPORT_BYTES, Report
from peacewatch.platform.contract_json import contract_json_schema
from peacewatch.platform.settings import Settings
from peacewatch.platform.stack.install import pulsar_home
from tests.alerting_vectors import case_of, java_answers, load_vectors, python_answer
from tests.contract_strategies import largest_document, near_misses, payloads, report_of_bytes

VECTORS = load_vectors()


@pytest.fixture(scope="module")
def jar() -> Path:
    settings = Settings()
    if shutil.which("javac") is None or not (pulsar_home(settings) / "lib").is_dir():
        pytest.fail("needs javac and the Pulsar distribution: ./run test installs both (a JDK is required)")
    return build_function_jar(settings)


def test_the_vectors_cover_acceptance_refusal_and_alerts() -> None:
    answers = [v["expected"] for v in VECTORS]
    assert sum(a["ok"] for a in answers) > 300
    assert sum(not a["ok"] for a in answers) > 300
    assert sum(len(a.get("alerts", [])) for a in answers) > 100
    refused_fields = {a["loc"].split(".")[0] for a in answers if not a["ok"]}
    assert set(Report.model_fields) | {""} <= refused_fields


def test_python_implementation_gives_the_vectors_answers() -> None:
    for vector in VECTORS:
        payload, threshold, tenant = case_of(vector)
        assert python_answer(payload, threshold=threshold, tenant=tenant) == vector["expected"], payload[:200]


def test_java_implementation_gives_the_vectors_answers(jar: Path) -> None:
    answers = java_answers(jar, [case_of(v) for v in VECTORS])
    wrong = [
        (base64.b64decode(v["payload_b64"])[:160], v["expected"], got)
        for v, got in zip(VECTORS, answers, strict=True)
        if got != v["expected"]
    ]
    assert not wrong, f"{len(wrong)} of {len(VECTORS)} differ; first: {wrong[0]}"


def _agree(jar: Path, cases: list[tuple[bytes, int, str]]) -> None:
    for (payload, threshold, tenant), got in zip(cases, java_answers(jar, cases), strict=True):
        assert got == python_answer(payload, threshold=threshold, tenant=tenant), payload[:300]


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(
        st.tuples(
            st.one_of(payloads(Report), near_misses(Report).map(lambda m: m.payload), st.binary(max_size=64)),
            st.integers(0, 101),
            st.sampled_from(["north-precinct", "x"]),
        ),
        min_size=20,
        max_size=60,
    )
)
def test_java_and_python_agree_on_generated_input(jar: Path, cases: list[tuple[bytes, int, str]]) -> None:
    _agree(jar, cases)


def test_java_and_python_agree_on_the_largest_reports(jar: Path) -> None:
    largest = json.dumps(largest_document(Report)).encode()  # every rule at its limit: too large
    too_many = json.loads(largest)
    too_many["words"].append("x")
    at_bound = [(report_of_bytes(MAX_REPORT_BYTES + d), t, "t") for d in (-1, 0, 1, 1000) for t in (0, 101)]
    _agree(jar, [(largest, 101, "t"), (json.dumps(too_many).encode(), 101, "t"), *at_bound])


def test_the_java_reader_takes_its_rules_from_the_generated_schema() -> None:
    """Bounds the JSON Schema alone would not carry are added from the models."""
    schema = contract_json_schema(Report)
    ts = schema["properties"]["ts"]
    assert (ts["formatMinimum"], ts["formatMaximum"]) == (
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999999Z",
    )
    assert schema["properties"]["citizens"]["default"] == []
    assert schema["properties"]["words"]["default"] == []
