"""/metrics and /healthz as served (on localhost), and a pod's several sink processes served as one."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.parser import text_string_to_metric_families

from peacewatch.lakehouse.ingest.sink_monitor import WorkerMetrics
from peacewatch.platform.metrics_http import MetricsServer


def _unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(name: str, written: int, health: tuple[bool, str]) -> MetricsServer:
    registry = CollectorRegistry(auto_describe=False)
    counter = Counter("peacewatch_sink_rows_written", "Rows", ["consumer"], registry=registry)
    counter.labels(name).inc(written)
    return MetricsServer(registry=registry, health=lambda: health, port=0).start()


@pytest.fixture
def workers() -> Iterator[list[MetricsServer]]:
    servers = [
        _worker("sink-1", 5, (True, "ok")),
        _worker("sink-2", 7, (False, "reports: 9 messages waiting")),
    ]
    yield servers
    for server in servers:
        server.stop()


def test_a_pods_processes_are_scraped_as_one_and_healthy_only_together(workers: list[MetricsServer]) -> None:
    merged = WorkerMetrics([f"http://127.0.0.1:{w.port}" for w in workers])
    front = MetricsServer(registry=merged.registry(), health=merged.check, port=0).start()
    try:
        text = httpx.get(f"http://127.0.0.1:{front.port}/metrics").text
        assert (
            text.count("# TYPE peacewatch_sink_rows_written_total counter") == 1
        )  # one family, both samples
        (family,) = [
            f for f in text_string_to_metric_families(text) if f.name == "peacewatch_sink_rows_written"
        ]
        totals = {s.labels["consumer"]: s.value for s in family.samples if s.name.endswith("_total")}
        assert totals == {"sink-1": 5.0, "sink-2": 7.0}
        answer = httpx.get(f"http://127.0.0.1:{front.port}/healthz")
        assert (answer.status_code, answer.text) == (503, "reports: 9 messages waiting\n")
        gone = WorkerMetrics([f"http://127.0.0.1:{workers[0].port}", f"http://127.0.0.1:{_unused_port()}"])
        ok, why = gone.check()  # a process not serving (starting, or exited): red, saying which
        assert not ok
        assert why.endswith("no answer (ConnectError)")
        assert "peacewatch_sink_rows_written" in [f.name for f in gone.collect()]  # the others' still
        assert httpx.get(f"http://127.0.0.1:{front.port}/nothing").status_code == 404
    finally:
        front.stop()


def test_a_health_check_that_raises_answers_red_and_the_server_lives_on() -> None:
    def broken() -> tuple[bool, str]:
        raise RuntimeError("no figures")

    server = MetricsServer(registry=CollectorRegistry(), health=broken, port=0).start()
    try:
        answer = httpx.get(f"http://127.0.0.1:{server.port}/healthz")
        assert answer.status_code == 503
        assert "no figures" in answer.text
        assert httpx.get(f"http://127.0.0.1:{server.port}/metrics").status_code == 200
    finally:
        server.stop()
