"""Kit tokens renewed with nobody touching the platform (issue 34), a season in minutes: lifetimes
of 40 s (`tokens` settings), `peacewatch tenants renew` every 10 s, drones publishing and the sink
storing throughout. The sink's consumer, its monitor (admin REST) and the drones' client all hold
kit tokens that expire several times over; every report is stored exactly once, and the sink's
/metrics shows each renewed expiry."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from deltalake import DeltaTable

from peacewatch.lakehouse.lake import lake_table
from peacewatch.platform.clients import kit_client, pulsar_admin
from peacewatch.platform.contract import Citizen, Report
from peacewatch.platform.credentials import kit_dir
from peacewatch.platform.schema_registry import ContractSchema
from peacewatch.platform.settings import Settings, TokenSettings
from peacewatch.platform.topics import TenantTopics

from .conftest import cli_env, free_port, onboard, wait_for_rows

pytestmark = [pytest.mark.integration, pytest.mark.soak, pytest.mark.slow]

LIFETIME_S = 40
RENEW_EVERY_S = 10
PUBLISH_S = 150


def _short_lived(settings: Settings) -> Settings:
    life = timedelta(seconds=LIFETIME_S)
    return settings.model_copy(update={"tokens": TokenSettings(lake=life, fleet=life, officer=life)})


def _env(settings: Settings) -> dict[str, str]:
    return {
        **cli_env(settings),
        **{f"PEACEWATCH_TOKENS__{k.upper()}": str(LIFETIME_S) for k in ("lake", "fleet", "officer")},
    }


def test_kits_renew_under_load_and_every_report_is_stored_once(stack, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    short = _short_lived(settings)
    tenant = f"rn-{uuid.uuid4().hex[:6]}"
    with pulsar_admin(short) as admin:
        onboard(short, admin, tenant, partitions=2)
    metrics_port = free_port()
    log = short.logs_dir / f"test-renewal-{tenant}.log"
    sink = subprocess.Popen(
        [sys.executable, "-m", "peacewatch.cli.app", "lake", "run", "-t", tenant, "--name", "renewal",
         "--max-age", "1", "--processes", "1", "--metrics-port", str(metrics_port)],
        env=_env(short), stdout=subprocess.DEVNULL, stderr=log.open("ab"),
    )  # fmt: skip
    client = kit_client(short, tenant=tenant, kit="fleet")  # the drones' client, reading its kit file
    lake_token = kit_dir(short, tenant, "lake") / "token"
    tokens_seen = {lake_token.read_text()}
    expiries: set[float] = set()
    sent: list[str] = []
    try:
        producer = client.create_producer(TenantTopics(tenant).reports, schema=ContractSchema(Report),
                                          send_timeout_millis=0)  # fmt: skip
        started = last_renewal = time.monotonic()
        while time.monotonic() - started < PUBLISH_S:
            for _ in range(10):
                report = Report(report_id=uuid.uuid4(), drone_id="d-1", ts=datetime.now(UTC), lat=48.85,
                                lon=2.35, battery_pct=50.0, words=["calm"],
                                citizens=[Citizen(citizen_id="c-1", name="n", peacescore=80)])  # fmt: skip
                producer.send_async(report.to_json(), None)
                sent.append(str(report.report_id))
            if time.monotonic() - last_renewal >= RENEW_EVERY_S:
                renewed = subprocess.run(
                    [sys.executable, "-m", "peacewatch.cli.app", "tenants", "renew", tenant],
                    env=_env(short), capture_output=True, text=True, check=False,
                )  # fmt: skip
                assert renewed.returncode == 0, renewed.stderr
                last_renewal = time.monotonic()
                tokens_seen.add(lake_token.read_text())
                try:
                    text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
                except httpx.HTTPError:
                    text = ""
                for line in text.splitlines():
                    if line.startswith("peacewatch_kit_token_expiry_timestamp_seconds{"):
                        expiries.add(float(line.rsplit(" ", 1)[1]))
            time.sleep(1)
        producer.flush()
        assert sink.poll() is None, log.read_text()[-2000:]
        wait_for_rows(short, tenant, len(sent), timeout_s=180)
    finally:
        client.close()
        sink.terminate()
        sink.wait(timeout=60)
    # At least three renewals of the sink's own kit while it ran, each one seen on its /metrics.
    assert len(tokens_seen) >= 4, len(tokens_seen)
    assert len(expiries) >= 3, expiries
    table = lake_table(short, tenant=tenant, name="reports")
    ids = DeltaTable(table.uri, storage_options=table.storage_options).to_pyarrow_table(columns=["report_id"])
    stored = [str(v) for v in ids.column("report_id").to_pylist()]
    assert len(stored) == len(set(stored)) == len(sent)
    assert set(stored) == set(sent)
    # Past every token's first life: what the clients hold now was issued by a renewal.
    assert time.monotonic() - started > 3 * LIFETIME_S
