"""10,000 simulated reports through real Pulsar into two tenants: all arrive, none crosses."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pulsar
import pytest

from peacewatch.platform.contract import parse_report
from peacewatch.platform.errors import InvalidReport
from peacewatch.platform.topics import TenantTopics
from peacewatch.simulator.config import SimulationConfig
from peacewatch.simulator.publisher import MALFORMED_PROPERTY, Publisher, run_simulation
from peacewatch.tenants.provisioning import provision_topics

pytestmark = pytest.mark.integration


def _drain(consumer: pulsar.Consumer, *, expected: int) -> list[pulsar.Message]:
    messages = []
    while True:
        try:
            msg = consumer.receive(timeout_millis=5_000 if len(messages) < expected else 1_500)
        except pulsar.Timeout:
            return messages
        consumer.acknowledge(msg)
        messages.append(msg)


def test_ten_thousand_reports_reach_their_own_tenant_only(
    admin, client: pulsar.Client, tenant_names: tuple[str, str]
) -> None:
    north, south = tenant_names
    consumers = {}
    for tenant in tenant_names:
        provision_topics(admin, tenant=tenant, partitions=4)
        consumers[tenant] = client.subscribe(
            TenantTopics(tenant).reports, "it-check", initial_position=pulsar.InitialPosition.Earliest
        )

    publisher = Publisher(client, tenants=[north, south], bad_rate=0.01, seed=5, keep_ids=True)
    config = SimulationConfig(drones=50, seed=11, flaky_drones=0)
    # 50 drones x 2 tenants x 100 minutes = 10,000 reports.
    stats = run_simulation(
        publisher,
        config=config,
        tenants=[north, south],
        start=datetime(2026, 11, 3, 7, tzinfo=UTC),
        minutes=100,
        speed=None,
    )
    publisher.close()
    assert stats.sent == 10_000
    assert stats.acked == 10_000
    assert stats.failed == 0
    assert 40 <= stats.malformed <= 170

    malformed_seen = 0
    for tenant in tenant_names:
        messages = _drain(consumers[tenant], expected=stats.per_tenant[tenant])
        assert len(messages) == stats.per_tenant[tenant]
        malformed = [m for m in messages if MALFORMED_PROPERTY in m.properties()]
        valid = [parse_report(m.data()) for m in messages if MALFORMED_PROPERTY not in m.properties()]
        assert sorted(str(r.report_id) for r in valid) == sorted(stats.report_ids[tenant])
        assert all(r.drone_id.startswith(f"{tenant}-d") for r in valid)  # nothing crossed tenants
        assert Counter(m.partition_key() for m in messages if not m.partition_key().startswith(tenant)) == {}
        # A drone's reports keep their order (partition key = drone_id).
        per_drone: dict[str, list[datetime]] = {}
        for r in valid:
            per_drone.setdefault(r.drone_id, []).append(r.ts)
        assert all(ts == sorted(ts) for ts in per_drone.values())
        for m in malformed:  # flagged malformed by the simulator: the contract refuses every one
            with pytest.raises(InvalidReport):
                parse_report(m.data())
        malformed_seen += len(malformed)
    assert malformed_seen == stats.malformed
    assert sum(len(v) for v in stats.report_ids.values()) + stats.malformed == 10_000
