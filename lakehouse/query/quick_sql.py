"""`peacewatch sql` on one machine: the SQL engine inside delta-rs (DataFusion, QueryBuilder).

An ad-hoc question answers in about a second: no JVM to start. The names are the ones analysts
use in Spark - `reports`, `alerts` and the `sightings` view (one row per citizen seen) - read
as the force's analyst (read-only), optionally as of a past time (Delta time travel).
Spark stays the engine for the five analyses, the notebooks and anything beyond one machine.
"""

from __future__ import annotations

import re
from datetime import datetime

import pyarrow as pa
from deltalake import DeltaTable, QueryBuilder
from deltalake.exceptions import DeltaError, TableNotFoundError

from peacewatch.lakehouse.lake import TABLES, S3Credentials, lake_table
from peacewatch.platform.errors import PeacewatchError
from peacewatch.platform.settings import Settings
from peacewatch.platform.topics import validate_tenant_name

__all__ = ["SIGHTINGS_SQL", "QuerySqlError", "embedded_query", "with_sightings"]

# The Spark view `sightings` (lakehouse.catalog), in DataFusion's words.
SIGHTINGS_SQL = """SELECT report_id, drone_id, ts, date, lat, lon, battery_pct,
       c['citizen_id'] AS citizen_id, c['name'] AS name, c['peacescore'] AS peacescore
FROM (SELECT report_id, drone_id, ts, date, lat, lon, battery_pct, unnest(citizens) AS c FROM reports)"""

_MENTIONS_SIGHTINGS = re.compile(r"\bsightings\b", re.IGNORECASE)
_LEADING_WITH = re.compile(r"^\s*WITH\s+(?!RECURSIVE\b)", re.IGNORECASE)


class QuerySqlError(PeacewatchError):
    """The embedded engine refused the query (syntax, an unknown column or function)."""


def with_sightings(query: str) -> str:
    """The query, with `sightings` defined in front of it when it uses it (a CTE: QueryBuilder
    registers tables, not views). A query's own WITH list gets it as its first entry."""
    if not _MENTIONS_SIGHTINGS.search(query):
        return query
    cte = f"sightings AS ({SIGHTINGS_SQL})"
    match = _LEADING_WITH.match(query)
    if match:
        return f"WITH {cte}, {query[match.end() :]}"
    return f"WITH {cte} {query}"


def embedded_query(
    settings: Settings, *, tenant: str, query: str, limit: int | None = None, as_of: datetime | None = None,
    credentials: S3Credentials | None = None,
) -> pa.Table:  # fmt: skip
    """The query's result over the force's tables (at most `limit` rows)."""
    validate_tenant_name(tenant)
    builder = QueryBuilder()
    found = []
    for name in TABLES:
        where = lake_table(settings, tenant=tenant, name=name, credentials=credentials)
        try:
            table = DeltaTable(where.uri, storage_options=where.storage_options or None)
        except TableNotFoundError:
            continue
        if as_of is not None:
            try:
                table.load_as_version(as_of)
            except DeltaError as exc:
                raise QuerySqlError(f"{name} has no version as of {as_of.isoformat()}: {exc}") from None
        builder.register(name, table)
        found.append(name)
    if "reports" not in found:
        raise PeacewatchError(
            f"tenant {tenant!r} has no reports table in the lake yet: run its sink "
            f"(`peacewatch lake run -t {tenant}`) or the demo first"
        )
    try:
        # delta-rs answers in arro3 objects; pyarrow takes the stream over the Arrow C interface.
        reader = pa.RecordBatchReader.from_stream(builder.execute(with_sightings(query)))
        batches: list[pa.RecordBatch] = []
        rows = 0
        for batch in reader:
            batches.append(batch)
            rows += batch.num_rows
            if limit is not None and rows >= limit:
                break
        result = pa.Table.from_batches(batches, schema=reader.schema)
    except Exception as exc:  # DataFusion's errors come as plain exceptions: one line, not a trace
        if isinstance(exc, PeacewatchError):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise QuerySqlError(f"embedded SQL engine: {first}") from None
    return result.slice(0, limit) if limit is not None else result
