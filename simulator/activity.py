"""How busy the streets are and how agitated people are, by hour and day of week.

Pure functions of event time. Both curves average to 1 over a week, so the configured rates
are the long-run means.
"""

from __future__ import annotations

import math
from datetime import datetime

__all__ = ["agitation_factor", "crowd_factor", "is_weekend"]


def is_weekend(ts: datetime) -> bool:
    return ts.weekday() >= 5


def _bumps(hour: float, peaks: tuple[tuple[float, float, float], ...], base: float) -> float:
    value = base
    for center, width, height in peaks:
        d = min(abs(hour - center), 24 - abs(hour - center))  # wrap around midnight
        value += height * math.exp(-0.5 * (d / width) ** 2)
    return value


# (center hour, width h, height): commuting morning, lunch, evening on weekdays;
# a late, flatter day at weekends.
_WEEKDAY_CROWD = ((8.5, 1.2, 1.6), (12.5, 1.0, 1.2), (18.5, 1.5, 1.7))
_WEEKEND_CROWD = ((11.5, 2.0, 1.1), (15.5, 2.0, 1.0), (21.0, 2.0, 1.3))
# Agitation (bad-score probability) peaks late evening, a smaller one at the evening rush.
_AGITATION = ((22.5, 1.5, 2.5), (18.0, 1.2, 0.8))


def _normalised(peaks: tuple[tuple[float, float, float], ...], base: float) -> list[float]:
    # Precomputed per minute of day, normalised to mean 1.
    values = [_bumps(m / 60.0, peaks, base) for m in range(1440)]
    mean = sum(values) / len(values)
    return [v / mean for v in values]


_CROWD_WD = _normalised(_WEEKDAY_CROWD, 0.35)
_CROWD_WE = _normalised(_WEEKEND_CROWD, 0.35)
_AGIT = _normalised(_AGITATION, 0.6)


def crowd_factor(ts: datetime) -> float:
    """Relative number of people around a drone (mean 1 within each day type)."""
    minute = ts.hour * 60 + ts.minute
    return (_CROWD_WE if is_weekend(ts) else _CROWD_WD)[minute]


def agitation_factor(ts: datetime, *, weekend_agitation: float) -> float:
    """Relative bad-score probability. Weekly mean is 1; weekends are `weekend_agitation` x weekdays."""
    weekday_level = 7.0 / (5.0 + 2.0 * weekend_agitation)
    day = weekday_level * (weekend_agitation if is_weekend(ts) else 1.0)
    return day * _AGIT[ts.hour * 60 + ts.minute]
