"""Crafted reports and topic readers for the alerting tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pulsar

from peacewatch.platform.contract import Citizen, Report
from peacewatch.platform.schema_registry import ContractSchema
from peacewatch.platform.topics import TenantTopics


def report(*citizens: tuple[str, int], drone: str = "d-0001", ts: datetime | None = None) -> Report:
    return Report(
        report_id=uuid.uuid4(),
        drone_id=drone,
        ts=ts or datetime.now(UTC),
        lat=48.8566,
        lon=2.3522,
        battery_pct=64.0,
        citizens=[Citizen(citizen_id=cid, name=f"Citizen {cid}", peacescore=s) for cid, s in citizens],
        words=["hello"],
    )


def publish(client: pulsar.Client, tenant: str, payloads: list[tuple[str, bytes]]) -> None:
    """(partition key, bytes) pairs onto the tenant's reports topic, in order, synchronously."""
    producer = client.create_producer(TenantTopics(tenant).reports, schema=ContractSchema(Report))
    try:
        for key, payload in payloads:
            producer.send(payload, partition_key=key)
    finally:
        producer.close()


def read_all(
    client: pulsar.Client, topic: str, *, expected: int, idle_s: float = 3.0, wait_s: float = 60.0
) -> list:
    """Every message on a topic from the start: waits up to wait_s for `expected`, then idle_s for extras."""
    reader = client.create_reader(topic, pulsar.MessageId.earliest)
    messages = []
    try:
        while True:
            timeout = wait_s if len(messages) < expected else idle_s
            try:
                messages.append(reader.read_next(timeout_millis=int(timeout * 1000)))
            except pulsar.Timeout:
                return messages
    finally:
        reader.close()
