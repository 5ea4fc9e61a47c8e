"""A Delta table on MinIO as the sink's Committer (lakehouse.batching_sink), with delta-rs.

Each commit carries, per partition, an app transaction recording the highest position it covers
(lakehouse.positions), and is made on the very DeltaTable snapshot the plan was checked against:
delta-rs then refuses it (CommitFailedError -> CommitConflict) when a commit since that snapshot
recorded a transaction for one of the same partitions.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, PostCommitHookProperties, Transaction, write_deltalake
from deltalake.exceptions import CommitFailedError, TableNotFoundError
from pydantic import BaseModel

from peacewatch.lakehouse.ingest.batching import CommitPlan
from peacewatch.lakehouse.ingest.batching_sink import CommitConflict, SinkStats
from peacewatch.lakehouse.ingest.positions import identity_fingerprint, sink_app_id, source_app_id
from peacewatch.lakehouse.ingest.rows import prepare, to_table
from peacewatch.lakehouse.lake import OLDEST_PUBLISH_KEY, LakeTable
from peacewatch.platform.dead_letters import DeadLetter
from peacewatch.platform.errors import SourceTopicChanged

__all__ = ["DeltaCommitter", "Row", "committed_positions"]

# A row waiting for its commit: (validated data, publish ms, message id, payload, partition, position).
# A plain tuple: the sink handles tens of thousands a second and a dataclass costs twice as much.
Row = tuple[dict[str, Any], int, Any, bytes, str, int]
# Conversion problems that belong to one row's data (the bisection looks for that row).
_DATA_ERRORS = (pa.ArrowException, ValueError, TypeError, OverflowError)


def committed_positions(table: DeltaTable, *, source_id: str, partitions: list[str]) -> dict[str, int]:
    """Encoded committed position per partition topic, from the table's app transactions."""
    out = {}
    for partition in partitions:
        version = table.transaction_version(sink_app_id(source_id, partition))
        if version is not None:
            out[partition] = version
    return out


class DeltaCommitter:
    """One table fed by one topic. No I/O until used."""

    def __init__(
        self, *, table: LakeTable, topic: str, source_id: str, model: type[BaseModel], sink_name: str,
        stats: SinkStats,
    ) -> None:  # fmt: skip
        self.table = table
        self.topic = topic
        self.source_id = source_id
        self.model = model
        self.sink_name = sink_name
        self.stats = stats
        self._delta: DeltaTable | None = None

    def snapshot(self) -> DeltaTable | None:
        """The table as it is now (None: not created yet)."""
        if self._delta is None:
            try:
                self._delta = DeltaTable(self.table.uri, storage_options=self.table.storage_options)
            except TableNotFoundError:
                return None
        else:
            self._delta.update_incremental()
        return self._delta

    def forget(self) -> None:
        self._delta = None  # reload from scratch: the failure may have been mid-commit

    def check_source(self) -> None:
        """SourceTopicChanged if the table follows another incarnation of its topic."""
        prepare(self.model)  # pay the first conversion's set-up now, not in the first commit
        delta = self.snapshot()
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

    def committed(self, snapshot: DeltaTable | None, partitions: list[str]) -> dict[str, int]:
        if snapshot is None:
            return {}
        return committed_positions(snapshot, source_id=self.source_id, partitions=partitions)

    def convert(self, rows: list[Row]) -> tuple[pa.Table, list[DeadLetter]]:
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
            left, bad_left = self.convert(rows[:half])
            right, bad_right = self.convert(rows[half:])
            return pa.concat_tables([left, right]), bad_left + bad_right

    def write(self, snapshot: DeltaTable | None, data: pa.Table, plan: CommitPlan[Row, DeadLetter]) -> int:
        txns = [
            Transaction(app_id=sink_app_id(self.source_id, p), version=v) for p, v in plan.positions.items()
        ]
        oldest_ms = min((r[1] for r in plan.rows), default=None)  # publish time of the batch's oldest row
        marker = source_app_id(self.topic)
        if snapshot is None or snapshot.transaction_version(marker) is None:
            txns.append(Transaction(app_id=marker, version=identity_fingerprint(self.source_id)))
        try:
            write_deltalake(
                # The loaded table, not its URI: the commit is based on the snapshot the plan was
                # made against, so another sink's commit for these partitions in between conflicts.
                snapshot if snapshot is not None else self.table.uri,
                data,
                mode="append",
                partition_by=["date"],
                schema_mode="merge",
                storage_options=None if snapshot is not None else self.table.storage_options,
                commit_properties=CommitProperties(
                    app_transactions=txns,
                    custom_metadata={
                        "peacewatch.sink": self.sink_name,
                        "peacewatch.source": self.source_id,
                        "peacewatch.positions": json.dumps(plan.positions),
                        # Freshness (commit time - this), for `lake status` without a table scan.
                        **({OLDEST_PUBLISH_KEY: str(oldest_ms)} if oldest_ms is not None else {}),
                    },
                ),
                # Sinks write and never delete: expired log files are the maintenance job's to clean.
                post_commithook_properties=PostCommitHookProperties(
                    create_checkpoint=True, cleanup_expired_logs=False
                ),
            )
        except CommitFailedError as exc:
            raise CommitConflict(f"{self.table.uri}: {exc}") from exc
        now_s = time.time()
        now = now_s * 1000
        self.stats.freshness_ms.extend(now - r[1] for r in plan.rows[:: max(1, len(plan.rows) // 200)])
        if oldest_ms is not None:
            # Both describe the last commit of rows, as a pair: a commit of dead letters only
            # left the timestamp newer than the freshness it belonged with (the metrics test,
            # by chance, when the last batch held malformed reports only).
            self.stats.last_commit_freshness_s = (now - oldest_ms) / 1000
            self.stats.last_commit_at = now_s
        return int(data.num_rows)
