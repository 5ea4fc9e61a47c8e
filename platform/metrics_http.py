"""`/metrics` (Prometheus' text format) and `/healthz` served by a small HTTP server in a
background thread of the process they describe (the sink, `lake spark-server`).

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

__all__ = ["HealthCheck", "MetricsServer", "healthy"]

log = logging.getLogger("peacewatch.platform.metrics_http")

HealthCheck = Callable[[], tuple[bool, str]]  # (healthy, why)


def healthy() -> tuple[bool, str]:
    return True, "ok"


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
        self.registry = registry
        self.health = health
        self._http = ThreadingHTTPServer((host, port), self._handler())
        self._http.daemon_threads = True
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

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
                log.debug(format, *args)

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._send(200, CONTENT_TYPE_LATEST, generate_latest(server.registry))
                elif path == "/healthz":
                    try:
                        ok, why = server.health()
                    except Exception as exc:  # a check that fails says so; it must not kill the server
                        ok, why = False, f"health check failed: {exc!r}"
                    self._send(200 if ok else 503, "text/plain; charset=utf-8", f"{why}\n".encode())
                else:
                    self._send(404, "text/plain", b"not found: /metrics or /healthz\n")

            def _send(self, status: int, kind: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler
