"""The alert function: one per tenant, deployed to the Pulsar functions worker.

Input: the tenant's reports topic. For every citizen below the threshold: one Alert on
.../alerts (key = citizen_id, event time = report ts) and one WARNING line on the function's
log topic (.../alert-log), which officers follow. Invalid input goes to .../reports-dlq with the
reason in the `error` property; process() never raises on bad input (a Python function that
raises is negatively acknowledged and redelivered forever).

Runs with processingGuarantees=MANUAL: a report is acknowledged only once every message it
caused (alerts, DLQ entry) is persisted, so a crash in between redelivers it instead of losing
an alert. Alert ids are deterministic, so such a redelivery repeats the same ids.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pulsar
from pulsar import Function

from peacewatch.functions.alert_log import format_alert_line
from peacewatch.functions.decision import AlertConfig, bad_citizens, decide
from peacewatch.platform.contract import parse_report
from peacewatch.platform.errors import InvalidReport

__all__ = ["COOLDOWN_STATE_PREFIX", "DLQ_ERROR_PROPERTY", "AlertFunction"]

DLQ_ERROR_PROPERTY = "error"
COOLDOWN_STATE_PREFIX = "cooldown/"


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
        self._alerts_topic = ""
        self._dlq_topic = ""

    def _setup(self, context: Any) -> AlertConfig:
        threshold = context.get_user_config_value("threshold")
        cooldown = context.get_user_config_value("cooldown_s")
        config = AlertConfig(
            threshold=int(threshold) if threshold is not None else 20,
            cooldown_s=float(cooldown) if cooldown is not None else 0.0,
        )
        self._tenant = context.get_function_tenant()
        namespace = f"persistent://{self._tenant}/{context.get_function_namespace()}"
        self._alerts_topic = f"{namespace}/alerts"
        self._dlq_topic = f"{namespace}/reports-dlq"
        self._config = config
        return config

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
        context.record_metric("reports", 1)
        if not alerts:
            ack()
            return None
        on_persisted = _AckWhenPersisted(ack, len(alerts), failed)
        logger = context.get_logger()
        for alert in alerts:
            if config.cooldown_s > 0:
                # The BookKeeper state client takes str values (it encodes them itself).
                context.put_state(COOLDOWN_STATE_PREFIX + alert.citizen_id, repr(alert.ts.timestamp()))
            context.publish(
                self._alerts_topic,
                alert.to_json(),
                callback=on_persisted,
                message_conf={
                    "partition_key": alert.citizen_id,
                    "event_timestamp": int(alert.ts.timestamp() * 1000),
                    "properties": {"alert_id": str(alert.alert_id), "report_id": str(alert.report_id)},
                },
            )
            logger.warning(format_alert_line(alert))
        context.record_metric("alerts", len(alerts))
        return None

    def _to_dlq(self, context: Any, data: bytes, *, reason: str, source: str, ack: _AckWhenPersisted) -> None:
        context.record_metric("invalid", 1)
        context.publish(
            self._dlq_topic,
            data,
            callback=ack,
            message_conf={
                "properties": {
                    DLQ_ERROR_PROPERTY: reason[:1000],
                    "source_topic": source,
                    "source_message_id": str(context.get_message_id()),
                    "stage": "alerting",
                }
            },
        )


def _read_ts(value: Any) -> float | None:
    if value is None or value == b"" or value == "":
        return None
    try:
        return float(value.decode() if isinstance(value, bytes) else value)
    except ValueError:
        return None
