"""`peacewatch stack rotate-key` on the real stack: tokens issued before stop working, the
platform's and the forces' kit tokens are re-issued, alerts keep flowing.

This restarts the test stack's broker on a new key: it runs last (marker destroys_broker_state).
"""

from __future__ import annotations

import subprocess
import sys

import pulsar
import pytest

from peacewatch.platform.auth import superuser_token
from peacewatch.platform.clients import kit_client, pulsar_admin
from peacewatch.platform.contract import Report
from peacewatch.platform.credentials import read_kit_token
from peacewatch.platform.errors import PulsarAdminError
from peacewatch.platform.pulsar_admin import PulsarAdmin
from peacewatch.platform.schema_registry import ContractSchema
from peacewatch.platform.settings import Settings
from peacewatch.platform.stack.manager import Stack
from peacewatch.platform.topics import TenantTopics

from .conftest import cli_env, onboard
from .test_tenant_safety import _can_produce, _report

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.destroys_broker_state]


def test_rotate_key_retires_old_tokens_and_keeps_alerts_flowing(
    stack: Stack, settings: Settings, admin: PulsarAdmin, tenant_names: tuple[str, str]
) -> None:
    tenant = tenant_names[0]
    onboard(settings, admin, tenant, partitions=1, with_function=True)
    issued = subprocess.run(
        [sys.executable, "-m", "peacewatch.cli.app", "tenants", "token", tenant, "--role", "fleet"],
        env=cli_env(settings), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert issued.returncode == 0, issued.stderr
    drone_token = issued.stdout.strip()
    old_superuser = superuser_token(settings)
    old_kit = read_kit_token(settings, tenant, "fleet")
    assert _can_produce(settings, tenant, drone_token)

    rotated = subprocess.run(
        [sys.executable, "-m", "peacewatch.cli.app", "stack", "rotate-key"],
        env={**cli_env(settings), "COLUMNS": "250"}, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert rotated.returncode == 0, rotated.stderr
    assert "re-issued the tokens" in rotated.stdout
    assert tenant in rotated.stdout

    assert not _can_produce(settings, tenant, drone_token)  # handed out before: refused
    assert not _can_produce(settings, tenant, old_kit)
    with (
        PulsarAdmin(web_url=settings.pulsar.web_url, token=old_superuser) as old_admin,
        pytest.raises(PulsarAdminError),
    ):
        old_admin.tenants()
    assert read_kit_token(settings, tenant, "fleet") != old_kit
    assert _can_produce(settings, tenant, read_kit_token(settings, tenant, "fleet"))
    with pulsar_admin(settings) as new_admin:
        assert tenant in new_admin.tenants()

    # The alert function was redeployed with the new alerting token: a bad score still alerts.
    fleet = kit_client(settings, tenant=tenant, kit="fleet")
    officer = kit_client(settings, tenant=tenant, kit="officer")
    try:
        alerts = officer.subscribe(
            TenantTopics(tenant).alerts, "after-rotation", initial_position=pulsar.InitialPosition.Earliest
        )
        fleet.create_producer(TenantTopics(tenant).reports, schema=ContractSchema(Report)).send(_report(5))
        assert b'"peacescore":5' in alerts.receive(timeout_millis=90_000).data()
    finally:
        fleet.close()
        officer.close()
