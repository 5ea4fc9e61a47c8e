"""The alert function: one per tenant, deployed to the Pulsar functions worker.

Input: the tenant's reports topic. For every citizen below the threshold: one Alert on
.../alerts (key = citizen_id, event time = report ts) and one WARNING line on the function's
log topic (.../alert-log), which officers follow. Invalid input goes to .../reports-dlq with the
reason in the `error` property; process() never raises on bad input (a Python function that
raises is negatively acknowledged and redelivered forever).

The function keeps its own producers (from the instance's client): context.publish batches
for a fixed 10 ms and cannot declare a schema, while alerts should leave at once and carry the
contract's Alert schema (the alerts topic enforces it).

Runs with processingGuarantees=MANUAL: a report is acknowledged only once every message it
caused (alerts, DLQ entry) is persisted, so a crash in between redelivers it instead of losing
an alert. Alert ids are deterministic, so such a redelivery repeats the same ids.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pulsar
from pulsar import Function

from peacewatch.functions.alert_log import format_alert_line
from peacewatch.functions.decision import AlertConfig, bad_citizens, decide
from peacewatch.platform.contract import Alert, parse_report
from peacewatch.platform.errors import InvalidReport
from peacewatch.platform.schema_registry import ContractSchema

__all__ = ["COOLDOWN_STATE_PREFIX", "DLQ_ERROR_PROPERTY", "AlertFunction"]

DLQ_ERROR_PROPERTY = "error"
COOLDOWN_STATE_PREFIX = "cooldown/"
_METRICS_EVERY_S = 1.0


class _AckWhenPersisted:
    """Acknowledges the input message once all `expected` publishes have succeeded."""

    def __init__(self, ack: Callable[[], None], expected: int, on_failure: Callable[[str], None]) -> None:
        self._ack = ack
        self._left = expected
        self._failed = False
        self._lock = threading.Lock()
        self._on_failure = on_failure

    def __call__(self, result: Any, _msg_id: Any) -> None:
        with self._lock:
            if result != pulsar.Result.Ok:
                # Not acknowledged: the report comes back after a restart and is processed again.
                self._failed = True
                self._on_failure(str(result))
                return
            self._left -= 1
            done = self._left == 0 and not self._failed
        if done:
            self._ack()


class AlertFunction(Function):  # type: ignore[misc]
    def __init__(self) -> None:
        self._config: AlertConfig | None = None
        self._tenant = ""
        self._alerts: Any = None
        self._dlq: Any = None
        # Metrics are summed locally and recorded about once a second: a record_metric call
        # per report costs more than validating the report.
        self._counts: Counter[str] = Counter()
        self._flushed_at = time.monotonic()

    def _setup(self, context: Any) -> AlertConfig:
        threshold = context.get_user_config_value("threshold")
        cooldown = context.get_user_config_value("cooldown_s")
        config = AlertConfig(
            threshold=int(threshold) if threshold is not None else 20,
            cooldown_s=float(cooldown) if cooldown is not None else 0.0,
        )
        self._tenant = context.get_function_tenant()
        namespace = f"persistent://{self._tenant}/{context.get_function_namespace()}"
        client = context.get_pulsar_client()
        self._alerts = client.create_producer(
            f"{namespace}/alerts",
            schema=ContractSchema(Alert),
            batching_enabled=True,
            batching_max_publish_delay_ms=1,
            block_if_queue_full=True,
        )
        self._dlq = client.create_producer(f"{namespace}/reports-dlq", block_if_queue_full=True)
        self._config = config
        return config

    def _count(self, context: Any, name: str, n: int = 1) -> None:
        self._counts[name] += n
        now = time.monotonic()
        if now - self._flushed_at >= _METRICS_EVERY_S:
            for key, value in self._counts.items():
                context.record_metric(key, value)
            self._counts.clear()
            self._flushed_at = now

    def process(self, input: Any, context: Any) -> None:  # noqa: A002 - Pulsar's signature
        config = self._config or self._setup(context)
        msg_id = context.get_message_id()
        topic = context.get_current_message_topic_name()

        def ack() -> None:
            context.ack(msg_id, topic)

        def failed(result: str) -> None:
            context.get_logger().error("publish failed (%s); report %s stays unacknowledged", result, msg_id)

        data = input if isinstance(input, bytes) else str(input).encode()
        try:
            report = parse_report(data)
        except InvalidReport as exc:
            self._to_dlq(
                context, data, reason=exc.reason, source=topic, ack=_AckWhenPersisted(ack, 1, failed)
            )
            return None

        last_alerts: dict[str, float | None] = {}
        if config.cooldown_s > 0:
            # State reads are I/O: an error here propagates, so the runtime redelivers the report.
            for citizen in bad_citizens(report, threshold=config.threshold):
                last_alerts[citizen.citizen_id] = _read_ts(
                    context.get_state(COOLDOWN_STATE_PREFIX + citizen.citizen_id)
                )
        alerts = decide(
            report,
            tenant=self._tenant,
            config=config,
            raised_at=datetime.now(UTC),
            last_alert_ts=last_alerts.get,
        )
        self._count(context, "reports")
        if not alerts:
            ack()
            return None
        on_persisted = _AckWhenPersisted(ack, len(alerts), failed)
        logger = context.get_logger()
        for alert in alerts:
            if config.cooldown_s > 0:
                # The BookKeeper state client takes str values (it encodes them itself).
                context.put_state(COOLDOWN_STATE_PREFIX + alert.citizen_id, repr(alert.ts.timestamp()))
            self._alerts.send_async(
                alert.to_json(),
                on_persisted,
                partition_key=alert.citizen_id,
                event_timestamp=int(alert.ts.timestamp() * 1000),
                properties={"alert_id": str(alert.alert_id), "report_id": str(alert.report_id)},
            )
            logger.warning(format_alert_line(alert))
        self._count(context, "alerts", len(alerts))
        return None

    def _to_dlq(self, context: Any, data: bytes, *, reason: str, source: str, ack: _AckWhenPersisted) -> None:
        self._count(context, "invalid")
        self._dlq.send_async(
            data,
            ack,
            properties={
                DLQ_ERROR_PROPERTY: reason[:1000],
                "source_topic": source,
                "source_message_id": str(context.get_message_id()),
                "stage": "alerting",
            },
        )


def _read_ts(value: Any) -> float | None:
    if value is None or value == b"" or value == "":
        return None
    try:
        return float(value.decode() if isinstance(value, bytes) else value)
    except ValueError:
        return None
