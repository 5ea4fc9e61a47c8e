"""Each tenant's lakehouse as a SQL database: `north_precinct.reports`, `.alerts`, `.sightings`.

The Delta tables stay where the sink writes them; the catalog only points at them (external
tables), so registering is cheap and repeatable in every new session.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql import SparkSession

from peacewatch.lakehouse.lake import TABLES, S3Credentials, lake_table
from peacewatch.lakehouse.upkeep import open_table
from peacewatch.platform.errors import PeacewatchError
from peacewatch.platform.settings import Settings

__all__ = ["TenantDatabase", "database_name", "register_tenant", "registered"]


# One row per citizen seen: the shape most questions about people start from.
_SIGHTINGS = """
CREATE OR REPLACE VIEW {db}.sightings AS
SELECT r.report_id, r.drone_id, r.ts, r.date, r.lat, r.lon, r.battery_pct,
       c.citizen_id, c.name, c.peacescore
FROM {db}.reports AS r
LATERAL VIEW explode(r.citizens) s AS c
"""


def database_name(tenant: str) -> str:
    """north-precinct -> north_precinct (a SQL identifier)."""
    return tenant.replace("-", "_")


@dataclass(frozen=True)
class TenantDatabase:
    tenant: str
    database: str
    tables: dict[str, str] = field(default_factory=dict)  # name -> location
    views: tuple[str, ...] = ()


def _spark_uri(uri: str) -> str:
    # delta-rs writes s3://; Spark's S3A connector is the s3a:// scheme.
    return "s3a://" + uri.removeprefix("s3://") if uri.startswith("s3://") else uri


def register_tenant(
    spark: SparkSession, settings: Settings, *, tenant: str, credentials: S3Credentials | None = None
) -> TenantDatabase:
    """CREATE DATABASE {tenant} with its Delta tables and views; idempotent.

    Tables the sink has not created yet are left out. Raises if the tenant has no reports table.
    """
    db = database_name(tenant)
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {db}")
    tables: dict[str, str] = {}
    for name in TABLES:
        if open_table(lake_table(settings, tenant=tenant, name=name, credentials=credentials)) is None:
            continue
        location = _spark_uri(lake_table(settings, tenant=tenant, name=name).uri)
        spark.sql(f"CREATE TABLE IF NOT EXISTS {db}.{name} USING delta LOCATION '{location}'")
        tables[name] = location
    if "reports" not in tables:
        raise PeacewatchError(
            f"tenant {tenant!r} has no reports table in the lake yet: run its sink "
            f"(`peacewatch lake run -t {tenant}`) or the demo first"
        )
    spark.sql(_SIGHTINGS.format(db=db))
    return TenantDatabase(tenant=tenant, database=db, tables=tables, views=("sightings",))


def registered(spark: SparkSession, settings: Settings, *, tenant: str) -> TenantDatabase | None:
    """The force's database as an earlier call registered it in this (long-lived) session, if it
    did; its external tables always read the tables' latest versions."""
    db = database_name(tenant)
    if not spark.catalog.databaseExists(db):
        return None
    # listTables, not tableExists: over Spark Connect tableExists("db.view") says False for a view.
    names = {t.name for t in spark.catalog.listTables(db)}
    if not {"reports", "sightings"} <= names:
        return None
    tables: dict[str, str] = {}
    for name in TABLES:
        if name in names:
            tables[name] = _spark_uri(lake_table(settings, tenant=tenant, name=name).uri)
    return TenantDatabase(tenant=tenant, database=db, tables=tables, views=("sightings",))
