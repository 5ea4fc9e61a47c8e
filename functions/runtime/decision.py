"""Which citizens of a report raise an alert, and the per-citizen cooldown. Pure logic.

It works on the contract's validated data (platform.contract_data): the function validates
each report into a dict, and only the ~1% that raise an alert pay for building `Alert` models.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from peacewatch.platform.alert_settings import CooldownSeconds, Threshold
from peacewatch.platform.contract import Alert, alert_id_for
from peacewatch.platform.contract_data import CitizenData, ReportData
from peacewatch.platform.errors import InvalidConfig

__all__ = ["AlertConfig", "bad_citizens", "build_alert", "cooldown_allows", "decide"]


class AlertConfig(BaseModel):
    """The alert function's user config."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    threshold: Threshold = 20
    cooldown_s: CooldownSeconds = 0.0
    source_id: str | None = Field(
        default=None, description="Identity of the reports topic: keys the dead-letter queue's deduplication."
    )

    @classmethod
    def from_user_config(cls, values: Mapping[str, Any]) -> AlertConfig:
        """The function's userConfig map -> a config, or InvalidConfig naming the key and why.

        Used at deploy time (so a bad value is refused before it reaches the worker) and again by
        the function itself (a config set by other means)."""
        try:
            return cls.model_validate({k: v for k, v in values.items() if v is not None})
        except ValidationError as exc:
            first = exc.errors()[0]
            key = ".".join(str(p) for p in first["loc"]) or "userConfig"
            raise InvalidConfig(
                f"alert function config {key}: {first['msg']} (got {first.get('input')!r})"
            ) from None

    def user_config(self) -> dict[str, Any]:
        out: dict[str, Any] = {"threshold": self.threshold, "cooldown_s": self.cooldown_s}
        if self.source_id:
            out["source_id"] = self.source_id
        return out


def bad_citizens(report: ReportData, *, threshold: int) -> list[CitizenData]:
    """Citizens scoring below the threshold, once each (a citizen listed twice alerts once)."""
    seen: set[str] = set()
    out = []
    for citizen in report["citizens"]:
        if citizen["peacescore"] < threshold and citizen["citizen_id"] not in seen:
            seen.add(citizen["citizen_id"])
            out.append(citizen)
    return out


def build_alert(
    report: ReportData, citizen: CitizenData, *, tenant: str, threshold: int, raised_at: datetime
) -> Alert:
    return Alert(
        alert_id=alert_id_for(report["report_id"], citizen["citizen_id"]),
        tenant=tenant,
        report_id=report["report_id"],
        drone_id=report["drone_id"],
        ts=report["ts"],
        lat=report["lat"],
        lon=report["lon"],
        citizen_id=citizen["citizen_id"],
        name=citizen["name"],
        peacescore=citizen["peacescore"],
        threshold=threshold,
        raised_at=raised_at,
    )


def cooldown_allows(*, last_alert_ts: float | None, event_ts: float, cooldown_s: float) -> bool:
    """Event time, not arrival time: a late report inside the window is still a repeat."""
    if cooldown_s <= 0 or last_alert_ts is None:
        return True
    return abs(event_ts - last_alert_ts) >= cooldown_s


def decide(
    report: ReportData,
    *,
    tenant: str,
    config: AlertConfig,
    raised_at: datetime,
    last_alert_ts: Callable[[str], float | None] = lambda _cid: None,
) -> list[Alert]:
    """The alerts a report raises. `last_alert_ts(citizen_id)` reads the cooldown state."""
    event_ts = report["ts"].timestamp()
    alerts = []
    for citizen in bad_citizens(report, threshold=config.threshold):
        last = last_alert_ts(citizen["citizen_id"]) if config.cooldown_s > 0 else None
        if cooldown_allows(last_alert_ts=last, event_ts=event_ts, cooldown_s=config.cooldown_s):
            alerts.append(
                build_alert(report, citizen, tenant=tenant, threshold=config.threshold, raised_at=raised_at)
            )
    return alerts
