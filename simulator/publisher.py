"""Send simulated reports to Pulsar: real time, accelerated, or backfill as fast as possible.

Partition key = drone_id (a drone's reports stay in order), event time = report ts,
producer batching on.
"""

from __future__ import annotations

import heapq
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pulsar

from peacewatch.platform.contract import Report
from peacewatch.platform.schema_registry import ContractSchema
from peacewatch.platform.topics import TenantTopics
from peacewatch.simulator.config import SimulationConfig
from peacewatch.simulator.fleet import FleetSimulator, floor_minute
from peacewatch.simulator.malformed import MALFORMED_KINDS, corrupt
from peacewatch.simulator.report_dict import ReportDict, encode_report

__all__ = ["MALFORMED_PROPERTY", "PublishStats", "Publisher", "merged_reports", "run_simulation"]

MALFORMED_PROPERTY = "sim-malformed"


@dataclass
class PublishStats:
    sent: int = 0
    acked: int = 0
    failed: int = 0
    malformed: int = 0
    per_tenant: dict[str, int] = field(default_factory=dict)
    report_ids: dict[str, list[str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def merged_reports(fleets: list[FleetSimulator], *, minutes: int) -> Iterator[tuple[str, ReportDict]]:
    """Every fleet's reports for `minutes` minutes, interleaved in event-time order."""
    for _ in range(minutes):
        streams = [[(r["ts"], f.tenant, r) for r in f.minute()] for f in fleets]
        for ts_tenant_report in heapq.merge(*streams, key=lambda x: x[0]):
            yield ts_tenant_report[1], ts_tenant_report[2]


class Publisher:
    """One producer per tenant on its reports topic, declaring the contract's schema.

    `client` is one client for every tenant, or one per tenant (each holding that force's fleet token).
    """

    def __init__(
        self,
        client: pulsar.Client | Mapping[str, pulsar.Client],
        *,
        tenants: list[str],
        bad_rate: float = 0.0,
        seed: int = 0,
        keep_ids: bool = False,
        send_timeout_ms: int = 30_000,
    ) -> None:
        """`keep_ids` records the id of every valid report the broker acknowledged;
        `send_timeout_ms=0` retries forever (a drone keeps its reports through a broker restart)."""
        self.stats = PublishStats()
        self._bad_rate = bad_rate
        self._rng = random.Random(seed)
        self._keep_ids = keep_ids
        clients = client if isinstance(client, Mapping) else dict.fromkeys(tenants, client)
        self._producers = {
            t: clients[t].create_producer(
                TenantTopics(t).reports,
                schema=ContractSchema(Report),
                batching_enabled=True,
                batching_max_publish_delay_ms=5,
                batching_max_messages=1000,
                block_if_queue_full=True,
                max_pending_messages=10_000,
                compression_type=pulsar.CompressionType.LZ4,
                send_timeout_millis=send_timeout_ms,
            )
            for t in tenants
        }
        for t in tenants:
            self.stats.per_tenant[t] = 0
            self.stats.report_ids[t] = []

    def _callback(self, res: pulsar.Result, _msg_id: pulsar.MessageId) -> None:
        if res == pulsar.Result.Ok:
            self.stats.acked += 1
        else:
            self.stats.failed += 1
            if len(self.stats.errors) < 10:
                self.stats.errors.append(str(res))

    def _keep(self, tenant: str, report_id: str) -> Callable[[pulsar.Result, pulsar.MessageId], None]:
        def callback(res: pulsar.Result, msg_id: pulsar.MessageId) -> None:
            self._callback(res, msg_id)
            if res == pulsar.Result.Ok:
                self.stats.report_ids[tenant].append(report_id)

        return callback

    def send(self, tenant: str, report: ReportDict) -> None:
        properties: dict[str, str] = {}
        if self._bad_rate and self._rng.random() < self._bad_rate:
            kind = self._rng.choice(MALFORMED_KINDS)
            payload = corrupt(report, kind=kind, rng=self._rng)
            properties[MALFORMED_PROPERTY] = kind
            self.stats.malformed += 1
        else:
            payload = encode_report(report)
        keep = self._keep_ids and not properties
        event_ms = int(report["ts"].timestamp() * 1000)
        self._producers[tenant].send_async(
            payload,
            self._keep(tenant, str(report["report_id"])) if keep else self._callback,
            partition_key=report["drone_id"],
            event_timestamp=max(event_ms, 0),  # unsigned in Pulsar: nothing before 1970
            properties=properties,
        )
        self.stats.sent += 1
        self.stats.per_tenant[tenant] += 1

    def flush(self) -> None:
        for producer in self._producers.values():
            producer.flush()

    def close(self) -> None:
        self.flush()
        for producer in self._producers.values():
            producer.close()


def run_simulation(
    publisher: Publisher,
    *,
    config: SimulationConfig,
    tenants: list[str],
    start: datetime,
    minutes: int,
    speed: float | None,
    on_progress: Callable[[int], None] = lambda _n: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> PublishStats:
    """Publish `minutes` simulated minutes. speed=None: as fast as possible (backfill);
    speed=S: S simulated seconds per wall second (1 = real time, 600 = ten hours a minute)."""
    fleets = [FleetSimulator(config, tenant=t, start=start) for t in tenants]
    sim_origin = floor_minute(start)
    wall_origin = time.monotonic()
    sent_since = 0
    for tenant, report in merged_reports(fleets, minutes=minutes):
        if speed is not None:
            due = wall_origin + (report["ts"] - sim_origin) / timedelta(seconds=1) / speed
            delay = due - time.monotonic()
            if delay > 0.002:
                publisher.flush()
                time.sleep(delay)
        publisher.send(tenant, report)
        sent_since += 1
        if sent_since >= 200:
            on_progress(sent_since)
            sent_since = 0
            if should_stop():
                break
    on_progress(sent_since)
    publisher.flush()
    return publisher.stats
