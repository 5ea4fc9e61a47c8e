"""Table status and upkeep: compaction, checkpoints, vacuum. Safe while sinks append."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from peacewatch.lakehouse.lake import OLDEST_PUBLISH_KEY, LakeTable
from peacewatch.platform.errors import RetentionTooShort

__all__ = [
    "MIN_RETENTION_HOURS",
    "MaintenanceResult",
    "TableStatus",
    "check_retention",
    "maintain",
    "open_table",
    "table_status",
]

# A sink writes its Parquet files before it commits them; until then they are unreferenced and a
# vacuum would delete them. Commits follow within seconds, and retries through an outage can take
# minutes, so an hour leaves a wide margin.
MIN_RETENTION_HOURS = 1.0


@dataclass(frozen=True)
class TableStatus:
    tenant: str
    table: str
    exists: bool
    version: int | None = None
    rows: int = 0
    files: int = 0
    size_bytes: int = 0
    last_commit: datetime | None = None
    # The newest sink commit's oldest row: commit time - publish time (what the sink's metric says).
    freshness_s: float | None = None

    @property
    def lag_s(self) -> float | None:
        return None if self.last_commit is None else (datetime.now(UTC) - self.last_commit).total_seconds()


@dataclass(frozen=True)
class MaintenanceResult:
    tenant: str
    table: str
    files_removed: int
    files_added: int
    checkpoint_version: int
    vacuumed_files: int


def open_table(table: LakeTable) -> DeltaTable | None:
    """The Delta table, or None where none was created yet."""
    try:
        return DeltaTable(table.uri, storage_options=table.storage_options)
    except TableNotFoundError:
        return None


def table_status(table: LakeTable) -> TableStatus:
    dt = open_table(table)
    if dt is None:
        return TableStatus(table.tenant, table.name, exists=False)
    # deltalake 1.x answers with an arro3 table; pyarrow reads it through the C stream interface.
    adds = pa.table(dt.get_add_actions(flatten=True)).to_pydict()
    history = dt.history(1)
    ts = history[0].get("timestamp") if history else None
    return TableStatus(
        table.tenant,
        table.name,
        exists=True,
        version=dt.version(),
        rows=int(sum(n or 0 for n in adds.get("num_records", []))),
        files=len(adds.get("path", [])),
        size_bytes=int(sum(adds.get("size_bytes", []))),
        last_commit=datetime.fromtimestamp(ts / 1000, tz=UTC) if ts else None,
        freshness_s=_freshness_s(dt),
    )


def _freshness_s(dt: DeltaTable, *, look_back: int = 20) -> float | None:
    """Of the newest commit a sink made among the last `look_back` (upkeep's commits carry none)."""
    for commit in dt.history(look_back):
        oldest = commit.get(OLDEST_PUBLISH_KEY)
        if oldest is not None and commit.get("timestamp"):
            return (int(commit["timestamp"]) - int(oldest)) / 1000
    return None


def check_retention(retention_hours: float, *, force: bool = False) -> None:
    """Refuse a vacuum retention below MIN_RETENTION_HOURS unless forced."""
    if retention_hours < MIN_RETENTION_HOURS and not force:
        raise RetentionTooShort(
            f"a retention of {retention_hours:g} h could delete Parquet files a running sink has written "
            f"but not yet committed (it commits within minutes, retries for longer); use at least "
            f"{MIN_RETENTION_HOURS:g} h, or --force when no sink writes to this lake"
        )


def maintain(
    table: LakeTable, *, retention_hours: float = 168.0, force: bool = False
) -> MaintenanceResult | None:
    """Compact small files, write a checkpoint, vacuum files unreferenced for `retention_hours`
    (at least MIN_RETENTION_HOURS unless `force`)."""
    check_retention(retention_hours, force=force)
    dt = open_table(table)
    if dt is None:
        return None
    metrics = dt.optimize.compact()
    dt.update_incremental()
    dt.create_checkpoint()
    vacuumed = dt.vacuum(
        retention_hours=int(retention_hours),
        dry_run=False,
        # Below the 7-day default delta-rs wants an explicit opt-in; the caller chose it.
        enforce_retention_duration=retention_hours >= 168,
    )
    return MaintenanceResult(
        table.tenant,
        table.name,
        files_removed=int(metrics.get("numFilesRemoved", 0)),
        files_added=int(metrics.get("numFilesAdded", 0)),
        checkpoint_version=dt.version(),
        vacuumed_files=len(vacuumed),
    )
