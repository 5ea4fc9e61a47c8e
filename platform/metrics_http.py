"""`/metrics` (Prometheus' text format) and `/healthz` served by a small HTTP server in a
background thread of the process they describe (the sink, the desk, `lake spark-server`).

Figures are read when scraped (collectors), never counted per message: the sink's hot path pays
nothing for them. A probe is a GET, not a process spawned per check.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.registry import Collector

__all__ = [
    "EndpointHandler",
    "EndpointServer",
    "HealthCheck",
    "HttpLimits",
    "MetricsServer",
    "healthy",
    "registry_of",
]

log = logging.getLogger("peacewatch.platform.metrics_http")

HealthCheck = Callable[[], tuple[bool, str]]  # (healthy, why)


def healthy() -> tuple[bool, str]:
    return True, "ok"


def registry_of(collector: Collector) -> CollectorRegistry:
    """A registry holding `collector` only (no process collectors: the runtime's are the pod's)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpLimits:
    """What one client may hold of a server. A connection that has sent nothing waits without a
    thread (`max_waiting` of them, each `idle_timeout_s`); one with a request gets a thread (at
    most `max_handlers`, else 503); every read and write of a request gives up after `io_timeout_s`
    (a client that stops reading an event stream is dropped then)."""

    max_waiting: int = 4096
    idle_timeout_s: float = 10.0
    max_handlers: int = 64
    io_timeout_s: float = 10.0


_BUSY = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\nConnection: close\r\n\r\nbusy\n"


class EndpointServer(ThreadingHTTPServer):
    """An HTTP server whose handlers answer /metrics from `registry` and /healthz from `health`.

    Bounded (HttpLimits): idle sockets are parked in a selector until their first bytes arrive, so
    2,000 of them cost file descriptors, not threads, and `/healthz` still answers."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], handler: type[EndpointHandler], *, registry: CollectorRegistry,
        health: HealthCheck, limits: HttpLimits | None = None,
    ) -> None:  # fmt: skip
        super().__init__(address, handler)
        self.registry = registry
        self.health = health
        self.limits = limits or HttpLimits()
        self._slots = threading.BoundedSemaphore(self.limits.max_handlers)
        self._arrived: queue.SimpleQueue[socket.socket] = queue.SimpleQueue()
        self._wake_r, self._wake_w = socket.socketpair()
        self._closing = threading.Event()
        self._waiter = threading.Thread(target=self._wait_for_requests, name="http-waiting", daemon=True)
        self._waiter.start()

    def process_request(self, request: Any, client_address: Any) -> None:
        # Not a thread yet: parked until it sends something (see _wait_for_requests).
        self._arrived.put(request)
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    def _wait_for_requests(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self._wake_r, selectors.EVENT_READ)
        deadlines: dict[socket.socket, float] = {}
        while not self._closing.is_set():
            for key, _ in sel.select(timeout=0.5):
                sock = key.fileobj
                if sock is self._wake_r:
                    with contextlib.suppress(OSError):
                        self._wake_r.recv(4096)
                    continue
                assert isinstance(sock, socket.socket)
                sel.unregister(sock)
                deadlines.pop(sock, None)
                self._dispatch(sock)
            while True:
                try:
                    sock = self._arrived.get_nowait()
                except queue.Empty:
                    break
                if len(deadlines) >= self.limits.max_waiting:
                    self.shutdown_request(sock)  # full: the newest goes, the parked ones keep their turn
                    continue
                deadlines[sock] = time.monotonic() + self.limits.idle_timeout_s
                sel.register(sock, selectors.EVENT_READ)
            now = time.monotonic()
            for sock in [s for s, t in deadlines.items() if t <= now]:
                sel.unregister(sock)
                del deadlines[sock]
                self.shutdown_request(sock)
        for sock in deadlines:
            self.shutdown_request(sock)
        sel.close()

    def _dispatch(self, sock: socket.socket) -> None:
        if not self._slots.acquire(blocking=False):
            with contextlib.suppress(OSError):
                sock.settimeout(1.0)
                sock.sendall(_BUSY)
            self.shutdown_request(sock)
            return
        try:
            address = sock.getpeername()
        except OSError:
            self._slots.release()
            self.shutdown_request(sock)
            return
        threading.Thread(target=self._handle, args=(sock, address), daemon=True).start()

    def _handle(self, sock: socket.socket, address: Any) -> None:
        try:
            self.finish_request(sock, address)
        except Exception:
            self.handle_error(sock, address)
        finally:
            self.shutdown_request(sock)
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client gone or timed out is the client's business; anything else is logged, quietly.
        log.debug("request from %s failed", client_address, exc_info=True)

    def server_close(self) -> None:
        self._closing.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        self._waiter.join(timeout=5)
        self._wake_r.close()
        self._wake_w.close()
        super().server_close()


class EndpointHandler(BaseHTTPRequestHandler):
    """Answers /metrics and /healthz, quietly; a subclass adds its own paths in `answer`."""

    protocol_version = "HTTP/1.1"
    server: EndpointServer

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.limits.io_timeout_s)  # every read and write

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
        limits: HttpLimits | None = None,
    ) -> None:
        """`host` 0.0.0.0 in a pod (the kubelet probes and Prometheus scrapes its address)."""
        self._http = EndpointServer(
            (host, port), EndpointHandler, registry=registry, health=health, limits=limits
        )
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
