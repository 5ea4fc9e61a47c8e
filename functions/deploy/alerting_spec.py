"""A force's choices about its alert function, as its tenant spec states them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from peacewatch.functions.runtime.decision import AlertConfig
from peacewatch.platform.alert_settings import DEFAULT_ALERT_RUNTIME, CooldownSeconds, Parallelism, Threshold

__all__ = ["AlertingSpec"]


class AlertingSpec(BaseModel):
    """What a force's spec says of its alert function (the `alerting:` block of its YAML)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: Threshold = 20
    cooldown_s: CooldownSeconds = 0.0
    parallelism: Parallelism = 1
    runtime: Literal["python", "java"] = Field(
        default=DEFAULT_ALERT_RUNTIME,
        description="Which implementation of the alert function runs (same contract and topics); "
        "java by default: the one that keeps up with the fleet's peak (bench/alert_latency.py)",
    )

    def function_config(self, *, source_id: str | None = None) -> AlertConfig:
        """The alert function's config, derived from this spec (same types, same bounds)."""
        return AlertConfig(threshold=self.threshold, cooldown_s=self.cooldown_s, source_id=source_id)
