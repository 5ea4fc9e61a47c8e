"""The HTTP servers held by idle and stalled clients (issue 33): threads and memory stay bounded,
/healthz keeps answering, a stalled client is dropped. Real sockets on localhost."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import psutil
import pytest
from prometheus_client import CollectorRegistry

from peacewatch.platform.metrics_http import HttpLimits, MetricsServer

pytestmark = pytest.mark.hostile

IDLE = 2000


@pytest.fixture
def server() -> Iterator[MetricsServer]:
    limits = HttpLimits(max_waiting=4096, idle_timeout_s=30.0, max_handlers=16, io_timeout_s=1.0)
    srv = MetricsServer(registry=CollectorRegistry(), port=0, limits=limits).start()
    yield srv
    srv.stop()


def _connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    return s


def test_idle_sockets_hold_no_thread_and_healthz_answers(server: MetricsServer) -> None:
    me = psutil.Process()
    threads, rss = threading.active_count(), me.memory_info().rss
    idle = [_connect(server.port) for _ in range(IDLE)]
    try:
        time.sleep(0.5)
        assert httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=5).status_code == 200
        grown_threads = threading.active_count() - threads
        grown_mb = (me.memory_info().rss - rss) / 2**20
        print(f"{IDLE} idle sockets: +{grown_threads} threads, +{grown_mb:.1f} MB RSS")  # the note's figures
        assert grown_threads <= 2
    finally:
        for s in idle:
            s.close()


def test_a_client_that_stalls_mid_request_is_dropped(server: MetricsServer) -> None:
    s = _connect(server.port)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
    s.settimeout(10)
    start = time.monotonic()
    got = b"?"
    with contextlib.suppress(ConnectionResetError):
        got = s.recv(100)
    assert got in (b"", b"?")  # closed by the server (a FIN, or a reset)
    assert time.monotonic() - start < 9  # dropped at the io timeout, not held
    s.close()


def test_past_the_handler_cap_clients_get_503_not_a_thread(server: MetricsServer) -> None:
    stalled = []
    for _ in range(16):  # each sends a partial request: each holds a handler until the io timeout
        s = _connect(server.port)
        s.sendall(b"GET /metrics HTTP/1.1\r\n")
        stalled.append(s)
    time.sleep(0.3)
    threads = threading.active_count()
    answer = httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=5)
    assert answer.status_code == 503
    assert threading.active_count() <= threads
    for s in stalled:
        s.close()
    time.sleep(1.5)  # past the io timeout the slots are free again
    assert httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=5).status_code == 200
