"""`/metrics` (Prometheus' text format) and `/healthz` served by a small HTTP server in a
background thread of the process they describe (the sink, the desk, `lake spark-server`).

Figures are read when scraped (collectors), never counted per message: the sink's hot path pays
nothing for them. A probe is a GET, not a process spawned per check.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.registry import Collector

__all__ = ["EndpointHandler", "EndpointServer", "HealthCheck", "MetricsServer", "healthy", "registry_of"]

log = logging.getLogger("peacewatch.platform.metrics_http")

HealthCheck = Callable[[], tuple[bool, str]]  # (healthy, why)


def healthy() -> tuple[bool, str]:
    return True, "ok"


def registry_of(collector: Collector) -> CollectorRegistry:
    """A registry holding `collector` only (no process collectors: the runtime's are the pod's)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


class EndpointServer(ThreadingHTTPServer):
    """An HTTP server whose handlers answer /metrics from `registry` and /healthz from `health`."""

    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], handler: type[EndpointHandler], *, registry: CollectorRegistry,
        health: HealthCheck,
    ) -> None:  # fmt: skip
        super().__init__(address, handler)
        self.registry = registry
        self.health = health


class EndpointHandler(BaseHTTPRequestHandler):
    """Answers /metrics and /healthz, quietly; a subclass adds its own paths in `answer`."""

    protocol_version = "HTTP/1.1"
    server: EndpointServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        log.debug(format, *args)

    def do_GET(self) -> None:
        if not self.answer(self.path.split("?", 1)[0]):
            self.send_body(404, "text/plain", b"not found\n")

    def answer(self, path: str) -> bool:
        """Answer `path` if it is ours (False: not found)."""
        if path == "/metrics":
            self.send_body(200, CONTENT_TYPE_LATEST, generate_latest(self.server.registry))
        elif path == "/healthz":
            try:
                ok, why = self.server.health()
            except Exception as exc:  # a check that fails says so; it must not kill the server
                ok, why = False, f"health check failed: {exc!r}"
            self.send_body(200 if ok else 503, "text/plain; charset=utf-8", f"{why}\n".encode())
        else:
            return False
        return True

    def send_body(self, status: int, kind: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)


class MetricsServer:
    """Serves `registry` at /metrics and `health` at /healthz (200, or 503 with the reason)."""

    def __init__(
        self,
        *,
        registry: CollectorRegistry,
        health: HealthCheck = healthy,
        host: str = "127.0.0.1",
        port: int = 9464,
    ) -> None:
        """`host` 0.0.0.0 in a pod (the kubelet probes and Prometheus scrapes its address)."""
        self._http = EndpointServer((host, port), EndpointHandler, registry=registry, health=health)
        self._thread = threading.Thread(target=self._http.serve_forever, name="metrics-http", daemon=True)

    @property
    def port(self) -> int:
        return int(self._http.server_address[1])

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
