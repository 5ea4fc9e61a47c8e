from __future__ import annotations

import subprocess
import sys

import pulsar
import pytest

from peacewatch.functions.deploy.smoke_check import run_smoke
from peacewatch.platform.contract import Report
from peacewatch.platform.schema_registry import ContractSchema
from peacewatch.platform.settings import Settings
from peacewatch.platform.stack.manager import Stack
from peacewatch.platform.stack.process import port_open
from peacewatch.platform.topics import TenantTopics
from peacewatch.tenants.provisioning import provision_topics

pytestmark = pytest.mark.integration


def test_stack_is_healthy_and_up_is_idempotent(stack: Stack, settings: Settings) -> None:
    before = {s.name: s for s in stack.status()}
    assert before["pulsar"].healthy
    assert before["minio"].healthy
    assert before["pulsar"].version == settings.pulsar.version
    assert "functions worker up" in before["pulsar"].detail
    after = {s.name: s for s in stack.up()}
    assert {n: s.pid for n, s in after.items()} == {n: s.pid for n, s in before.items()}
    assert port_open(settings.pulsar.host, settings.pulsar.broker_port)


def test_python_function_runs_on_the_real_worker(stack: Stack, settings: Settings) -> None:
    result = run_smoke(settings)
    assert result.received == f"smoke:{result.sent}:python{sys.version_info.major}.{sys.version_info.minor}"


def test_provisioning_is_idempotent_and_enforces_the_schema(
    admin, client: pulsar.Client, tenant_names: tuple[str, str]
) -> None:
    tenant = tenant_names[0]
    first = provision_topics(admin, tenant=tenant, partitions=3)
    assert any("schema Report" in c for c in first.changes)
    assert provision_topics(admin, tenant=tenant, partitions=3).changes == []
    topics = TenantTopics(tenant)
    assert admin.partitions(topics.reports) == 3
    # The broker itself refuses a producer that does not declare the contract's schema ...
    with pytest.raises(pulsar.IncompatibleSchema):
        client.create_producer(topics.reports)
    # ... and one declaring another schema, while the contract's own is accepted.
    with pytest.raises(pulsar.IncompatibleSchema):
        client.create_producer(topics.reports, schema=ContractSchema(type("Other", (Report,), {})))
    client.create_producer(topics.reports, schema=ContractSchema(Report)).close()


def test_cli_reports_a_tenant_that_is_not_onboarded(stack: Stack, settings: Settings) -> None:
    env = {
        "PEACEWATCH_STATE_DIR": str(settings.state_dir),
        "PEACEWATCH_PULSAR__WEB_PORT": str(settings.pulsar.web_port),
        "PEACEWATCH_PULSAR__BROKER_PORT": str(settings.pulsar.broker_port),
        "PATH": "/usr/bin:/bin",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "peacewatch.cli.app", "simulate", "-t", "nobody-here", "--minutes", "1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "error: tenant 'nobody-here' is not onboarded: run `peacewatch tenants add nobody-here`"
    ]
