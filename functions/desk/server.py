"""The alert desk: one force's alerts, live, on a web page.

One process per force. It reads the force's alerts topic with a Reader, as the force's officer
role (the token stays in this process: the browser never holds a Pulsar credential, and the
broker refuses that role any other force's topics), and pushes each alert to the open pages as a
server-sent event. A Reader is non-durable: the desk leaves no subscription behind to grow.

Why server-sent events from a small server rather than the browser on Pulsar's WebSocket API:
the officer token would have to be handed to every browser, the broker's WebSocket service
would have to be enabled and exposed, and each open page would be one more consumer on the
broker. Here it is one reader per force, whatever the number of pages.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pulsar
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from peacewatch.functions.desk.feed import DeskFeed, desk_item
from peacewatch.functions.desk.page import desk_page
from peacewatch.platform.contract_data import parse_alert_data
from peacewatch.platform.errors import InvalidReport
from peacewatch.platform.metrics_http import EndpointHandler, EndpointServer, registry_of
from peacewatch.platform.topics import TenantTopics

__all__ = ["DeskServer"]

log = logging.getLogger("peacewatch.functions.desk.server")
_KEEPALIVE_S = 15.0  # a comment line now and then: proxies close idle streams


class _DeskMetrics(Collector):
    """The desk's figures, read when scraped: `peacewatch_desk_open_pages`, `..._alerts_read_total`,
    `..._invalid_alerts_total`, `..._read_errors_total`, `..._last_alert_timestamp_seconds` and
    `..._last_alert_age_seconds` (when the desk last read an alert), labelled by `tenant`."""

    def __init__(self, desk: DeskServer) -> None:
        self.desk = desk

    def collect(self) -> Iterator[Metric]:
        desk, label = self.desk, [self.desk.tenant]
        pages = GaugeMetricFamily("peacewatch_desk_open_pages", "Pages open on the desk", labels=["tenant"])
        pages.add_metric(label, desk.feed.pages)
        yield pages
        for name, text, value in (
            ("alerts_read", "Alerts read from the force's alerts topic", desk.alerts_read),
            ("invalid_alerts", "Alerts skipped as not meeting the contract", desk.invalid_alerts),
            ("read_errors", "Times reading the alerts topic failed", desk.read_errors),
        ):
            family = CounterMetricFamily(f"peacewatch_desk_{name}", text, labels=["tenant"])
            family.add_metric(label, value)
            yield family
        if desk.last_alert_at is not None:
            stamp = GaugeMetricFamily(
                "peacewatch_desk_last_alert_timestamp_seconds",
                "When the desk last read an alert",
                labels=["tenant"],
            )
            stamp.add_metric(label, desk.last_alert_at)
            yield stamp
            age = GaugeMetricFamily(
                "peacewatch_desk_last_alert_age_seconds", "Seconds since the desk last read an alert",
                labels=["tenant"],
            )  # fmt: skip
            age.add_metric(label, max(0.0, time.time() - desk.last_alert_at))
            yield age


class DeskServer:
    """Serves `/` (the page), `/events` (the alerts, as server-sent events), `/healthz` and
    `/metrics` (Prometheus)."""

    def __init__(
        self, client: pulsar.Client, *, tenant: str, host: str = "127.0.0.1", port: int = 8765,
        since: timedelta = timedelta(hours=1),
    ) -> None:  # fmt: skip
        """`client` holds the force's officer token; the recent alerts (`since` back) are shown at once."""
        self.tenant = tenant
        self.feed = DeskFeed()
        self._client = client
        self._since = since
        self._stop = threading.Event()
        self._page = desk_page(tenant)
        self._reader_thread = threading.Thread(target=self._read, name="desk-reader", daemon=True)
        self.read_error: BaseException | None = None
        self.alerts_read = 0
        self.invalid_alerts = 0
        self.read_errors = 0
        self.last_alert_at: float | None = None
        self._http = EndpointServer(
            (host, port), self._handler(), registry=registry_of(_DeskMetrics(self)), health=self._health
        )

    @property
    def url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host!s}:{port}/"

    def start(self) -> None:
        """Reading and serving in background threads."""
        self._reader_thread.start()
        threading.Thread(target=self._http.serve_forever, name="desk-http", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        self._http.shutdown()
        self._http.server_close()
        self._reader_thread.join(timeout=5)

    # -- reading ---------------------------------------------------------------------------------
    def _read(self) -> None:
        try:
            reader = self._client.create_reader(TenantTopics(self.tenant).alerts, pulsar.MessageId.earliest)
        except pulsar.PulsarException as exc:
            self.read_error = exc
            self.read_errors += 1
            log.error("cannot read the alerts of %s: %s", self.tenant, exc)
            return
        try:
            reader.seek(int((time.time() - self._since.total_seconds()) * 1000))
            while not self._stop.is_set():
                try:
                    msg = reader.read_next(timeout_millis=200)
                except pulsar.Timeout:
                    continue
                try:
                    alert = parse_alert_data(msg.data())
                except InvalidReport as exc:  # the function writes valid alerts; say so if one is not
                    self.invalid_alerts += 1
                    log.warning("skipped an alert that does not meet the contract: %s", exc)
                    continue
                self.alerts_read += 1
                self.last_alert_at = time.time()
                self.feed.publish(desk_item(alert))
        except pulsar.PulsarException as exc:
            if not self._stop.is_set():
                self.read_error = exc
                self.read_errors += 1
                log.error("reading the alerts of %s stopped: %s", self.tenant, exc)
        finally:
            with contextlib.suppress(pulsar.PulsarException):
                reader.close()

    # -- serving ---------------------------------------------------------------------------------
    def _health(self) -> tuple[bool, str]:
        if self.read_error is None and self._reader_thread.is_alive():
            return True, "ok"
        return False, "not reading its alerts"

    def _handler(self) -> type[EndpointHandler]:
        desk = self

        class Handler(EndpointHandler):
            def answer(self, path: str) -> bool:
                if path == "/":
                    self.send_body(200, "text/html; charset=utf-8", desk._page)
                elif path == "/events":
                    self._events()
                else:
                    return super().answer(path)  # /metrics, /healthz
                return True

            def _events(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-store")
                self.send_header("X-Accel-Buffering", "no")  # nginx ingress: do not buffer the stream
                self.end_headers()
                recent, page = desk.feed.open_page()
                try:
                    for item in recent:
                        self._event(item)
                    while not desk._stop.is_set():
                        try:
                            new = page.get(timeout=_KEEPALIVE_S)
                        except queue.Empty:
                            self.wfile.write(b": keepalive\n\n")
                            self.wfile.flush()
                            continue
                        if new is None:  # dropped as too slow: the page reconnects
                            return
                        self._event(new)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the page was closed
                finally:
                    desk.feed.close_page(page)
                    self.close_connection = True

            def _event(self, item: dict[str, Any]) -> None:
                event = f"id: {item['alert_id']}\ndata: {json.dumps(item)}\n\n"
                self.wfile.write(event.encode())
                self.wfile.flush()

        return Handler
