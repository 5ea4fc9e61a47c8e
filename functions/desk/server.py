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
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

import pulsar
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from peacewatch.functions.desk.access import (
    BrokerCheck,
    DeskAccess,
    Session,
    Sessions,
    cookie_name,
    host_allowed,
    session_id,
    token_ends_at,
)
from peacewatch.functions.desk.feed import DeskFeed, desk_item
from peacewatch.functions.desk.page import content_security_policy, desk_page, login_page
from peacewatch.platform.contract_data import parse_alert_data
from peacewatch.platform.errors import DeskUnavailable, InvalidReport
from peacewatch.platform.metrics_http import (
    EndpointHandler,
    EndpointServer,
    HttpLimits,
    MetricsServer,
    registry_of,
)
from peacewatch.platform.topics import TenantTopics

__all__ = ["DeskServer"]

log = logging.getLogger("peacewatch.functions.desk.server")
_KEEPALIVE_S = 15.0  # a comment line now and then: proxies close idle streams
_MAX_LOGIN_BYTES = 8192


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
    """Serves `/login`, `/` (the page) and `/events` (the alerts, as server-sent events) to the
    force's officers only (functions.desk.access), `/healthz` to anyone (probes: no data), and
    `/metrics` on a port of its own (a NetworkPolicy cannot filter paths)."""

    def __init__(
        self, client: pulsar.Client, *, tenant: str, access: DeskAccess, host: str = "127.0.0.1",
        port: int = 8765, metrics_port: int | None = 0, since: timedelta = timedelta(hours=1),
        limits: HttpLimits | None = None, check: Callable[[str], bool] | None = None,
        collectors: Sequence[Collector] = (),
    ) -> None:  # fmt: skip
        """`client` holds the force's officer token; the recent alerts (`since` back) are shown at once.
        `metrics_port` None: no /metrics; `check` stands in for the broker's verdict on a token
        (BrokerCheck, by default); `collectors`: more metrics (the kit's expiry)."""
        self.tenant = tenant
        self.access = access
        self.sessions = Sessions(max_sessions=access.max_sessions)
        self._check = check or BrokerCheck(web_url=access.web_url, tenant=tenant)
        self.feed = DeskFeed()
        self._client = client
        self._since = since
        self._stop = threading.Event()
        self._page = desk_page(tenant)
        self._page_csp = content_security_policy(self._page)
        self._login_csp = content_security_policy(login_page(tenant))
        self._reader_thread = threading.Thread(target=self._read, name="desk-reader", daemon=True)
        self.read_error: BaseException | None = None
        self.alerts_read = 0
        self.invalid_alerts = 0
        self.read_errors = 0
        self.last_alert_at: float | None = None
        registry = registry_of(_DeskMetrics(self))
        for collector in collectors:
            registry.register(collector)
        self._http = EndpointServer(
            (host, port), self._handler(), registry=registry, health=self._health, limits=limits
        )
        self.metrics = (
            None if metrics_port is None
            else MetricsServer(registry=registry, health=self._health, host=host, port=metrics_port,
                               limits=limits)
        )  # fmt: skip

    @property
    def url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host!s}:{port}/"

    def start(self) -> None:
        """Reading and serving in background threads."""
        self._reader_thread.start()
        threading.Thread(target=self._http.serve_forever, name="desk-http", daemon=True).start()
        if self.metrics is not None:
            self.metrics.start()

    def stop(self) -> None:
        self._stop.set()
        self._http.shutdown()
        self._http.server_close()
        if self.metrics is not None:
            self.metrics.stop()
        self._reader_thread.join(timeout=5)

    # -- who is calling ----------------------------------------------------------------------------
    def session_of(self, cookie_header: str | None) -> tuple[str, Session] | None:
        """The caller's open session, re-checked with the broker when due; None: not an officer now."""
        sid = session_id(cookie_header, tenant=self.tenant)
        session = self.sessions.get(sid)
        if sid is None or session is None:
            return None
        if self.sessions.due(session, every_s=self.access.recheck_s):
            if not self._check(session.token):
                self.sessions.end(sid)
                return None
            self.sessions.checked(session)
        return sid, session

    def login(self, token: str) -> str | None:
        """A new session id if the broker takes `token` for this force's alerts."""
        if not self._check(token):
            return None
        return self.sessions.open(token, ends_at=token_ends_at(token, max_s=self.access.session_max_s))

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
            csp = ""

            def end_headers(self) -> None:
                self.send_header("X-Content-Type-Options", "nosniff")
                self.send_header("X-Frame-Options", "DENY")
                self.send_header("Referrer-Policy", "same-origin")  # no-referrer makes a form's Origin null
                if self.csp:
                    self.send_header("Content-Security-Policy", self.csp)
                super().end_headers()

            def _host_ok(self) -> bool:
                if host_allowed(self.headers.get("Host"), desk.access.allowed_hosts):
                    return True
                self.send_body(421, "text/plain", b"misdirected request: unknown host\n")
                return False

            def answer(self, path: str) -> bool:
                if path == "/healthz":
                    return super().answer(path)  # the kubelet's probe: no data, no session
                if not self._host_ok():
                    return True
                if path == "/login":
                    self._login_page("")
                    return True
                if path not in ("/", "/events"):
                    return False  # /metrics is on its own port
                try:
                    who = desk.session_of(self.headers.get("Cookie"))
                except DeskUnavailable:
                    self.send_body(503, "text/plain", b"the broker is not answering: try again\n")
                    return True
                if who is None:
                    if path == "/":
                        self._redirect("login")
                    else:
                        self.send_body(401, "text/plain", b"sign in first\n")
                elif path == "/":
                    self.csp = desk._page_csp
                    self.send_body(200, "text/html; charset=utf-8", desk._page)
                else:
                    self._events(who[1])
                return True

            def do_POST(self) -> None:
                path = self.path.split("?", 1)[0]
                if path not in ("/login", "/logout"):
                    self.send_body(404, "text/plain", b"not found\n")
                    return
                if not self._host_ok():
                    return
                # A form posted from another site: refused (the browser says where it came from).
                origin = self.headers.get("Origin")
                site = self.headers.get("Sec-Fetch-Site")
                if (site is not None and site not in ("same-origin", "none")) or (
                    origin and origin != "null"
                    and not host_allowed(origin.split("://", 1)[-1], desk.access.allowed_hosts)
                ):  # fmt: skip
                    self.send_body(403, "text/plain", b"cross-site request refused\n")
                    return
                if path == "/logout":
                    sid = session_id(self.headers.get("Cookie"), tenant=desk.tenant)
                    if sid:
                        desk.sessions.end(sid)
                    self._redirect("login", cookie=f"{cookie_name(desk.tenant)}=; Max-Age=0; Path=/")
                    return
                try:
                    length = int(self.headers.get("Content-Length") or "0")
                except ValueError:
                    length = -1
                if not 0 < length <= _MAX_LOGIN_BYTES:
                    self.send_body(413 if length > 0 else 400, "text/plain", b"a token, and only that\n")
                    return
                form = parse_qs(self.rfile.read(length).decode("ascii", "replace"), max_num_fields=4)
                token = (form.get("token") or [""])[0].strip()
                try:
                    sid = desk.login(token)
                except DeskUnavailable:
                    self._login_page("The broker is not answering: try again in a moment.", status=503)
                    return
                if sid is None:
                    self._login_page(f"That token is not one of {desk.tenant}'s officers.", status=403)
                    return
                cookie = (f"{cookie_name(desk.tenant)}={sid}; HttpOnly; SameSite=Strict; Path=/; "
                          f"Max-Age={int(desk.access.session_max_s)}")  # fmt: skip
                self._redirect(".", cookie=cookie)

            def _login_page(self, why: str, *, status: int = 200) -> None:
                self.csp = desk._login_csp
                self.send_body(status, "text/html; charset=utf-8", login_page(desk.tenant, why=why))

            def _redirect(self, to: str, *, cookie: str | None = None) -> None:
                self.send_response(303)
                self.send_header("Location", to)
                if cookie:
                    self.send_header("Set-Cookie", cookie)
                self.send_header("Content-Length", "0")
                self.send_header("Cache-Control", "no-store")
                self.end_headers()

            def _events(self, session: Session) -> None:
                if desk.feed.pages >= desk.access.max_pages:
                    self.send_body(503, "text/plain", b"too many open pages\n")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-store")
                self.send_header("X-Accel-Buffering", "no")  # nginx ingress: do not buffer the stream
                self.end_headers()
                recent, page = desk.feed.open_page()
                cookie = self.headers.get("Cookie")
                try:
                    for item in recent:
                        self._event(item)
                    while not desk._stop.is_set():
                        # The session may end under an open page: expiry, or the broker's no.
                        if desk.session_of(cookie) is None:
                            return
                        try:
                            new = page.get(timeout=min(_KEEPALIVE_S, desk.access.recheck_s))
                        except queue.Empty:
                            self.wfile.write(b": keepalive\n\n")
                            self.wfile.flush()
                            continue
                        if new is None:  # dropped as too slow: the page reconnects
                            return
                        self._event(new)
                except (OSError, DeskUnavailable):
                    pass  # the page was closed, stopped reading (io timeout), or the broker is away
                finally:
                    desk.feed.close_page(page)
                    self.close_connection = True

            def _event(self, item: dict[str, Any]) -> None:
                event = f"id: {item['alert_id']}\ndata: {json.dumps(item)}\n\n"
                self.wfile.write(event.encode())
                self.wfile.flush()

        return Handler
