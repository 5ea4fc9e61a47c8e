"""Generated reports through the real alert function and a real `peacewatch lake run` process.

A corpus of payloads drawn from the contract (tests/contract_strategies.py) - valid reports in
every shape the contract allows and near misses of every rule - plus the largest report the
contract allows and the cases that once broke the platform, all published to one force.
Then: every valid report is in Delta exactly once, holding what was validated; the alerts
are exactly what the pure decision says; every invalid payload is in the DLQ once per stage
with the gate's own reason; and neither process exited or stalled.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pulsar
import pyarrow as pa
import pytest
from deltalake import DeltaTable
from hypothesis import HealthCheck, Phase, given, settings

from peacewatch.functions.deploy.alerting import ALERT_FUNCTION_NAME
from peacewatch.functions.runtime.decision import AlertConfig, decide
from peacewatch.lakehouse.lake import lake_table
from peacewatch.platform.contract import MAX_REPORT_BYTES, Alert, Report
from peacewatch.platform.contract_data import parse_report_data
from peacewatch.platform.errors import InvalidReport
from peacewatch.platform.pulsar_admin import PulsarAdmin
from peacewatch.platform.schema_registry import ContractSchema
from peacewatch.platform.settings import Settings
from peacewatch.platform.stack.manager import Stack
from peacewatch.platform.topics import NAMESPACE, TenantTopics
from peacewatch.tenants.spec import AlertingSpec

from ..contract_strategies import near_misses, payloads, report_of_bytes
from .alerting_helpers import read_all
from .conftest import onboard, sink_process, wait_for_rows

pytestmark = [pytest.mark.integration, pytest.mark.slow]
THRESHOLD = 50
_REGRESSIONS = [
    # Valid under the contract with every optional field left out: it once halted the lake.
    b'{"report_id":"6f1c8a52-1b1e-4c55-9d0e-2b8a3f1c9e77","drone_id":"d-min","ts":"2026-11-05T06:00:00Z",'
    b'"lat":48.8,"lon":2.3,"battery_pct":50}',
    # An offset pushing the time out of range in UTC: once a crash (OverflowError), now refused.
    b'{"report_id":"6f1c8a52-1b1e-4c55-9d0e-2b8a3f1c9e78","drone_id":"d-edge","ts":"0001-01-01T00:30:00+01:00",'
    b'"lat":1,"lon":2,"battery_pct":3}',
    # Not UTF-8 at all.
    b"\xff\xfe\x00garbage",
]


def _corpus() -> list[bytes]:
    corpus: list[bytes] = []

    @settings(max_examples=1500, phases=[Phase.generate], database=None, deadline=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(payloads(Report))
    def valid(payload: bytes) -> None:
        corpus.append(payload)

    @settings(max_examples=700, phases=[Phase.generate], database=None, deadline=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(near_misses(Report))
    def invalid(miss: Any) -> None:
        corpus.append(miss.payload)

    valid()
    invalid()
    # At the bound on a message's bytes and past it. Not far past: this producer batches, and the
    # client lets a batch of 128 KiB take one message more - a batch over the topics' 256 KiB
    # would be refused and resent forever (seen: a 165 KB report stalled this test).
    corpus += [report_of_bytes(MAX_REPORT_BYTES + d) for d in (0, 1, 2)]
    # Near misses of a list's length can be megabytes: the topics refuse such entries at publish
    # (the contract's own refusal of them is held by the unit tests and the shared vectors).
    corpus = [p for p in corpus if len(p) <= MAX_REPORT_BYTES + 2]
    corpus.extend(_REGRESSIONS)
    random.Random(11).shuffle(corpus)
    return corpus


def _gate(payload: bytes) -> tuple[dict[str, Any] | None, InvalidReport | None]:
    try:
        return dict(parse_report_data(payload)), None
    except InvalidReport as exc:
        return None, exc


def _field_named(reason: str) -> str:
    """The field a Java reader's reason names first ('' for bytes that are not JSON)."""
    return "" if reason.startswith(("not valid JSON", "report too large")) else reason.split(": ", 1)[0]


@pytest.mark.parametrize("runtime", ["python", "java"])
def test_generated_corpus_through_the_real_function_and_sink(
    stack: Stack, settings: Settings, admin: PulsarAdmin, client: pulsar.Client,
    tenant_names: tuple[str, str], runtime: str,
) -> None:  # fmt: skip
    tenant = tenant_names[0]
    onboard(
        settings, admin, tenant, partitions=4, with_function=True,
        alerting=AlertingSpec(threshold=THRESHOLD, runtime=runtime),  # type: ignore[arg-type]
    )  # fmt: skip
    corpus = _corpus()
    judged = [_gate(p) for p in corpus]
    valid = [d for d, _ in judged if d is not None]
    invalid = [(p, refusal) for p, (_, refusal) in zip(corpus, judged, strict=True) if refusal is not None]
    assert len(corpus) >= 2000
    assert len(valid) >= 1000
    assert len(invalid) >= 500
    config = AlertConfig(threshold=THRESHOLD)
    now = datetime.now(UTC)
    expected_alerts = Counter(
        str(a.alert_id)
        for d in valid
        for a in decide(d, tenant=tenant, config=config, raised_at=now)  # type: ignore[arg-type]
    )

    sink = sink_process(settings, tenant, "corpus", max_age=1.0)
    try:
        producer = client.create_producer(
            TenantTopics(tenant).reports, schema=ContractSchema(Report), batching_enabled=True,
            block_if_queue_full=True,
        )  # fmt: skip
        rng = random.Random(5)
        for payload in corpus:
            producer.send_async(payload, None, partition_key=f"d-{rng.randrange(64)}")
        producer.flush()
        producer.close()

        stored = wait_for_rows(settings, tenant, len(valid), timeout_s=240)
        alerts = read_all(
            client, TenantTopics(tenant).alerts, expected=sum(expected_alerts.values()), wait_s=120
        )
        dlq = read_all(client, TenantTopics(tenant).dlq, expected=2 * len(invalid), wait_s=120)
        time.sleep(3)  # a few sink batches more: nothing may arrive twice
        assert sink.poll() is None, "lake run exited"
        status = admin.function_status(tenant, NAMESPACE, ALERT_FUNCTION_NAME)
    finally:
        sink.send_signal(2)
        sink.wait(timeout=60)

    # Every valid report exactly once, holding what was validated.
    where = lake_table(settings, tenant=tenant, name="reports")
    table = pa.table(DeltaTable(where.uri, storage_options=where.storage_options).to_pyarrow_table())
    assert stored == table.num_rows == len(valid)

    def key(row: dict[str, Any]) -> str:
        return json.dumps({k: row[k] for k in Report.model_fields}, default=str, sort_keys=True)

    expected_rows = [{**d, "report_id": str(d["report_id"]), "ts": d["ts"]} for d in valid]
    got = Counter(key(r) for r in table.to_pylist())
    want = Counter(key({**r, "ts": r["ts"].astimezone(UTC)}) for r in expected_rows)
    assert got == want

    # Alerts: exactly the pure decision's, by id.
    assert Counter(str(Alert.model_validate_json(m.data()).alert_id) for m in alerts) == expected_alerts

    # Dead letters: each invalid payload once per stage, with the gate's reason.
    by_stage: dict[str, Counter[tuple[bytes, str]]] = {"alerting": Counter(), "lake-sink": Counter()}
    for m in dlq:
        by_stage[m.properties()["stage"]][(m.data(), m.properties()["error"])] += 1
    want_dlq = Counter((p, refusal.reason[:1000]) for p, refusal in invalid)
    assert by_stage["lake-sink"] == want_dlq
    if runtime == "python":
        assert by_stage["alerting"] == want_dlq
    else:  # the Java reader words its reasons itself; it names the same first field (the vectors' rule)
        named: Counter[tuple[bytes, str]] = Counter()
        for (p, reason), n in by_stage["alerting"].items():
            named[(p, _field_named(reason))] += n
        assert named == Counter((p, refusal.field) for p, refusal in invalid)

    # The function - of the runtime asked for - never raised and kept running.
    assert admin.get_function(tenant, NAMESPACE, ALERT_FUNCTION_NAME)["runtime"] == runtime.upper()  # type: ignore[index]
    assert status["numRunning"] == 1
    assert all(i["status"]["numUserExceptions"] == 0 for i in status["instances"])
    backlog = admin.topic_stats(TenantTopics(tenant).reports, partitioned=True)["subscriptions"]
    assert backlog["alerting"]["msgBacklog"] == 0
    assert backlog["lake-sink"]["msgBacklog"] == 0
