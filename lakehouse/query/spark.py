"""A SparkSession that reads the lake: Delta Lake (delta-spark) over MinIO (s3a) or a local lake.

The JVM jars - delta-spark for this pyspark and hadoop-aws matching pyspark's Hadoop - come
through Spark's own package resolution (Ivy) from Maven Central into our cache, so the second
session starts without the network.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import pyspark
from pyspark.logger import PySparkLogger
from pyspark.sql import SparkSession

from peacewatch.platform.credentials import S3Credentials
from peacewatch.platform.errors import InstallError
from peacewatch.platform.progress import LOGGED, Progress
from peacewatch.platform.settings import Settings

__all__ = [
    "jars_resolved",
    "quiet_query_loggers",
    "remember_resolved_jars",
    "session_conf",
    "spark_log",
    "spark_session",
]


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


def session_conf(settings: Settings, *, credentials: S3Credentials | None = None) -> dict[str, str]:
    """Every Spark setting of a peacewatch session (Delta, S3A as `credentials`, jars, UTC)."""
    sp = settings.spark
    creds = credentials or S3Credentials(access_key="", secret_key="")
    conf = {
        "spark.master": sp.master,
        "spark.driver.memory": sp.driver_memory,
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.warehouse.dir": str(settings.state_dir / "spark-warehouse"),
        "spark.sql.shuffle.partitions": str(sp.shuffle_partitions),
        # Event times are UTC in the contract; hours and weekdays are read in UTC too.
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.ui.enabled": str(sp.ui).lower(),
        "spark.ui.showConsoleProgress": "false",
        # Delta rebuilds table state with 50 tasks by default: far too many for 2 cores.
        "spark.databricks.delta.snapshotPartitions": "2",
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={settings.state_dir / 'derby'}",
    }
    return {**conf, **_s3a_conf(settings, creds), **_jar_conf(settings, _packages(settings))}


def jars_resolved(settings: Settings) -> bool:
    """Whether a session starts from jars Ivy fetched before (no network, no resolution)."""
    return "spark.jars" in _jar_conf(settings, _packages(settings))


def resolved_jars(settings: Settings) -> list[Path]:
    """The jar files Ivy resolved before, or InstallError when it has not run yet."""
    manifest = _jars_manifest(settings, _packages(settings))
    jars = [Path(j.removeprefix("file://").removeprefix("file:")) for j in manifest.read_text().split()] \
        if manifest.exists() else []  # fmt: skip
    if not jars or not all(j.exists() for j in jars):
        raise InstallError("Spark's jars are not resolved yet: run `peacewatch stack install` once (Ivy)")
    return jars


def jars_manifest_name(settings: Settings) -> str:
    """The manifest's file name under the Ivy folder (an image writes its own)."""
    return _jars_manifest(settings, _packages(settings)).name


def remember_resolved_jars(settings: Settings, resolved: str) -> None:
    """After Ivy resolved the packages: list the jar files, so that the next start skips Ivy."""
    if resolved:
        _jars_manifest(settings, _packages(settings)).write_text("\n".join(resolved.split(",")) + "\n")


def spark_log(settings: Settings) -> Path:
    return settings.logs_dir / "spark.log"


@contextmanager
def _jvm_stderr_to(log: Path) -> Iterator[None]:
    """The JVM started in here writes its stderr - Ivy's resolution log, log4j's and SLF4J's
    warnings - to `log`, for as long as it runs; ours is back on the terminal afterwards."""
    log.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(fd, 2)
    os.close(fd)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def spark_session(
    settings: Settings,
    *,
    app_name: str = "peacewatch",
    credentials: S3Credentials | None = None,
    verbose: bool = False,
) -> SparkSession:
    """A new (or the running) local SparkSession with Delta and S3A configured, reading MinIO as
    `credentials` (a force's analyst kit: that force's lake, read-only); None for a local lake.
    Call `.stop()` before asking for other credentials: Spark keeps one session per process.
    The JVM's own output goes to STATE/logs/spark.log unless `verbose`.
    """
    # Executors are Python processes too: they must be this environment's (pyarrow, pandas).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    conf = session_conf(settings, credentials=credentials)
    for key, value in conf.items():
        builder = builder.config(key, value)
    with contextlib.nullcontext() if verbose else _jvm_stderr_to(spark_log(settings)):
        spark = builder.getOrCreate()
    if "spark.jars.packages" in conf:  # Ivy resolved them just now: remember what it found
        remember_resolved_jars(settings, spark.sparkContext.getConf().get("spark.jars") or "")
    spark.sparkContext.setLogLevel("ERROR")
    quiet_query_loggers()
    return spark


def quiet_query_loggers() -> None:
    """A failed query raises with its message; these loggers would print it again, as JSON."""
    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        PySparkLogger.getLogger(name).setLevel(logging.CRITICAL)


def ensure_jars(settings: Settings, progress: Progress = LOGGED) -> list[Path]:
    """Spark's jars for this pyspark, resolved through Ivy the first time (a session started and
    stopped), listed from the cache after."""
    if not jars_resolved(settings):
        with progress.status("Resolving Spark's jars (Ivy, from Maven Central; once) ..."):
            spark_session(settings).stop()
    return resolved_jars(settings)
