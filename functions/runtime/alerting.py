"""The alert function: one per tenant, deployed to the Pulsar functions worker.

Input: the tenant's reports topic. For every citizen below the threshold: one Alert on
.../alerts (key = citizen_id, event time = the report's) and, once it is persisted, one line on
.../alert-log, which officers follow. Invalid input goes to .../reports-dlq with the reason in
the `error` property, once per message (broker deduplication). process() never raises on
anything a producer can send: a Python function that raises is redelivered forever.

Why the function writes the alert log itself instead of configuring it as the function's log
topic: with a log topic set, the Python runtime removes and re-adds its logging handlers around
every process() call, which the 99% of reports that raise nothing would pay for.

Runs with processingGuarantees=MANUAL and retainOrdering (a Failover subscription: each
partition in order at one instance). A report is acknowledged only once every message it
caused is persisted and the cooldown state written; a publish that fails is negatively
acknowledged, so the report comes back. Alert ids are deterministic, so a redelivery repeats
the same ids rather than inventing alerts.

Cooldown: the state (BookKeeper table service) holds each citizen's last persisted alert time
and is written only after that alert is persisted, off the report's path but before its
acknowledgement. Suppressing is decided from what this instance knows (alerts it persisted or
has in flight); letting an alert through is checked against the state - answered from the
instance's mirror of it while the function runs a single instance (functions/runtime/cooldown_cache.py),
read from the store otherwise, so another instance's alert is seen.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pulsar
from pulsar import Function

from peacewatch.functions.runtime.alert_log import format_alert_line, log_line
from peacewatch.functions.runtime.cooldown_cache import CooldownCache
from peacewatch.functions.runtime.decision import AlertConfig, bad_citizens, decide
from peacewatch.platform.contract import Alert
from peacewatch.platform.contract_data import ReportData, parse_report_data
from peacewatch.platform.dead_letters import DLQ_ERROR_PROPERTY, DeadLetter, DeadLetterQueue
from peacewatch.platform.errors import InvalidReport
from peacewatch.platform.positions import message_position
from peacewatch.platform.schema_registry import ContractSchema

__all__ = [
    "COOLDOWN_STATE_PREFIX",
    "DLQ_ERROR_PROPERTY",
    "REPORT_PUBLISHED_PROPERTY",
    "STAGE",
    "AlertFunction",
]

COOLDOWN_STATE_PREFIX = "cooldown/"
# On each alert: the report's publish time on the broker, in ms since the epoch.
REPORT_PUBLISHED_PROPERTY = "report_published_ms"
STAGE = "alerting"
_METRICS_EVERY_S = 1.0
_STATE_WRITE_ATTEMPTS = 5


def _read_ts(value: Any) -> float | None:
    if value is None or value == b"" or value == "":
        return None
    try:
        return float(value.decode() if isinstance(value, bytes) else value)
    except ValueError:
        return None


class _Outcome:
    """Calls `done(ok)` once all `expected` publishes have answered (ok only if all succeeded)."""

    def __init__(self, expected: int, done: Callable[[bool], None]) -> None:
        self._left = expected
        self._ok = True
        self._lock = threading.Lock()
        self._done = done

    def __call__(self, ok: bool) -> None:
        with self._lock:
            self._ok = self._ok and ok
            self._left -= 1
            finished = self._left == 0
        if finished:
            self._done(self._ok)


class AlertFunction(Function):  # type: ignore[misc]
    def __init__(self) -> None:
        self._config: AlertConfig | None = None
        self._tenant = ""
        self._alerts: Any = None
        self._log: Any = None
        self._dlq: DeadLetterQueue | None = None
        # Metrics are summed locally and recorded about once a second: a record_metric call
        # per report costs more than validating the report.
        self._counts: Counter[str] = Counter()
        self._counts_lock = threading.Lock()
        self._flushed_at = time.monotonic()
        self._context: Any = None
        # Cooldown: what this instance knows of citizens' alerts (set up with the config).
        self._cooldown = CooldownCache(sole_writer=False)
        # State writes and acks after persistence run here, off the client's I/O threads.
        self._after: queue.Queue[Callable[[], None]] = queue.Queue()
        self._worker: threading.Thread | None = None

    # -- set-up -------------------------------------------------------------------------------
    def _setup(self, context: Any) -> AlertConfig:
        config = AlertConfig.from_user_config(context.get_user_config_map())
        self._tenant = context.get_function_tenant()
        namespace = f"persistent://{self._tenant}/{context.get_function_namespace()}"
        client = context.get_pulsar_client()
        self._alerts = client.create_producer(
            f"{namespace}/alerts",
            schema=ContractSchema(Alert),
            batching_enabled=False,  # an alert leaves at once
            block_if_queue_full=True,
        )
        self._log = client.create_producer(
            f"{namespace}/alert-log",
            batching_enabled=True,
            batching_max_publish_delay_ms=5,
            block_if_queue_full=True,
        )
        self._dlq = DeadLetterQueue(
            client, topic=f"{namespace}/reports-dlq", stage=STAGE, source_id=config.source_id or "unknown"
        )
        self._cooldown = CooldownCache(sole_writer=_instances(context) == 1)
        self._worker = threading.Thread(target=self._run_after, name="alerting-after-persist", daemon=True)
        self._worker.start()
        self._config = config
        return config

    def _run_after(self) -> None:
        while True:
            try:
                job = self._after.get(timeout=_METRICS_EVERY_S)
            except queue.Empty:
                self._flush_counts()  # when reports stop, the last second's counts still get out
                continue
            try:
                job()
            except Exception as exc:  # never let one job stop the others
                self._log_line(f"after-persist step failed: {exc!r}", level="ERROR")

    def _count(self, context: Any, name: str, n: int = 1) -> None:
        self._context = context
        with self._counts_lock:
            self._counts[name] += n
        if time.monotonic() - self._flushed_at >= _METRICS_EVERY_S:
            self._flush_counts()

    def _flush_counts(self) -> None:
        with self._counts_lock:
            counts, self._counts = self._counts, Counter()
            self._flushed_at = time.monotonic()
        for key, value in counts.items():
            self._context.record_metric(key, value)

    def _log_line(self, message: str, *, level: str = "WARNING") -> None:
        if self._log is not None:
            self._log.send_async(log_line(message, level=level).encode(), None)

    # -- the work -----------------------------------------------------------------------------
    def process(self, input: Any, context: Any) -> None:  # noqa: A002 - Pulsar's signature
        config = self._config or self._setup(context)
        msg_id = context.get_message_id()
        topic = context.get_current_message_topic_name()
        data = input if isinstance(input, bytes) else str(input).encode()
        try:
            report = parse_report_data(data)
        except InvalidReport as exc:
            self._dead_letter(context, data, reason=exc.reason, msg_id=msg_id, topic=topic)
            return None
        try:
            self._alert(context, config, report, msg_id=msg_id, topic=topic)
        except Exception as exc:
            # A bug of ours must not become a report redelivered forever (the runtime's answer to
            # a raising process()): the report goes to the DLQ with the error, for a human.
            self._log_line(f"internal error on report {msg_id}: {exc!r}", level="ERROR")
            self._dead_letter(context, data, reason=f"internal error: {exc!r}", msg_id=msg_id, topic=topic)
        return None

    def _alert(
        self, context: Any, config: AlertConfig, report: ReportData, *, msg_id: Any, topic: str
    ) -> None:
        self._count(context, "reports")
        alerts = decide(
            report, tenant=self._tenant, config=config, raised_at=datetime.now(UTC),
            last_alert_ts=self._last_alert_ts(context, config, report),
        )  # fmt: skip
        if not alerts:
            context.ack(msg_id, topic)
            return
        self._raise(context, alerts, msg_id=msg_id, topic=topic, cooldown=config.cooldown_s > 0)
        self._count(context, "alerts", len(alerts))

    def _last_alert_ts(
        self, context: Any, config: AlertConfig, report: ReportData
    ) -> Callable[[str], float | None]:
        if config.cooldown_s <= 0 or not bad_citizens(report, threshold=config.threshold):
            return lambda _cid: None
        event_ts = report["ts"].timestamp()

        def read(citizen_id: str) -> float | None:
            self._count(context, "cooldown_state_reads")
            return _read_ts(context.get_state(COOLDOWN_STATE_PREFIX + citizen_id))

        def last(citizen_id: str) -> float | None:
            # A read error propagates: the runtime redelivers the report, nothing is lost.
            return self._cooldown.last_alert_ts(
                citizen_id, event_ts=event_ts, cooldown_s=config.cooldown_s, read=read
            )

        return last

    def _raise(self, context: Any, alerts: list[Alert], *, msg_id: Any, topic: str, cooldown: bool) -> None:
        if cooldown:
            for alert in alerts:
                self._cooldown.sending(alert.citizen_id, alert.ts.timestamp())

        def persisted(ok: bool) -> None:
            if not ok:
                self._forget(alerts)
                self._log_line(
                    f"alert publish failed for report {msg_id}; it will be redelivered", level="ERROR"
                )
                _nack(context, msg_id, topic)
                return
            self._after.put(
                lambda: self._after_persisted(context, alerts, msg_id=msg_id, topic=topic, cooldown=cooldown)
            )

        outcome = _Outcome(len(alerts), persisted)
        published = _report_published_ms(context)
        for alert in alerts:
            event_ms = int(alert.ts.timestamp() * 1000)
            extra = {"event_timestamp": event_ms} if event_ms >= 0 else {}  # unsigned: nothing before 1970
            self._alerts.send_async(
                alert.to_json(),
                lambda result, _mid, alert=alert: self._published(context, alert, result, outcome, published),
                partition_key=alert.citizen_id,
                properties={
                    "alert_id": str(alert.alert_id),
                    "report_id": str(alert.report_id),
                    REPORT_PUBLISHED_PROPERTY: published,
                },
                **extra,
            )

    def _published(self, context: Any, alert: Alert, result: Any, outcome: _Outcome, published: str) -> None:
        ok = result == pulsar.Result.Ok
        if ok:  # the officers' line, once the alert itself is stored
            self._log_line(format_alert_line(alert))
            if published:  # report published -> alert stored, for the operators' dashboard (alerts are rare)
                context.record_metric("alert_delay_ms", time.time() * 1000 - int(published))
        outcome(ok)

    def _after_persisted(
        self, context: Any, alerts: list[Alert], *, msg_id: Any, topic: str, cooldown: bool
    ) -> None:
        if cooldown:
            for alert in alerts:
                value = repr(alert.ts.timestamp())  # the state client takes str and encodes it itself
                written = False
                for attempt in range(_STATE_WRITE_ATTEMPTS):
                    try:
                        started = time.perf_counter()
                        context.put_state(COOLDOWN_STATE_PREFIX + alert.citizen_id, value)
                        # What the acknowledgement waits for per alert (bench/alert_cooldown_cost.py).
                        write_ms = (time.perf_counter() - started) * 1000
                        context.record_metric("cooldown_state_write_ms", write_ms)
                        written = True
                        break
                    except Exception as exc:
                        if attempt == _STATE_WRITE_ATTEMPTS - 1:
                            # The alert is stored: acknowledge anyway, at worst a repeat alert later.
                            self._log_line(
                                f"cooldown state write failed ({exc!r}) for {alert.alert_id}", level="ERROR"
                            )
                        time.sleep(0.2 * (attempt + 1))
                self._cooldown.persisted(alert.citizen_id, alert.ts.timestamp(), written=written)
            self._forget(alerts)
        context.ack(msg_id, topic)

    def _forget(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            self._cooldown.forget(alert.citizen_id, alert.ts.timestamp())

    def _dead_letter(self, context: Any, data: bytes, *, reason: str, msg_id: Any, topic: str) -> None:
        self._count(context, "invalid")
        assert self._dlq is not None

        def done(ok: bool) -> None:
            if ok:
                context.ack(msg_id, topic)
            else:
                _nack(context, msg_id, topic)

        letter = DeadLetter(data, reason, topic, str(msg_id), message_position(msg_id))
        try:
            self._dlq.send(letter, on_done=done)
        except pulsar.PulsarException:
            _nack(context, msg_id, topic)  # no DLQ producer right now: the report comes back later


def _instances(context: Any) -> int:
    """How many instances the function runs (0: unknown). The Python context has no accessor for
    it; the instance's config carries the function's details."""
    try:
        return int(context.instance_config.function_details.parallelism)
    except (AttributeError, TypeError, ValueError):
        return 0


def _report_published_ms(context: Any) -> str:
    """When the broker got the report (ms): with it anyone can measure report -> alert delay.
    The runtime's context keeps the current message (python_instance's ContextImpl.message)."""
    message = getattr(context, "message", None)
    return str(message.publish_timestamp()) if message is not None else ""


def _nack(context: Any, msg_id: Any, topic: str) -> None:
    """Negative acknowledgement: the runtime's context has ack() only, so find the consumer as
    its ack() does (python_instance's contextimpl: by topic, or its partitioned parent)."""
    consumers = getattr(context, "consumers", {})
    consumer = consumers.get(topic) or consumers.get(topic.split("-partition-", 1)[0])
    if consumer is not None:
        consumer.negative_acknowledge(msg_id)
