"""The alert function on the real functions worker: two tenants, thresholds, DLQ, cooldown, updates."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pulsar
import pytest

from peacewatch.functions.deploy.alerting import ALERT_FUNCTION_NAME, deploy_alerting
from peacewatch.functions.runtime.alert_log import parse_alert_line
from peacewatch.functions.runtime.alerting import DLQ_ERROR_PROPERTY, REPORT_PUBLISHED_PROPERTY
from peacewatch.functions.runtime.decision import AlertConfig
from peacewatch.platform.clients import pulsar_admin
from peacewatch.platform.contract import Alert, alert_id_for
from peacewatch.platform.pulsar_admin import PulsarAdmin
from peacewatch.platform.settings import Settings
from peacewatch.platform.topics import NAMESPACE, TenantTopics
from peacewatch.tenants.spec import AlertingSpec

from .alerting_helpers import publish, read_all, report
from .conftest import onboard

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", params=["python", "java"])
def runtime(request: pytest.FixtureRequest) -> str:
    """Every test here runs against both implementations of the alert function."""
    return str(request.param)


@pytest.fixture(scope="module")
def forces(stack, settings: Settings, runtime: str) -> Iterator[dict[str, AlertConfig]]:  # type: ignore[no-untyped-def]
    """Three fresh tenants with their alert functions deployed."""
    run = uuid.uuid4().hex[:6]
    configs = {
        f"al-{run}-north": AlertConfig(threshold=20),
        f"al-{run}-south": AlertConfig(threshold=35),
        f"al-{run}-cool": AlertConfig(threshold=20, cooldown_s=600),
    }
    with pulsar_admin(settings) as admin:
        for tenant, config in configs.items():
            # Onboarded as `tenants apply` does: topics, permissions (officers read the alert log),
            # and the alert function with this force's threshold and cooldown.
            alerting = AlertingSpec(
                threshold=config.threshold,
                cooldown_s=config.cooldown_s,
                runtime=runtime,  # type: ignore[arg-type]
            )
            onboard(settings, admin, tenant, partitions=2, with_function=True, alerting=alerting)
        yield configs
        for tenant in configs:
            admin.delete_function(tenant, NAMESPACE, ALERT_FUNCTION_NAME)


def _alerts(client: pulsar.Client, tenant: str, *, expected: int) -> list[Alert]:
    messages = read_all(client, TenantTopics(tenant).alerts, expected=expected)
    return [Alert.model_validate_json(m.data()) for m in messages]


def test_exact_alerts_log_lines_and_dlq_per_tenant(
    client: pulsar.Client, forces: dict[str, AlertConfig]
) -> None:
    north, south, _ = forces
    # The same situations in both forces; south's threshold (35) also catches the 25.
    n1, n2 = report(("c1", 10), ("c2", 50)), report(("c3", 25))
    s1, s2 = report(("c1", 10), ("c2", 50)), report(("c3", 25))
    bad_json = b'{"schema_version": 1, "report_id": "'
    out_of_range = json.dumps({**json.loads(report(("c4", 5)).to_json()), "lat": 123.4}).encode()
    publish(
        client,
        north,
        [("d-1", n1.to_json()), ("d-2", n2.to_json()), ("d-3", bad_json), ("d-4", out_of_range)],
    )
    # Not JSON objects, and not what Python's int() or float() would rewrite either.
    as_sent = [b"1_000", b" 12 ", b"1e5"]
    publish(
        client,
        south,
        [("d-1", s1.to_json()), ("d-2", s2.to_json()), ("d-3", bad_json)]
        + [(f"d-{i}", p) for i, p in enumerate(as_sent, 4)],
    )

    north_alerts = _alerts(client, north, expected=1)
    south_alerts = _alerts(client, south, expected=2)
    assert [a.alert_id for a in north_alerts] == [alert_id_for(n1.report_id, "c1")]
    assert sorted(a.alert_id for a in south_alerts) == sorted(
        [alert_id_for(s1.report_id, "c1"), alert_id_for(s2.report_id, "c3")]
    )
    a = north_alerts[0]
    assert (a.tenant, a.report_id, a.drone_id, a.citizen_id, a.name) == (
        north,
        n1.report_id,
        n1.drone_id,
        "c1",
        "Citizen c1",
    )
    assert (a.peacescore, a.threshold, a.lat, a.lon, a.ts) == (10, 20, n1.lat, n1.lon, n1.ts)
    assert {x.threshold for x in south_alerts} == {35}
    assert all(x.tenant == south for x in south_alerts)  # nothing crossed over

    # Alerts are keyed by citizen and carry the report's event time.
    raw = read_all(client, TenantTopics(south).alerts, expected=2)
    assert sorted(m.partition_key() for m in raw) == ["c1", "c3"]
    assert {m.event_timestamp() for m in raw} == {
        int(s1.ts.timestamp() * 1000),
        int(s2.ts.timestamp() * 1000),
    }
    # ... and when the broker got the report, so anyone can measure the report -> alert delay.
    published = {}
    for partition in range(2):
        for m in read_all(client, f"{TenantTopics(south).reports}-partition-{partition}", expected=0):
            if m.data() in (s1.to_json(), s2.to_json()):
                published[json.loads(m.data())["report_id"]] = str(m.publish_timestamp())
    assert {m.properties()[REPORT_PUBLISHED_PROPERTY] for m in raw} == {
        published[str(s1.report_id)],
        published[str(s2.report_id)],
    }

    # Officers' feed: one WARNING line per alert on the tenant's own log topic.
    for tenant, alerts in ((north, north_alerts), (south, south_alerts)):
        lines = [
            m.data().decode() for m in read_all(client, TenantTopics(tenant).alert_log, expected=len(alerts))
        ]
        parsed = [p for p in map(parse_alert_line, lines) if p is not None]
        assert sorted(p["alert_id"] for p in parsed) == sorted(str(x.alert_id) for x in alerts)
        assert all("WARN" in line for line in lines if "ALERT " in line)
        assert {p["tenant"] for p in parsed} == {tenant}

    # Invalid reports: original bytes in the tenant's DLQ, reason in a property.
    north_dlq = read_all(client, TenantTopics(north).dlq, expected=2)
    by_payload = {m.data(): m.properties() for m in north_dlq}
    assert set(by_payload) == {bad_json, out_of_range}
    assert by_payload[bad_json][DLQ_ERROR_PROPERTY].startswith("not valid JSON")
    assert by_payload[out_of_range][DLQ_ERROR_PROPERTY].startswith(
        "lat: Input should be less than or equal to 90"
    )
    assert by_payload[out_of_range]["source_topic"].startswith(TenantTopics(north).reports)
    south_dlq = read_all(client, TenantTopics(south).dlq, expected=4)
    assert sorted(m.data() for m in south_dlq) == sorted([bad_json, *as_sent])  # byte for byte


def test_cooldown_gives_one_alert_per_window(client: pulsar.Client, forces: dict[str, AlertConfig]) -> None:
    tenant = list(forces)[2]
    t0 = datetime.now(UTC).replace(microsecond=0)
    first = report(("c-agitated", 4), drone="d-1", ts=t0)
    seen_again = report(("c-agitated", 6), drone="d-2", ts=t0 + timedelta(seconds=30))
    after_window = report(("c-agitated", 5), drone="d-3", ts=t0 + timedelta(seconds=700))
    for r in (first, seen_again):
        publish(client, tenant, [(r.drone_id, r.to_json())])
        time.sleep(0.5)
    assert [a.report_id for a in _alerts(client, tenant, expected=1)] == [first.report_id]
    publish(client, tenant, [(after_window.drone_id, after_window.to_json())])
    alerts = _alerts(client, tenant, expected=2)
    assert [a.report_id for a in alerts] == [first.report_id, after_window.report_id]


def _instance_pids(tenant: str) -> list[int]:
    """The tenant's alert function instances (the local process runtime's children)."""
    import psutil

    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if tenant in cmd and ("python_instance_main.py" in cmd or "JavaInstanceMain" in cmd):
            found.append(proc.pid)
    return found


def test_cooldown_holds_across_a_killed_instance_and_a_redelivery(
    client: pulsar.Client, forces: dict[str, AlertConfig]
) -> None:
    """The cooldown's cache lives in the instance: after kill -9 the new instance must read the
    state store, and a report delivered again (same id, as a redelivery reaches the function) must
    get the answer the store gives - not a second alert."""
    import os
    import signal

    tenant = list(forces)[2]
    t0 = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)

    def mine() -> list[str]:
        return [a.report_id for a in _alerts(client, tenant, expected=0) if a.citizen_id == "c-restart"]

    first = report(("c-restart", 3), drone="d-1", ts=t0)
    publish(client, tenant, [(first.drone_id, first.to_json())])
    deadline = time.monotonic() + 60
    while not mine() and time.monotonic() < deadline:
        time.sleep(1)
    assert mine() == [first.report_id]
    old = _instance_pids(tenant)  # the instance (the Python runtime's may show as a parent and a child)
    assert old
    for pid in old:
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (set(_instance_pids(tenant)) - set(old)):
        time.sleep(1)
    assert set(_instance_pids(tenant)) - set(old), "the worker did not restart the killed instance"
    inside = report(("c-restart", 4), drone="d-2", ts=t0 + timedelta(seconds=30))
    after_window = report(("c-restart", 5), drone="d-3", ts=t0 + timedelta(seconds=700))
    publish(client, tenant, [(inside.drone_id, inside.to_json()), (first.drone_id, first.to_json())])
    publish(client, tenant, [(after_window.drone_id, after_window.to_json())])
    deadline = time.monotonic() + 90  # the new instance may still be starting
    while len(mine()) < 2 and time.monotonic() < deadline:
        time.sleep(1)
    time.sleep(3)  # anything more would have come by now
    assert mine() == [first.report_id, after_window.report_id]


def test_redeploy_with_a_new_threshold_takes_effect(
    client: pulsar.Client,
    forces: dict[str, AlertConfig],
    settings: Settings,
    admin: PulsarAdmin,
    runtime: str,
) -> None:
    tenant = next(iter(forces))  # threshold 20: a 30 raises nothing yet
    before = report(("c-thirty", 30))
    publish(client, tenant, [(before.drone_id, before.to_json())])
    config = AlertConfig(threshold=40)
    assert deploy_alerting(settings, admin, tenant=tenant, config=config, runtime=runtime) == "updated"  # type: ignore[arg-type]
    assert admin.get_function(tenant, NAMESPACE, ALERT_FUNCTION_NAME)["runtime"] == runtime.upper()
    assert admin.get_function(tenant, NAMESPACE, ALERT_FUNCTION_NAME)["userConfig"]["threshold"] == 40
    # The worker restarts the instance with the new config; probe until it answers.
    deadline = time.monotonic() + 90
    found: list[Alert] = []
    while not found and time.monotonic() < deadline:
        probe = report(("c-thirty", 30))
        publish(client, tenant, [(probe.drone_id, probe.to_json())])
        time.sleep(2)
        found = [a for a in _alerts(client, tenant, expected=0) if a.citizen_id == "c-thirty"]
    assert found, "no alert with the new threshold within 90 s"
    assert {a.threshold for a in found} == {40}
    assert before.report_id not in {a.report_id for a in found}  # processed under the old threshold


def test_alerts_tail_cli_prints_the_alert_as_json(
    client: pulsar.Client, forces: dict[str, AlertConfig], settings: Settings
) -> None:
    import subprocess
    import sys

    from .conftest import cli_env

    tenant = list(forces)[1]
    r = report(("c-tail", 1))
    publish(client, tenant, [(r.drone_id, r.to_json())])
    expected = str(alert_id_for(r.report_id, "c-tail"))
    deadline = time.monotonic() + 60
    seen: list[dict[str, object]] = []
    while time.monotonic() < deadline and not any(a["alert_id"] == expected for a in seen):
        proc = subprocess.run(
            [sys.executable, "-m", "peacewatch.cli.app", "alerts", "tail", "-t", tenant,
             "--since", "10m", "--json", "--idle-timeout", "3"],
            capture_output=True, text=True, env=cli_env(settings), timeout=60, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        seen = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    mine = [a for a in seen if a["alert_id"] == expected]
    assert len(mine) == 1
    assert mine[0]["tenant"] == tenant
    assert mine[0]["citizen_id"] == "c-tail"
    assert mine[0]["peacescore"] == 1
    assert mine[0]["drone"] == r.drone_id


def test_a_force_switches_runtime_and_the_other_implementation_resumes(
    stack: Any, settings: Settings, admin: PulsarAdmin, client: pulsar.Client
) -> None:
    """python -> java by `tenants apply`: a new registration (the worker will not change a runtime in
    place); the Java instance resumes from the `alerting` subscription - no report alerted twice."""
    tenant = f"al-{uuid.uuid4().hex[:6]}-switch"
    python = AlertingSpec(threshold=20, runtime="python")
    onboard(settings, admin, tenant, partitions=2, with_function=True, alerting=python)
    try:
        assert admin.get_function(tenant, NAMESPACE, ALERT_FUNCTION_NAME)["runtime"] == "PYTHON"  # type: ignore[index]
        before = report(("c-before", 5))
        publish(client, tenant, [(before.drone_id, before.to_json())])
        assert [a.report_id for a in _alerts(client, tenant, expected=1)] == [before.report_id]
        onboard(settings, admin, tenant, partitions=2, with_function=True,
                alerting=AlertingSpec(threshold=20, runtime="java"))  # fmt: skip
        assert admin.get_function(tenant, NAMESPACE, ALERT_FUNCTION_NAME)["runtime"] == "JAVA"  # type: ignore[index]
        after = report(("c-after", 5))
        publish(client, tenant, [(after.drone_id, after.to_json())])
        alerts = _alerts(client, tenant, expected=2)
        assert [a.report_id for a in alerts] == [before.report_id, after.report_id]
        time.sleep(3)  # nothing more arrives: the switch replayed nothing
        assert len(_alerts(client, tenant, expected=0)) == 2
    finally:
        admin.delete_function(tenant, NAMESPACE, ALERT_FUNCTION_NAME)
