"""Which citizens of a report raise an alert, and the per-citizen cooldown. Pure logic."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from peacewatch.platform.contract import Alert, Citizen, Report, alert_id_for

__all__ = ["AlertConfig", "bad_citizens", "build_alert", "cooldown_allows", "decide"]


class AlertConfig(BaseModel):
    """The alert function's user config."""

    model_config = ConfigDict(frozen=True)

    threshold: int = Field(default=20, ge=0, le=101, description="A peacescore below this raises an alert.")
    cooldown_s: float = Field(
        default=0.0,
        ge=0,
        description="One alert per citizen within this many seconds of event time; 0 = off.",
    )


def bad_citizens(report: Report, *, threshold: int) -> list[Citizen]:
    """Citizens scoring below the threshold, once each (a citizen listed twice alerts once)."""
    seen: set[str] = set()
    out = []
    for citizen in report.citizens:
        if citizen.peacescore < threshold and citizen.citizen_id not in seen:
            seen.add(citizen.citizen_id)
            out.append(citizen)
    return out


def build_alert(
    report: Report, citizen: Citizen, *, tenant: str, threshold: int, raised_at: datetime
) -> Alert:
    return Alert(
        alert_id=alert_id_for(report.report_id, citizen.citizen_id),
        tenant=tenant,
        report_id=report.report_id,
        drone_id=report.drone_id,
        ts=report.ts,
        lat=report.lat,
        lon=report.lon,
        citizen_id=citizen.citizen_id,
        name=citizen.name,
        peacescore=citizen.peacescore,
        threshold=threshold,
        raised_at=raised_at,
    )


def cooldown_allows(*, last_alert_ts: float | None, event_ts: float, cooldown_s: float) -> bool:
    """Event time, not arrival time: a late report inside the window is still a repeat."""
    if cooldown_s <= 0 or last_alert_ts is None:
        return True
    return abs(event_ts - last_alert_ts) >= cooldown_s


def decide(
    report: Report,
    *,
    tenant: str,
    config: AlertConfig,
    raised_at: datetime,
    last_alert_ts: Callable[[str], float | None] = lambda _cid: None,
) -> list[Alert]:
    """The alerts a report raises. `last_alert_ts(citizen_id)` reads the cooldown state."""
    event_ts = report.ts.timestamp()
    alerts = []
    for citizen in bad_citizens(report, threshold=config.threshold):
        last = last_alert_ts(citizen.citizen_id) if config.cooldown_s > 0 else None
        if cooldown_allows(last_alert_ts=last, event_ts=event_ts, cooldown_s=config.cooldown_s):
            alerts.append(
                build_alert(report, citizen, tenant=tenant, threshold=config.threshold, raised_at=raised_at)
            )
    return alerts
