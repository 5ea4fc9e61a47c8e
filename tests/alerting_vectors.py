"""The alert function's shared test vectors: one answer format for both implementations.

A case is a payload (any bytes), a threshold and a tenant. The answer: the report as validated
(times as epoch seconds + microseconds + offset, floats exact) and the alerts it raises with their
officers' log lines - or, for a refusal, the path of the first field at fault ('' when the bytes
are not JSON). `python_answer` is the Python implementation's; `java_answers` runs the Java one
(functions/java, its VectorCheck main) over many cases in one JVM. `tests/vectors/alerting.jsonl`
holds generated cases with the answers both must give.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from peacewatch.functions.runtime.alert_log import format_alert_line
from peacewatch.functions.runtime.decision import AlertConfig, decide
from peacewatch.platform.contract import Alert
from peacewatch.platform.contract_data import parse_report_data
from peacewatch.platform.errors import InvalidReport, ReportTooLarge

VECTORS = Path(__file__).parent / "vectors" / "alerting.jsonl"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _time(value: datetime) -> dict[str, int]:
    since = value - _EPOCH
    offset = value.utcoffset()
    assert offset is not None
    return {
        "epoch_s": since.days * 86400 + since.seconds,
        "micros": since.microseconds,
        "offset_s": int(offset.total_seconds()),
    }


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return _time(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return value
    return value if isinstance(value, int | str) else str(value)


def _alert_fields(alert: Alert) -> dict[str, Any]:
    out = alert.model_dump(exclude={"raised_at"})
    out["ts"] = _time(alert.ts)
    out["alert_id"] = str(alert.alert_id)
    out["report_id"] = str(alert.report_id)
    return out


def python_answer(payload: bytes, *, threshold: int, tenant: str) -> dict[str, Any]:
    try:
        report = parse_report_data(payload)
    except InvalidReport as exc:
        # A size refusal says so: its loc ('') alone would not tell it from bytes that are not JSON.
        return {
            "ok": False,
            "loc": exc.field,
            **({"too_large": True} if isinstance(exc, ReportTooLarge) else {}),
        }
    alerts = decide(report, tenant=tenant, config=AlertConfig(threshold=threshold), raised_at=_EPOCH)
    return {
        "ok": True,
        "report": _plain(report),
        "alerts": [{"fields": _alert_fields(a), "log": format_alert_line(a)} for a in alerts],
    }


def _from_java(answer: dict[str, Any]) -> dict[str, Any]:
    """Java's answer in python_answer's form; its alert JSON must itself pass the Alert contract."""
    if not answer["ok"]:
        return {"ok": False, "loc": answer["loc"], **({"too_large": True} if answer.get("too_large") else {})}
    report = answer["report"]
    for key in ("lat", "lon", "battery_pct"):
        report[key] = float(report[key])
    return {
        "ok": True,
        "report": report,
        "alerts": [
            {"fields": _alert_fields(Alert.model_validate_json(a["json"])), "log": a["log"]}
            for a in answer["alerts"]
        ],
    }


def java_answers(jar: Path, cases: Iterable[tuple[bytes, int, str]]) -> list[dict[str, Any]]:
    lines = "".join(
        json.dumps({"payload_b64": base64.b64encode(p).decode(), "threshold": t, "tenant": tenant}) + "\n"
        for p, t, tenant in cases
    )
    proc = subprocess.run(
        ["java", "-cp", str(jar), "peacewatch.alerting.VectorCheck"],
        input=lines, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    # Lines end at "\n" only: the answers may hold U+2028 and friends, which splitlines() would cut at.
    return [_from_java(json.loads(line)) for line in proc.stdout.split("\n") if line]


def load_vectors() -> list[dict[str, Any]]:
    return [json.loads(line) for line in VECTORS.read_text().splitlines() if line.strip()]


def case_of(vector: dict[str, Any]) -> tuple[bytes, int, str]:
    return base64.b64decode(vector["payload_b64"]), vector["threshold"], vector["tenant"]
