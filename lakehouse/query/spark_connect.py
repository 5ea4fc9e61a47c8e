"""A warm Spark per force: a Spark Connect server that `peacewatch sql --engine spark` (and any
Spark Connect client, e.g. a notebook) talks to instead of starting a JVM per question.

One server per force, holding that force's analyst keys only (read-only, its own lake). Its
settings - the keys among them - go to spark-submit in an owner-only properties file, not on a
command line every local user can read. The server says where it listens in
`STATE/run/spark-connect-FORCE.json`; a client finds it there (and checks it is alive).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pyspark
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from peacewatch.lakehouse.query.spark import session_conf
from peacewatch.platform.credentials import read_kit_credentials, write_private
from peacewatch.platform.metrics_http import MetricsServer, registry_of
from peacewatch.platform.settings import Settings
from peacewatch.platform.topics import validate_tenant_name

__all__ = ["ConnectServer", "find_server", "serve", "server_command", "server_log"]

_SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"


@dataclass(frozen=True)
class ConnectServer:
    tenant: str
    port: int
    pid: int
    session: str  # the force's session on the server: its catalog and caches stay warm between calls

    @property
    def url(self) -> str:
        return f"sc://127.0.0.1:{self.port}"

    @property
    def session_url(self) -> str:
        return f"{self.url}/;session_id={self.session}"


def _marker(settings: Settings, tenant: str) -> Path:
    return settings.run_dir / f"spark-connect-{tenant}.json"


def server_command(settings: Settings, *, tenant: str, port: int) -> tuple[list[str], dict[str, str]]:
    """spark-submit's arguments and the properties file's settings for the force's server."""
    validate_tenant_name(tenant)
    conf = session_conf(settings, credentials=read_kit_credentials(settings, tenant, "analyst"))
    conf["spark.connect.grpc.binding.port"] = str(port)
    conf["spark.connect.grpc.binding.address"] = "127.0.0.1"
    conf["spark.app.name"] = f"peacewatch-connect-{tenant}"
    submit = Path(pyspark.__file__).parent / "bin" / "spark-submit"
    properties = settings.run_dir / f"spark-connect-{tenant}.properties"
    return [str(submit), "--properties-file", str(properties), "--class", _SERVER_CLASS], conf


def server_log(settings: Settings, tenant: str) -> Path:
    return settings.logs_dir / f"spark-connect-{tenant}.log"


class _ServerMetrics(Collector):
    """`peacewatch_spark_server_up` (its Spark Connect port answers) and `..._start_time_seconds`."""

    def __init__(self, *, tenant: str, port: int) -> None:
        self.tenant, self.port, self.started = tenant, port, time.time()

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1.0):
                return True
        except OSError:
            return False

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "peacewatch_spark_server_up", "1 while Spark Connect answers", labels=["tenant"]
        )
        up.add_metric([self.tenant], 1.0 if self.answers() else 0.0)
        yield up
        started = GaugeMetricFamily(
            "peacewatch_spark_server_start_time_seconds", "When the server was started", labels=["tenant"]
        )
        started.add_metric([self.tenant], self.started)
        yield started

    def check(self) -> tuple[bool, str]:
        ok = self.answers()
        return ok, "ok" if ok else f"Spark Connect on port {self.port} does not answer (starting, or stuck)"


def serve(settings: Settings, *, tenant: str, port: int, metrics_port: int = 0) -> int:
    """Run the force's server in the foreground until it exits (Ctrl-C); its exit status. With
    `metrics_port`, /metrics and /healthz (its Connect port answers) are served there."""
    args, conf = server_command(settings, tenant=tenant, port=port)
    properties = Path(args[2])
    write_private(properties, "".join(f"{k} {v}\n" for k, v in conf.items()).encode())
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    log = server_log(settings, tenant)
    log.parent.mkdir(parents=True, exist_ok=True)
    metrics = _ServerMetrics(tenant=tenant, port=port)
    server = None
    if metrics_port:
        server = MetricsServer(registry=registry_of(metrics), health=metrics.check, port=metrics_port).start()
    with log.open("ab") as out:  # Spark's INFO lines, Ivy's resolution: there, not on the terminal
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    marker = _marker(settings, tenant)
    state = {"tenant": tenant, "port": port, "pid": proc.pid, "session": str(uuid.uuid4())}
    write_private(marker, json.dumps(state).encode())
    # Ctrl-C or SIGTERM (kill, a pod stopping): the server stops with us, the marker goes.
    stops = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, lambda *_: proc.terminate()) for sig in stops}
    try:
        return proc.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        marker.unlink(missing_ok=True)
        properties.unlink(missing_ok=True)
        if server is not None:
            server.stop()


def find_server(settings: Settings, tenant: str) -> ConnectServer | None:
    """The force's running server, if there is one and it answers."""
    try:
        data = json.loads(_marker(settings, tenant).read_text())
    except (FileNotFoundError, ValueError):
        return None
    if not psutil.pid_exists(int(data["pid"])):
        return None
    try:
        with socket.create_connection(("127.0.0.1", int(data["port"])), timeout=0.5):
            pass
    except OSError:
        return None  # started, not listening yet (or gone)
    return ConnectServer(tenant=tenant, port=int(data["port"]), pid=int(data["pid"]), session=data["session"])
