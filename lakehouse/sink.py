"""The Delta sink: every report (and alert) of a tenant into its Delta tables, exactly once.

- Failover subscription `lake-sink` on the tenant's partitioned reports topic (and its alerts
  topic): partitions spread over sink processes, each partition read in order by one of them.
- Micro-batches (rows / bytes / age) become one Delta append each. The same commit carries,
  per topic partition, an app transaction whose version encodes the last message position it
  wrote; messages are acknowledged only after that commit.
- Before every commit the sink refreshes the table and drops rows at or below what is
  already committed for their partition: a crash between commit and ack, a restart, or a
  partition that moved between processes never writes a row twice.
- Invalid payloads go to the tenant's DLQ with the reason; if MinIO is unreachable the batch
  is retried with backoff and nothing is acknowledged meanwhile.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pulsar
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from deltalake.exceptions import DeltaError, DeltaProtocolError, SchemaMismatchError, TableNotFoundError
from pydantic import BaseModel

from peacewatch.lakehouse.batching import BatchPolicy, MicroBatch, Position
from peacewatch.lakehouse.lake import LakeTable, S3Credentials, TableName, lake_table
from peacewatch.lakehouse.positions import encode_position, sink_app_id
from peacewatch.lakehouse.rows import to_table
from peacewatch.platform.contract import Alert, Report, parse_contract
from peacewatch.platform.errors import InvalidReport
from peacewatch.platform.settings import Settings
from peacewatch.platform.topics import TenantTopics

__all__ = ["SUBSCRIPTION", "DeltaSink", "SinkStats", "committed_positions"]

log = logging.getLogger("peacewatch.lakehouse.sink")
SUBSCRIPTION = "lake-sink"
_MODELS: dict[TableName, type[BaseModel]] = {"reports": Report, "alerts": Alert}


@dataclass
class SinkStats:
    received: int = 0
    written: int = 0
    skipped_duplicates: int = 0
    invalid: int = 0
    commits: int = 0
    retries: int = 0
    freshness_ms: list[float] = field(default_factory=list)


# A row waiting for its commit: (payload, partition topic, encoded position, publish ms, message id).
# A plain tuple: the sink handles tens of thousands a second and a dataclass costs twice as much.
_Pending = tuple[bytes, str, int, int, str]


def committed_positions(table: DeltaTable, partitions: list[str]) -> dict[str, int]:
    """Encoded last-written position per partition topic, from the table's app transactions."""
    out = {}
    for partition in partitions:
        version = table.transaction_version(sink_app_id(partition))
        if version is not None:
            out[partition] = version
    return out


class _TableWriter:
    """One Delta table: batching, dedup against committed positions, commit, then ack."""

    def __init__(
        self, *, table: LakeTable, model: type[BaseModel], consumer: pulsar.Consumer, policy: BatchPolicy,
        dlq: pulsar.Producer, stats: SinkStats, sink_name: str,
    ) -> None:  # fmt: skip
        self.table = table
        self.consumer = consumer
        self.model = model
        self.batch: MicroBatch[_Pending] = MicroBatch(policy)
        self.last_msg: dict[str, pulsar.Message] = {}
        self.dlq = dlq
        self.stats = stats
        self.sink_name = sink_name
        self._delta: DeltaTable | None = None

    def _load(self) -> DeltaTable | None:
        if self._delta is None:
            try:
                self._delta = DeltaTable(self.table.uri, storage_options=self.table.storage_options)
            except TableNotFoundError:
                return None
        else:
            self._delta.update_incremental()
        return self._delta

    def offer(self, messages: list[pulsar.Message]) -> None:
        batch = self.batch
        for msg in messages:
            partition = msg.topic_name()
            mid = msg.message_id()
            position: Position = (mid.ledger_id(), mid.entry_id(), mid.batch_index())
            payload = msg.data()
            self.last_msg[partition] = msg
            try:
                parse_contract(self.model, payload)
            except InvalidReport as exc:
                self.stats.invalid += 1
                self.dlq.send_async(
                    payload,
                    None,
                    properties={
                        "error": exc.reason[:1000],
                        "source_topic": partition,
                        "source_message_id": str(mid),
                        "stage": "lake-sink",
                    },
                )
                batch.note_position(partition, position)
                continue
            row = (payload, partition, encode_position(position), msg.publish_timestamp(), str(mid))
            batch.add(row, size=len(payload), partition=partition, position=position)
        self.stats.received += len(messages)

    def flush(self) -> None:
        """Commit the batch (retrying with backoff until it lands), then acknowledge it."""
        if self.batch.empty:
            return
        delay = 0.5
        while True:
            try:
                self._commit()
                break
            except (SchemaMismatchError, DeltaProtocolError):
                raise  # retrying cannot fix these: the process stops with the batch unacknowledged
            except (OSError, DeltaError) as exc:  # storage unreachable, commit conflicts: retry
                self.stats.retries += 1
                log.warning("commit to %s failed (%s); retrying in %.1fs", self.table.uri, exc, delay)
                self._delta = None  # reload from scratch: the failure may have been mid-commit
                time.sleep(delay)
                delay = min(delay * 2, 30.0)
        self.dlq.flush()
        for msg in self.last_msg.values():
            self.consumer.acknowledge_cumulative(msg)
        self.last_msg.clear()
        self.batch = MicroBatch(self.batch.policy)

    def _commit(self) -> None:
        delta = self._load()
        partitions = list(self.batch.last_position)
        done = committed_positions(delta, partitions) if delta is not None else {}
        rows = [r for r in self.batch.rows if r[2] > done.get(r[1], -1)]
        self.stats.skipped_duplicates += len(self.batch.rows) - len(rows)
        txns = [
            Transaction(app_id=sink_app_id(part), version=encode_position(pos))
            for part, pos in self.batch.last_position.items()
            if encode_position(pos) > done.get(part, -1)
        ]
        if not txns:
            return  # everything here was committed before (a redelivery after a crash)
        data = to_table(self.model, [r[0] for r in rows], [r[3] for r in rows], [r[4] for r in rows])
        write_deltalake(
            self.table.uri,
            data,
            mode="append",
            partition_by=["date"],
            schema_mode="merge",
            storage_options=self.table.storage_options,
            commit_properties=CommitProperties(
                app_transactions=txns,
                custom_metadata={
                    "peacewatch.sink": self.sink_name,
                    "peacewatch.positions": json.dumps({t.app_id: t.version for t in txns}),
                },
            ),
        )
        now = time.time() * 1000
        self.stats.freshness_ms.extend(now - r[3] for r in rows[:: max(1, len(rows) // 200)])
        self.stats.written += len(rows)
        self.stats.commits += 1


class DeltaSink:
    """The sink of one tenant. Run several (same tenant) to share its partitions."""

    def __init__(
        self,
        settings: Settings,
        client: pulsar.Client,
        *,
        tenant: str,
        policy: BatchPolicy | None = None,
        name: str = "sink",
        tables: tuple[TableName, ...] = ("reports", "alerts"),
        models: dict[TableName, type[BaseModel]] | None = None,
        subscription: str = SUBSCRIPTION,
        credentials: S3Credentials | None = None,
    ) -> None:
        """`models` overrides the contract model per table (a newer contract version: new
        optional fields become new columns through schema merge)."""
        self.tenant = tenant
        self.stats = SinkStats()
        self._stop = threading.Event()
        topics = TenantTopics(tenant)
        policy = policy or BatchPolicy()
        self._dlq = client.create_producer(topics.dlq, block_if_queue_full=True)
        self._writers: list[_TableWriter] = []
        for table_name in tables:
            source = topics.reports if table_name == "reports" else topics.alerts
            consumer = client.subscribe(
                source,
                subscription,
                consumer_type=pulsar.ConsumerType.Failover,
                consumer_name=name,
                initial_position=pulsar.InitialPosition.Earliest,
                receiver_queue_size=10_000,
                batch_receive_policy=pulsar.ConsumerBatchReceivePolicy(1000, 8 * 1024 * 1024, 100),
            )
            self._writers.append(
                _TableWriter(
                    table=lake_table(settings, tenant=tenant, name=table_name, credentials=credentials),
                    model=(models or {}).get(table_name, _MODELS[table_name]),
                    consumer=consumer,
                    policy=policy,
                    dlq=self._dlq,
                    stats=self.stats,
                    sink_name=name,
                )
            )

    def stop(self) -> None:
        self._stop.set()

    def run(self, *, until: Callable[[], bool] = lambda: False) -> SinkStats:
        """Consume and commit until stop() or `until()`; the last batch is committed on the way out."""
        while not self._stop.is_set() and not until():
            for writer in self._writers:
                # One native call per up to 1,000 messages (or 100 ms): per-message receive()
                # costs more than validating the message.
                messages = writer.consumer.batch_receive()
                if messages:
                    writer.offer(messages)
                if writer.batch.due():
                    writer.flush()
        for writer in self._writers:
            writer.flush()
        return self.stats

    def close(self) -> None:
        for writer in self._writers:
            writer.consumer.close()
        self._dlq.close()
