"""The Delta sink: every report (and alert) of a tenant into its Delta tables, exactly once.

- One Failover subscription `lake-sink` over the tenant's partitioned reports topic and its
  alerts topic: partitions spread over sink processes, each partition read in order by one.
- Every message passes the contract's gate (platform.contract_data) and its row is built from
  what was validated. Invalid messages are dead-lettered with the reason.
- Micro-batches (rows / bytes / age) become one Delta append each. The commit is made on the
  very table snapshot the batch was checked against, and carries, per partition, an app
  transaction recording the highest position it covers: a concurrent commit by another sink
  for the same partition makes it fail (delta-rs' conflict check), and the retry checks again.
  Rows at or below a partition's committed position are never written twice.
- Messages are acknowledged one by one, only after the commit that covers them (or after
  finding them already committed). Cumulative acks could acknowledge what another process,
  which took the partition over meanwhile, has not stored.
- A commit covers each partition only up to its first gap (lakehouse.batching): a Failover
  handover can leave entries unacknowledged behind the broker's read position, and a position
  recorded past them would make them look stored. Past a gap nothing is written or acknowledged
  and the broker is asked to redeliver (it rewinds); so is it after 30 s with nothing received
  (a hole at a partition's tail has nothing after it to show it).
- Outages (MinIO, Pulsar) are retried with backoff and acknowledge nothing; stop() interrupts
  the backoff. A row that cannot be converted is found by bisection and dead-lettered alone.
- A table's commit runs in its own thread while the next batch fills (Delta's write and the
  S3 round trips release the GIL): at most one commit per table in flight, in batch order.
- Memory is bounded whatever a drone sends: the receive queue holds `receive_bytes` worth of the
  largest entry the topics take (platform.topics.MAX_ENTRY_BYTES), a batch seals at its bytes
  (dead letters included), and a commit writes into at most max_partitions event days.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pulsar
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from deltalake.exceptions import DeltaError, DeltaProtocolError, SchemaMismatchError, TableNotFoundError
from pydantic import BaseModel

from peacewatch.lakehouse.ingest.batching import BatchPolicy
from peacewatch.lakehouse.ingest.batching_sink import BatchingSink, CommitConflict, SinkStats
from peacewatch.lakehouse.ingest.delta_committer import DeltaCommitter, Row
from peacewatch.lakehouse.ingest.positions import identity_fingerprint, source_app_id
from peacewatch.lakehouse.lake import LakeTable, S3Credentials, TableName, lake_table
from peacewatch.platform.contract import Alert, Report
from peacewatch.platform.contract_data import ContractValidator, contract_validator
from peacewatch.platform.dead_letters import DeadLetter, DeadLetterFailed, DeadLetterQueue
from peacewatch.platform.errors import InvalidReport
from peacewatch.platform.positions import entry_size, entry_start, message_position
from peacewatch.platform.settings import Settings
from peacewatch.platform.topics import LAKE_SUBSCRIPTION, MAX_ENTRY_BYTES, TenantTopics

__all__ = ["SUBSCRIPTION", "DeltaSink", "adopt_source"]

SUBSCRIPTION = LAKE_SUBSCRIPTION
STAGE = "lake-sink"
_MODELS: dict[TableName, type[BaseModel]] = {"reports": Report, "alerts": Alert}

# Redeliveries asked of the broker: at most this often; and after this long with nothing received
# (a hole at a partition's tail shows no gap: nothing comes after it).
_REDELIVERY_INTERVAL_S = 2.0
_QUIET_REDELIVERY_S = 30.0
# What the client's receive queues may hold, at the largest entry. 256 messages in all drained as
# fast as 10,000 per partition in a plain consumer here (224k vs 213-251k messages/s).
RECEIVE_BYTES = 128 * 1024 * 1024


def receive_queue(receive_bytes: int) -> int:
    """The receive queue's length for a budget: a multi-topic consumer holds up to its queue's
    length in its partitions' queues (the total across partitions) and as much again in its own."""
    return max(2, receive_bytes // (2 * MAX_ENTRY_BYTES))


def _utc_day(row: Row) -> int:
    """A row's table partition: the UTC day of its event time (rows.to_table's `date`)."""
    return int(row[0]["ts"].timestamp() // 86_400)


def _transient(exc: BaseException) -> bool:
    """Worth retrying: storage or broker unreachable, a commit that lost a race, a DLQ write."""
    if isinstance(exc, SchemaMismatchError | DeltaProtocolError):
        return False
    return isinstance(exc, OSError | DeltaError | CommitConflict | DeadLetterFailed | pulsar.PulsarException)


def adopt_source(table: LakeTable, *, topic: str, source_id: str) -> bool:
    """Make the table follow this incarnation of its topic (after a recreation or a metadata reset).

    An empty commit records the new identity; positions recorded for the old one are left
    behind (they are keyed by it). False if the table already follows it."""
    try:
        delta = DeltaTable(table.uri, storage_options=table.storage_options)
    except TableNotFoundError:
        return False
    marker = source_app_id(topic)
    wanted = identity_fingerprint(source_id)
    if delta.transaction_version(marker) == wanted:
        return False
    write_deltalake(
        delta,
        delta.schema().to_arrow().empty_table(),
        mode="append",
        commit_properties=CommitProperties(
            app_transactions=[Transaction(app_id=marker, version=wanted)],
            custom_metadata={"peacewatch.adopted-source": source_id},
        ),
    )
    return True


def _receive(native: Any, *, most: int = 1000, wait_ms: int = 100) -> list[Any]:
    """Up to `most` messages: waits up to `wait_ms` for the first, then takes what the receiver
    queue holds. Not the client's batch_receive(): on a multi-topic consumer its timeout was seen
    never to fire once the topics went quiet (the sink then hung, deaf to SIGTERM), and this is
    faster besides (118k vs 97k messages/s measured on one backlog)."""
    out: list[Any] = []
    try:
        out.append(native.receive(wait_ms))
        while len(out) < most:
            out.append(native.receive(0))
    except pulsar.Timeout:
        pass
    return out


class _PulsarConsumer:
    """The BatchingSink's consumer seam over the native consumer."""

    def __init__(self, native: Any, redeliver: Callable[[], None]) -> None:
        self.acknowledge: Callable[[Any], None] = native.acknowledge  # bound: no wrapper per message
        self.redeliver = redeliver


class _TopicFeed:
    """One topic's messages into its table's BatchingSink: the contract's gate, each message's
    position and the size of its entry. The per-message path of the sink: kept lean on purpose."""

    def __init__(self, *, model: type[BaseModel], sink: BatchingSink[Row, DeadLetter, Any]) -> None:
        self.validate: ContractValidator = contract_validator(model)
        self.sink = sink
        self._entries: dict[str, tuple[int, int]] = {}  # partition -> (entry start, messages in it)

    def offer(self, msg: Any, partition: str) -> bool:
        """Into the batch; True when this message filled it (its bytes, or as many table partitions
        as a commit may write): seal it now."""
        mid = msg.message_id()
        position = message_position(mid)
        start = entry_start(position)
        known = self._entries.get(partition)
        if known is None or known[0] != start:  # once per entry: the id's serialized form is parsed
            known = self._entries[partition] = (start, entry_size(mid))
        payload = msg.data()
        # The id is what is acknowledged, not the message: a held message keeps its payload's
        # buffer in the client besides the copy the row or the dead letter holds.
        try:
            data = self.validate(payload)
        except InvalidReport as exc:
            letter = DeadLetter(payload, exc.reason, partition, str(mid), position)
            if self.sink.add_dead_letter(letter, partition=partition, position=position, entry_size=known[1],
                                         message=mid, size=len(payload)):  # fmt: skip
                self.sink.stats.refused += 1
            return self.sink.batch.full
        row = (data, msg.publish_timestamp(), mid, payload, partition, position)
        self.sink.add(row, partition=partition, position=position, size=len(payload), entry_size=known[1],
                      message=mid)  # fmt: skip
        return self.sink.batch.full


class DeltaSink:
    """The sink of one tenant. Run several (same tenant) to share its partitions. Construct, then
    start() (run() starts it if need be)."""

    def __init__(
        self,
        settings: Settings,
        client: pulsar.Client,
        *,
        tenant: str,
        sources: Mapping[str, str],
        policy: BatchPolicy | None = None,
        name: str = "sink",
        tables: tuple[TableName, ...] = ("reports", "alerts"),
        models: dict[TableName, type[BaseModel]] | None = None,
        subscription: str = SUBSCRIPTION,
        credentials: S3Credentials | None = None,
        receive_bytes: int = RECEIVE_BYTES,
    ) -> None:
        """`sources` holds each topic's identity (platform.topic_identity); `models` overrides the
        contract model per table (a newer contract version: new optional fields become new columns);
        `credentials` replace the force's lake kit (the platform's own runs, benchmarks);
        `receive_bytes` bounds what the client's receive queues hold."""
        self.tenant = tenant
        self.name = name
        self._stats = SinkStats()  # the process's own: received, redeliveries
        self.table_stats: dict[TableName, SinkStats] = {}
        self.topics: dict[TableName, str] = {}
        self._client = client
        self._subscription = subscription
        self._receive_queue = receive_queue(receive_bytes)
        self._stop = threading.Event()
        self._redelivery_lock = threading.Lock()
        self._last_redelivery = float("-inf")
        self._consumer: pulsar.Consumer | None = None
        self._native: Any = None
        topics = TenantTopics(tenant)
        policy = policy or BatchPolicy()
        self._feeds: dict[str, _TopicFeed] = {}
        self._by_partition: dict[str, _TopicFeed] = {}
        for table_name in tables:
            topic = topics.reports if table_name == "reports" else topics.alerts
            model = (models or {}).get(table_name, _MODELS[table_name])
            table = lake_table(settings, tenant=tenant, name=table_name, kit="lake", credentials=credentials)
            stats = self.table_stats[table_name] = SinkStats()
            self.topics[table_name] = topic
            committer = DeltaCommitter(
                table=table, topic=topic, source_id=sources[table_name], model=model, sink_name=name,
                stats=stats,
            )  # fmt: skip
            sink: BatchingSink[Row, DeadLetter, Any] = BatchingSink(
                committer=committer,
                consumer=_PulsarConsumer(_NotStarted(), self.redeliver),
                dead_letters=DeadLetterQueue(
                    client, topic=topics.dlq, stage=STAGE, source_id=sources[table_name]
                ),
                policy=policy,
                stats=stats,
                transient=_transient,
                name=f"{name}: {table.uri}",
                table_partition_of=_utc_day,
            )
            self._feeds[topic] = _TopicFeed(model=model, sink=sink)

    @property
    def stats(self) -> SinkStats:
        """The process's figures: its tables' summed, with what it received and redeliveries asked."""
        merged = SinkStats.merged(list(self.table_stats.values()))
        merged.received = self._stats.received
        merged.redeliveries = self._stats.redeliveries
        return merged

    @property
    def received(self) -> int:
        return self._stats.received

    @property
    def redeliveries(self) -> int:
        return self._stats.redeliveries

    def start(self) -> None:
        """Check each table follows its topic (before consuming anything), then subscribe."""
        if self._consumer is not None:
            return
        for feed in self._feeds.values():
            feed.sink.start()
        self._consumer = self._client.subscribe(
            list(self._feeds),
            self._subscription,
            consumer_type=pulsar.ConsumerType.Failover,
            consumer_name=self.name,
            initial_position=pulsar.InitialPosition.Earliest,
            receiver_queue_size=self._receive_queue,
            max_total_receiver_queue_size_across_partitions=self._receive_queue,
        )
        # The native consumer: per message, the wrapper objects cost more than the work.
        self._native = self._consumer._consumer
        for feed in self._feeds.values():
            feed.sink.consumer = _PulsarConsumer(self._native, self.redeliver)

    def stop(self) -> None:
        self._stop.set()

    def redeliver(self, *, every_s: float = _REDELIVERY_INTERVAL_S) -> None:
        """Ask the broker to deliver again whatever this consumer has not acknowledged (it rewinds
        each partition this consumer is active for; a redelivered copy of a stored report is only
        acknowledged). At most once every `every_s`: both tables' commits and the idle check call it."""
        with self._redelivery_lock:
            if time.monotonic() - self._last_redelivery < every_s:
                return
            self._last_redelivery = time.monotonic()
            self._stats.redeliveries += 1
        with contextlib.suppress(pulsar.PulsarException):  # the broker is away: its restart rewinds anyway
            self._native.redeliver_unacknowledged_messages()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _feed_for(self, partition: str) -> _TopicFeed:
        feed = self._by_partition.get(partition)
        if feed is None:
            feed = self._by_partition[partition] = self._feeds[partition.split("-partition-", 1)[0]]
        return feed

    def run(self, *, until: Callable[[], bool] = lambda: False) -> SinkStats:
        """Consume and commit until stop() or `until()`; the batches in hand are committed on the way
        out (unless their storage is unreachable: then they are left unacknowledged, SinkStopped;
        an entry not wholly received stays unacknowledged too). A commit's failure stops the loop as
        soon as it is seen."""
        self.start()
        sinks = [feed.sink for feed in self._feeds.values()]
        feed_for = self._feed_for
        pools = {s: ThreadPoolExecutor(1, thread_name_prefix="commit") for s in sinks}
        in_flight: dict[BatchingSink[Row, DeadLetter, Any], Future[Any]] = {}

        def wait(sink: BatchingSink[Row, DeadLetter, Any]) -> None:
            previous = in_flight.pop(sink, None)
            if previous is not None:
                previous.result()  # one commit per table at a time, in order; its failure stops us

        def commit(sink: BatchingSink[Row, DeadLetter, Any]) -> None:
            wait(sink)
            batch = sink.seal()
            if not batch.empty:
                in_flight[sink] = pools[sink].submit(sink.commit, batch, stop=self._stop)

        heard = time.monotonic()
        try:
            while not self._stop.is_set() and not until():
                messages = _receive(self._native)
                self._stats.received += len(messages)
                if messages:
                    heard = time.monotonic()
                elif time.monotonic() - heard >= _QUIET_REDELIVERY_S:
                    self.redeliver(every_s=_QUIET_REDELIVERY_S)
                for msg in messages:
                    partition = msg.topic_name()
                    feed = feed_for(partition)
                    if feed.offer(msg, partition):  # full: sealed now, not after the rest received
                        commit(feed.sink)
                for sink in sinks:
                    if sink.due():
                        commit(sink)
                for done in [f for f in in_flight.values() if f.done()]:
                    done.result()  # a commit that failed stops the sink now, not at the table's next one
            for sink in sinks:
                commit(sink)
            for sink in sinks:
                wait(sink)
        finally:
            for pool in pools.values():
                pool.shutdown(wait=True)  # a commit under way finishes (or stops) before we return
        return self.stats

    def close(self) -> None:
        if self._consumer is not None:
            with contextlib.suppress(pulsar.PulsarException):  # the broker is away: nothing is lost
                self._consumer.close()
        for feed in self._feeds.values():
            feed.sink.dead_letters.close()


class _NotStarted:
    """The consumer before start(): acknowledging then is a bug."""

    def acknowledge(self, message: Any) -> None:
        raise RuntimeError("DeltaSink.start() was not called")
