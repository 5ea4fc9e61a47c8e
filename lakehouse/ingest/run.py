"""A sink's life as a process runs it: as the force's lake kit, with /metrics if asked, until
stopped - shared by `peacewatch lake run` and the demo - and several sink processes supervised
as one."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from peacewatch.lakehouse.ingest.batching import BatchPolicy
from peacewatch.lakehouse.ingest.batching_sink import SinkStats
from peacewatch.lakehouse.ingest.sink import SUBSCRIPTION, DeltaSink
from peacewatch.lakehouse.ingest.sink_health import HealthOptions
from peacewatch.lakehouse.ingest.sink_monitor import SinkMonitor, WorkerMetrics
from peacewatch.platform.clients import kit_admin, kit_client
from peacewatch.platform.errors import PeacewatchError
from peacewatch.platform.kit_metrics import KitExpiry
from peacewatch.platform.metrics_http import HealthCheck, MetricsServer
from peacewatch.platform.resources import stop_with_parent
from peacewatch.platform.settings import Settings
from peacewatch.platform.topic_identity import source_identities

__all__ = ["MetricsOptions", "run_sink", "supervise_sinks"]


@dataclass(frozen=True)
class MetricsOptions:
    """Where a sink serves /metrics and /healthz, and when /healthz calls it stuck."""

    port: int
    host: str = "127.0.0.1"
    stall_after_s: float = 120.0


def run_sink(
    settings: Settings,
    *,
    tenant: str,
    name: str = "sink",
    policy: BatchPolicy,
    metrics: MetricsOptions | None = None,
    on_start: Callable[[DeltaSink], None] = lambda _sink: None,
    until: Callable[[], bool] = lambda: False,
) -> SinkStats:
    """Run one sink of the force until its stop() or `until()`; `on_start` gets it once it runs
    (to stop it from a signal handler or another thread). Returns its figures."""
    # As the force's lake kit: its sink role and MinIO user reach that force's topics and lake only.
    with kit_admin(settings, tenant=tenant, kit="lake") as admin:
        sources = source_identities(admin, tenant)
    client = kit_client(settings, tenant=tenant, kit="lake", io_threads=2)
    try:
        sink = DeltaSink(settings, client, tenant=tenant, name=name, sources=sources, policy=policy)
    except BaseException:
        client.close()
        raise
    monitor: SinkMonitor | None = None
    server: MetricsServer | None = None
    try:
        if metrics is not None:
            health = HealthOptions(stall_after_s=metrics.stall_after_s)
            monitor = SinkMonitor(sink, admin=kit_admin(settings, tenant=tenant, kit="lake"),
                                  subscription=SUBSCRIPTION, options=health)  # fmt: skip
            registry = monitor.registry()
            registry.register(KitExpiry(settings, tenant=tenant, kits=["lake"]))
            server = _metrics_server(registry, monitor.check, host=metrics.host, port=metrics.port)
            monitor.start()
        on_start(sink)
        return sink.run(until=until)
    finally:
        if server is not None:
            server.stop()
        if monitor is not None:
            monitor.close()
        sink.close()
        client.close()


def _metrics_server(
    registry: CollectorRegistry, health: HealthCheck, *, host: str, port: int
) -> MetricsServer:
    try:
        return MetricsServer(registry=registry, health=health, host=host, port=port).start()
    except OSError as exc:
        raise PeacewatchError(
            f"cannot serve /metrics on {host}:{port} ({exc.strerror}): choose another with --metrics-port"
        ) from None


def supervise_sinks(
    settings: Settings,
    *,
    names: list[str],
    command: Callable[[str, int], list[str]],
    metrics: MetricsOptions | None = None,
) -> None:
    """Run one sink process per name (`command(name, metrics port)` is its command line) until
    SIGINT/SIGTERM, which each of them gets; if one fails, the others are stopped too. With
    metrics, process i serves on PORT+i and this one on PORT: their metrics together, healthy
    while all of them are."""
    env = {**os.environ, "PEACEWATCH_STATE_DIR": str(settings.state_dir)}
    ports = {n: metrics.port + i if metrics else 0 for i, n in enumerate(names, start=1)}
    children = {
        n: subprocess.Popen(command(n, ports[n]), env=env, preexec_fn=stop_with_parent) for n in names
    }
    if metrics is not None:
        workers = WorkerMetrics([f"http://127.0.0.1:{port}" for port in ports.values()])
        MetricsServer(
            registry=workers.registry(), health=workers.check, host=metrics.host, port=metrics.port
        ).start()
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)
    while any(child.poll() is None for child in children.values()):
        if not stopping and any(child.returncode for child in children.values()):
            stop()  # one failed: the others go too
        time.sleep(0.2)
    failed = {n: child.returncode for n, child in children.items() if child.returncode}
    if failed:
        raise PeacewatchError(f"sink processes exited with errors: {failed} (their errors are above)")
