"""A SparkSession that reads the lake: Delta Lake (delta-spark) over MinIO (s3a) or a local lake.

The JVM jars - delta-spark for this pyspark and hadoop-aws matching pyspark's Hadoop - come
through Spark's own package resolution (Ivy) from Maven Central into our cache, so the second
session starts without the network.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
from importlib import metadata
from pathlib import Path

import pyspark
from pyspark.logger import PySparkLogger
from pyspark.sql import SparkSession

from peacewatch.platform.credentials import S3Credentials
from peacewatch.platform.settings import Settings

__all__ = ["spark_session"]


def _s3a_conf(settings: Settings, credentials: S3Credentials) -> dict[str, str]:
    m = settings.minio
    prefix = "spark.hadoop.fs.s3a."
    conf = {
        "endpoint": m.url,
        "endpoint.region": m.region,
        "path.style.access": "true",
        "connection.ssl.enabled": "false",
        "access.key": credentials.access_key,
        "secret.key": credentials.secret_key,
        "aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
        # A refused request is an answer, not a reason to retry for minutes.
        "attempts.maximum": "2",
        "retry.limit": "2",
    }
    out = {prefix + k: v for k, v in conf.items()}
    # delta-rs writes s3://bucket/...: let Spark read the very same URIs.
    out["spark.hadoop.fs.s3.impl"] = "org.apache.hadoop.fs.s3a.S3AFileSystem"
    return out


def _packages(settings: Settings) -> list[str]:
    # The artifact delta-spark's own configure_spark_with_delta_pip asks for (delta-spark_<spark>_2.13).
    spark_minor = ".".join(pyspark.__version__.split(".")[:2])
    delta = f"io.delta:delta-spark_{spark_minor}_2.13:{metadata.version('delta-spark')}"
    return [delta, f"org.apache.hadoop:hadoop-aws:{settings.spark.hadoop_aws_version}"]


def _jars_manifest(settings: Settings, packages: list[str]) -> Path:
    digest = hashlib.sha256(",".join(packages).encode()).hexdigest()[:16]
    return settings.cache_dir / "ivy" / f"resolved-{digest}.txt"


def _jar_conf(settings: Settings, packages: list[str]) -> dict[str, str]:
    """Jars Ivy resolved before (listed in a manifest), else the packages for Ivy to resolve.

    Passing the resolved files skips Ivy altogether: a quieter and faster start that needs
    no network."""
    manifest = _jars_manifest(settings, packages)
    if manifest.exists():
        jars = manifest.read_text().split()
        if jars and all(Path(j.removeprefix("file:")).exists() for j in jars):
            return {"spark.jars": ",".join(jars)}
    return {"spark.jars.packages": ",".join(packages), "spark.jars.ivy": str(settings.cache_dir / "ivy")}


def spark_session(
    settings: Settings,
    *,
    app_name: str = "peacewatch",
    credentials: S3Credentials | None = None,
) -> SparkSession:
    """A new (or the running) local SparkSession with Delta and S3A configured, reading MinIO as
    `credentials` (a force's analyst kit: that force's lake, read-only); None for a local lake.
    Call `.stop()` before asking for other credentials: Spark keeps one session per process.
    """
    sp = settings.spark
    creds = credentials or S3Credentials(access_key="", secret_key="")
    # Executors are Python processes too: they must be this environment's (pyarrow, pandas).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    warehouse = settings.state_dir / "spark-warehouse"
    packages = _packages(settings)
    builder = (
        SparkSession.builder.master(sp.master)
        .appName(app_name)
        .config("spark.driver.memory", sp.driver_memory)
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        .config("spark.sql.warehouse.dir", str(warehouse))
        .config("spark.sql.shuffle.partitions", str(sp.shuffle_partitions))
        # Event times are UTC in the contract; hours and weekdays are read in UTC too.
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.enabled", str(sp.ui).lower())
        .config("spark.ui.showConsoleProgress", "false")
        # Delta rebuilds table state with 50 tasks by default: far too many for 2 cores.
        .config("spark.databricks.delta.snapshotPartitions", "2")
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={settings.state_dir / 'derby'}")
    )
    jar_conf = _jar_conf(settings, packages)
    for key, value in {**_s3a_conf(settings, creds), **jar_conf}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    if "spark.jars.packages" in jar_conf:  # Ivy resolved them just now: remember what it found
        resolved = spark.sparkContext.getConf().get("spark.jars") or ""
        if resolved:
            _jars_manifest(settings, packages).write_text("\n".join(resolved.split(",")) + "\n")
    spark.sparkContext.setLogLevel("ERROR")
    # A failed query raises with its message; these loggers would print it again, as JSON.
    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        PySparkLogger.getLogger(name).setLevel(logging.CRITICAL)
    return spark
