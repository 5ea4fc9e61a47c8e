"""What a force chooses about its alerts, each declared once.

The tenant spec, the alert function's config, the alert contract, the CLI options and the
chart's values schema (checked by a test) all take their bounds from here.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

__all__ = [
    "COOLDOWN_MAX_S",
    "DEFAULT_ALERT_RUNTIME",
    "PARALLELISM_MAX",
    "THRESHOLD_MAX",
    "AlertRuntime",
    "CooldownSeconds",
    "Parallelism",
    "Threshold",
]

THRESHOLD_MAX = 101  # peacescores are 0..100: 101 alerts on every citizen
COOLDOWN_MAX_S = 7 * 24 * 3600  # a citizen's last alert is kept in state this long at most
PARALLELISM_MAX = 16

Threshold = Annotated[
    int, Field(ge=0, le=THRESHOLD_MAX, description="A peacescore below this raises an alert")
]
CooldownSeconds = Annotated[
    float,
    Field(
        ge=0,
        le=COOLDOWN_MAX_S,
        allow_inf_nan=False,
        description="One alert per citizen within this many seconds of event time (0: off)",
    ),
]
Parallelism = Annotated[int, Field(ge=1, le=PARALLELISM_MAX, description="Alert function instances")]
# Which implementation of the alert function runs: functions/runtime/alerting.py or functions/java (same
# contract, test vectors, topics and state). A new force gets the one bench/alert_latency.py
# shows keeping up with the fleet's peak.
AlertRuntime = Literal["python", "java"]
DEFAULT_ALERT_RUNTIME: AlertRuntime = "java"
