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
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pulsar
import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, PostCommitHookProperties, Transaction, write_deltalake
from deltalake.exceptions import (
    CommitFailedError,
    DeltaError,
    DeltaProtocolError,
    SchemaMismatchError,
    TableNotFoundError,
)
from pydantic import BaseModel
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    retry_if_exception_type,
    stop_after_attempt,
    stop_when_event_set,
    wait_exponential,
    wait_random,
)

from peacewatch.lakehouse.batching import BatchPolicy, CommitPlan, GapTracker, MicroBatch
from peacewatch.lakehouse.lake import LakeTable, S3Credentials, TableName, lake_table
from peacewatch.lakehouse.positions import identity_fingerprint, sink_app_id, source_app_id
from peacewatch.lakehouse.rows import prepare, to_table
from peacewatch.platform.contract import Alert, Report
from peacewatch.platform.contract_data import ContractValidator, contract_validator
from peacewatch.platform.dead_letters import DeadLetter, DeadLetterFailed, DeadLetterQueue
from peacewatch.platform.errors import InvalidReport, PeacewatchError, SourceTopicChanged
from peacewatch.platform.positions import decode_position, message_position
from peacewatch.platform.settings import Settings
from peacewatch.platform.topics import LAKE_SUBSCRIPTION, TenantTopics

__all__ = ["SUBSCRIPTION", "DeltaSink", "SinkStats", "SinkStopped", "adopt_source", "committed_positions"]

log = logging.getLogger("peacewatch.lakehouse.sink")
SUBSCRIPTION = LAKE_SUBSCRIPTION
STAGE = "lake-sink"
_MODELS: dict[TableName, type[BaseModel]] = {"reports": Report, "alerts": Alert}
# Conversion problems that belong to one row's data (the bisection looks for that row).
_DATA_ERRORS = (pa.ArrowException, ValueError, TypeError, OverflowError)


class SinkStopped(PeacewatchError):
    """stop() arrived while a commit was failing: the batch stays unacknowledged (it is redelivered)."""


@dataclass
class SinkStats:
    """Counts of one sink. Each field is written by one thread only (receiving or committing)."""

    received: int = 0
    written: int = 0
    skipped_duplicates: int = 0
    refused: int = 0  # by the contract, when received
    unconvertible: int = 0  # by the stored form, when committed
    commits: int = 0
    retries: int = 0
    held_back: int = 0  # messages past a gap in their partition, left for the broker to redeliver
    redeliveries: int = 0  # redeliveries asked of the broker (a gap, or a quiet consumer)
    freshness_ms: list[float] = field(default_factory=list)

    @property
    def invalid(self) -> int:
        return self.refused + self.unconvertible


# A row waiting for its commit: (validated data, publish ms, message id, payload, partition, position).
# A plain tuple: the sink handles tens of thousands a second and a dataclass costs twice as much.
_Row = tuple[dict[str, Any], int, Any, bytes, str, int]


def committed_positions(table: DeltaTable, *, source_id: str, partitions: list[str]) -> dict[str, int]:
    """Encoded committed position per partition topic, from the table's app transactions."""
    out = {}
    for partition in partitions:
        version = table.transaction_version(sink_app_id(source_id, partition))
        if version is not None:
            out[partition] = version
    return out


# Commits lost to another sink's, retried at once before counting as a failure.
_RACE_ATTEMPTS = 8
# Redeliveries asked of the broker: at most this often; and after this long with nothing received
# (a hole at a partition's tail shows no gap: nothing comes after it).
_REDELIVERY_INTERVAL_S = 2.0
_QUIET_REDELIVERY_S = 30.0


def _transient(exc: BaseException) -> bool:
    """Worth retrying: storage or broker unreachable, a commit that lost a race, a DLQ write."""
    if isinstance(exc, SchemaMismatchError | DeltaProtocolError):
        return False
    return isinstance(exc, OSError | DeltaError | DeadLetterFailed | pulsar.PulsarException)


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


def _interruptible(stop: threading.Event) -> Callable[[float], None]:
    """A sleep that stop() cuts short."""

    def sleep(seconds: float) -> None:
        stop.wait(seconds)

    return sleep


class _TableWriter:
    """One Delta table fed by one topic: batching, the commit plan, the commit, then the acks."""

    def __init__(
        self, *, table: LakeTable, topic: str, source_id: str, model: type[BaseModel], policy: BatchPolicy,
        dlq: DeadLetterQueue, stats: SinkStats, sink_name: str, redeliver: Callable[[], None],
    ) -> None:  # fmt: skip
        self.table = table
        self.topic = topic
        self.source_id = source_id
        self.model = model
        self.validate: ContractValidator = contract_validator(model)
        prepare(model)
        self.policy = policy
        self.batch: MicroBatch[_Row, DeadLetter] = MicroBatch(policy)
        self.dlq = dlq
        self.stats = stats
        self.sink_name = sink_name
        self.gaps = GapTracker()
        self._redeliver = redeliver
        self._delta: DeltaTable | None = None

    # -- the table ------------------------------------------------------------------------------
    def _load(self) -> DeltaTable | None:
        if self._delta is None:
            try:
                self._delta = DeltaTable(self.table.uri, storage_options=self.table.storage_options)
            except TableNotFoundError:
                return None
        else:
            self._delta.update_incremental()
        return self._delta

    def check_source(self) -> None:
        """SourceTopicChanged if the table follows another incarnation of its topic."""
        delta = self._load()
        if delta is None:
            return
        recorded = delta.transaction_version(source_app_id(self.topic))
        if recorded is not None and recorded != identity_fingerprint(self.source_id):
            raise SourceTopicChanged(
                f"{self.table.uri} follows another incarnation of {self.topic} (the topic was recreated or "
                f"the broker's metadata was reset): its recorded positions would make new reports look "
                f"stored. Nothing was consumed. If the new topic is the one to follow, run "
                f"`peacewatch lake adopt-topic -t {self.table.tenant}` and start the sink again"
            )

    # -- receiving ------------------------------------------------------------------------------
    def offer(self, msg: Any, partition: str) -> None:
        """One message of `partition`. The per-message path of the sink: kept lean on purpose."""
        mid = msg.message_id()
        position = message_position(mid)
        payload = msg.data()
        try:
            data = self.validate(payload)
        except InvalidReport as exc:
            letter = DeadLetter(payload, exc.reason, partition, str(mid), position)
            if self.batch.add_dead_letter(letter, partition=partition, position=position, message=msg):
                self.stats.refused += 1
            return
        row = (data, msg.publish_timestamp(), mid, payload, partition, position)
        self.batch.add(row, partition=partition, position=position, size=len(payload), message=msg)

    # -- committing -----------------------------------------------------------------------------
    def seal(self) -> MicroBatch[_Row, DeadLetter]:
        """The batch in hand, to commit; a new one takes its place."""
        batch, self.batch = self.batch, MicroBatch(self.policy)
        return batch

    def commit(self, batch: MicroBatch[_Row, DeadLetter], consumer: Any, *, stop: threading.Event) -> None:
        """Commit `batch` (retrying outages until it lands or stop() is called), then ack it."""
        if batch.empty:
            return

        def before_sleep(state: RetryCallState) -> None:
            self.stats.retries += 1
            self._delta = None  # reload from scratch: the failure may have been mid-commit
            wait = state.next_action.sleep if state.next_action else 0.0
            error = state.outcome.exception() if state.outcome else None
            log.warning("commit to %s failed (%s); retrying in %.1fs", self.table.uri, error, wait)

        retrying = Retrying(
            retry=retry_if_exception(_transient),
            wait=wait_exponential(multiplier=0.5, max=30),
            stop=stop_when_event_set(stop),
            sleep=_interruptible(stop),
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            plan = retrying(self._commit_through_races, batch)
        except Exception as exc:
            if stop.is_set() and _transient(exc):
                raise SinkStopped(
                    f"stopped while {self.table.uri} was unreachable: nothing acknowledged"
                ) from exc
            raise
        finally:
            self.dlq.close()  # release the producer names: the partition may move to another sink
        acknowledged = batch.acknowledgeable(plan)
        for message in acknowledged:
            consumer.acknowledge(message)
        self.stats.skipped_duplicates += batch.duplicates
        self.gaps.seen(plan)
        if plan.held:
            self.stats.held_back += len(batch.received) - len(acknowledged)
            for part, gap in plan.held.items():
                log.warning(
                    "%s: a gap after %s (next received: %s): not committed past it; asking the broker "
                    "to redeliver",
                    part,
                    decode_position(gap.after),
                    decode_position(gap.beyond),
                )
            self._redeliver()

    def _commit_through_races(self, batch: MicroBatch[_Row, DeadLetter]) -> CommitPlan[_Row, DeadLetter]:
        """_commit, again at once when another sink committed in between (a lost race is not an
        outage: re-checking is cheap, and it must not wait for - or be cut short by - a stop)."""

        def forget_snapshot(_: RetryCallState) -> None:
            self._delta = None  # stale: plan again against the table as it is now

        return Retrying(
            retry=retry_if_exception_type(CommitFailedError),
            stop=stop_after_attempt(_RACE_ATTEMPTS),
            wait=wait_random(0, 0.2),  # apart, so that racing sinks do not collide again
            before_sleep=forget_snapshot,
            reraise=True,
        )(self._commit, batch)

    def _commit(self, batch: MicroBatch[_Row, DeadLetter]) -> CommitPlan[_Row, DeadLetter]:
        delta = self._load()
        partitions = batch.partitions
        done = (
            committed_positions(delta, source_id=self.source_id, partitions=partitions)
            if delta is not None
            else {}
        )
        trusted = self.gaps.trusted(partitions, done)
        for part in trusted:
            log.error(
                "%s: the gap after %s outlasted every redelivery: its messages were acknowledged "
                "without being stored here (skipped by an operator, or expired); committing past it",
                part, decode_position(done[part]) if part in done else "the start",
            )  # fmt: skip
        plan = batch.plan(done, trusted=trusted)
        if plan.empty:
            self.stats.skipped_duplicates += plan.skipped  # all committed before (a redelivery)
            return plan
        # Dead letters are persisted before the commit that covers their positions.
        for letter in plan.dead_letters:
            self.dlq.send(letter)
        self.dlq.flush()
        data, unconvertible = self._rows(plan.rows)
        for letter in unconvertible:
            self.dlq.send(letter)
        self.dlq.flush()
        self._write(delta, data, plan)
        self.stats.skipped_duplicates += plan.skipped
        self.stats.unconvertible += len(unconvertible)
        now = time.time() * 1000
        self.stats.freshness_ms.extend(now - r[1] for r in plan.rows[:: max(1, len(plan.rows) // 200)])
        self.stats.written += data.num_rows
        self.stats.commits += 1
        return plan

    def _rows(self, rows: list[_Row]) -> tuple[pa.Table, list[DeadLetter]]:
        """Arrow rows; a row that will not convert is found by bisection and dead-lettered alone."""
        try:
            return to_table(
                self.model, [r[0] for r in rows], [r[1] for r in rows], [str(r[2]) for r in rows]
            ), []
        except _DATA_ERRORS as exc:
            if len(rows) == 1:
                row = rows[0]
                reason = f"stored form refused: {type(exc).__name__}: {exc}"
                return to_table(self.model, [], [], []), [
                    DeadLetter(row[3], reason, row[4], str(row[2]), row[5])
                ]
            half = len(rows) // 2
            left, bad_left = self._rows(rows[:half])
            right, bad_right = self._rows(rows[half:])
            return pa.concat_tables([left, right]), bad_left + bad_right

    def _write(self, delta: DeltaTable | None, data: pa.Table, plan: CommitPlan[_Row, DeadLetter]) -> None:
        txns = [
            Transaction(app_id=sink_app_id(self.source_id, p), version=v) for p, v in plan.positions.items()
        ]
        marker = source_app_id(self.topic)
        if delta is None or delta.transaction_version(marker) is None:
            txns.append(Transaction(app_id=marker, version=identity_fingerprint(self.source_id)))
        write_deltalake(
            # The loaded table, not its URI: the commit is based on the snapshot the plan was made
            # against, so another sink's commit for these partitions in between is a conflict.
            delta if delta is not None else self.table.uri,
            data,
            mode="append",
            partition_by=["date"],
            schema_mode="merge",
            storage_options=None if delta is not None else self.table.storage_options,
            commit_properties=CommitProperties(
                app_transactions=txns,
                custom_metadata={
                    "peacewatch.sink": self.sink_name,
                    "peacewatch.source": self.source_id,
                    "peacewatch.positions": json.dumps(plan.positions),
                },
            ),
            # Sinks write and never delete: expired log files are the maintenance job's to clean.
            post_commithook_properties=PostCommitHookProperties(
                create_checkpoint=True, cleanup_expired_logs=False
            ),
        )


class DeltaSink:
    """The sink of one tenant. Run several (same tenant) to share its partitions."""

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
    ) -> None:
        """`sources` holds each topic's identity (platform.topic_identity); `models` overrides the
        contract model per table (a newer contract version: new optional fields become new columns);
        `credentials` replace the force's lake kit (the platform's own runs, benchmarks)."""
        self.tenant = tenant
        self.stats = SinkStats()
        self._stop = threading.Event()
        self._redelivery_lock = threading.Lock()
        self._last_redelivery = float("-inf")
        topics = TenantTopics(tenant)
        policy = policy or BatchPolicy()
        self._writers: dict[str, _TableWriter] = {}
        self._by_partition: dict[str, _TableWriter] = {}
        for table_name in tables:
            topic = topics.reports if table_name == "reports" else topics.alerts
            self._writers[topic] = _TableWriter(
                table=lake_table(
                    settings, tenant=tenant, name=table_name, kit="lake", credentials=credentials
                ),
                topic=topic,
                source_id=sources[table_name],
                model=(models or {}).get(table_name, _MODELS[table_name]),
                policy=policy,
                dlq=DeadLetterQueue(client, topic=topics.dlq, stage=STAGE, source_id=sources[table_name]),
                stats=self.stats,
                sink_name=name,
                redeliver=self.redeliver,
            )
        for writer in self._writers.values():
            writer.check_source()  # before consuming anything
        self._consumer = client.subscribe(
            list(self._writers),
            subscription,
            consumer_type=pulsar.ConsumerType.Failover,
            consumer_name=name,
            initial_position=pulsar.InitialPosition.Earliest,
            receiver_queue_size=10_000,
        )
        # The native consumer: per message, the wrapper objects cost more than the work.
        self._native = self._consumer._consumer

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
            self.stats.redeliveries += 1
        with contextlib.suppress(pulsar.PulsarException):  # the broker is away: its restart rewinds anyway
            self._native.redeliver_unacknowledged_messages()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _writer_for(self, partition: str) -> _TableWriter:
        writer = self._by_partition.get(partition)
        if writer is None:
            writer = self._by_partition[partition] = self._writers[partition.split("-partition-", 1)[0]]
        return writer

    def run(self, *, until: Callable[[], bool] = lambda: False) -> SinkStats:
        """Consume and commit until stop() or `until()`; the batches in hand are committed on the way
        out (unless their storage is unreachable: then they are left unacknowledged, SinkStopped).
        A commit's failure stops the loop as soon as it is seen."""
        writers = list(self._writers.values())
        writer_for = self._writer_for
        pools = {w: ThreadPoolExecutor(1, thread_name_prefix=f"commit-{w.table.name}") for w in writers}
        in_flight: dict[_TableWriter, Future[None]] = {}

        def commit(writer: _TableWriter) -> None:
            previous = in_flight.pop(writer, None)
            if previous is not None:
                previous.result()  # one commit per table at a time, in order; its failure stops us
            batch = writer.seal()
            if not batch.empty:
                pool = pools[writer]
                in_flight[writer] = pool.submit(writer.commit, batch, self._native, stop=self._stop)

        heard = time.monotonic()
        try:
            while not self._stop.is_set() and not until():
                messages = _receive(self._native)
                self.stats.received += len(messages)
                if messages:
                    heard = time.monotonic()
                elif time.monotonic() - heard >= _QUIET_REDELIVERY_S:
                    self.redeliver(every_s=_QUIET_REDELIVERY_S)
                for msg in messages:
                    partition = msg.topic_name()
                    writer_for(partition).offer(msg, partition)
                for writer in writers:
                    if writer.batch.due():
                        commit(writer)
                for done in [f for f in in_flight.values() if f.done()]:
                    done.result()  # a commit that failed stops the sink now, not at the table's next one
            for writer in writers:
                commit(writer)
            for writer in writers:
                commit(writer)  # waits for the last one: an empty batch starts nothing
        finally:
            for pool in pools.values():
                pool.shutdown(wait=True)  # a commit under way finishes (or stops) before we return
        return self.stats

    def close(self) -> None:
        with contextlib.suppress(pulsar.PulsarException):  # the broker is away: nothing is lost
            self._consumer.close()
        for writer in self._writers.values():
            writer.dlq.close()
