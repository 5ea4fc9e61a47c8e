"""Words the drones hear. Agitation words are far more frequent near bad peacescores."""

from __future__ import annotations

import numpy as np

__all__ = ["AGITATION_WORDS", "COMMON_WORDS", "agitation_probabilities", "common_weights"]

COMMON_WORDS: tuple[str, ...] = tuple(
    (
        "hello thanks weather coffee train bus metro work school lunch dinner market bread cheese wine "
        "football music movie phone call message meeting office friend family mother father child dog "
        "cat park garden river bridge street square shop price sale money bank ticket holiday weekend "
        "morning evening night tomorrow yesterday today late early quick slow rain sun cold warm news "
        "game match team score goal book library museum church hospital doctor pharmacy police taxi bike "
        "car traffic parking queue delivery package pizza burger salad soup tea beer juice water "
        "birthday party wedding concert festival tourist map photo camera ice cream bakery butcher "
        "laundry rent flat neighbour noise lift stairs keys wallet umbrella jacket shoes shirt dress "
        "homework exam teacher student class lesson job boss salary holiday beach mountain train station"
    ).split()
)
# Planted in this order of strength: analysts' lift table should rank them so.
AGITATION_WORDS: tuple[str, ...] = ("uprising", "riot", "traitor", "burn", "weapon")
_P_NEAR_BAD = (0.60, 0.45, 0.35, 0.28, 0.22)
_P_BACKGROUND = 0.002


def common_weights() -> np.ndarray:
    """Zipf-like weights over COMMON_WORDS."""
    ranks = np.arange(1, len(COMMON_WORDS) + 1, dtype=float)
    w: np.ndarray = 1.0 / ranks**0.9
    normalised: np.ndarray = w / w.sum()
    return normalised


def agitation_probabilities(*, near_bad: bool) -> tuple[float, ...]:
    return _P_NEAR_BAD if near_bad else (_P_BACKGROUND,) * len(AGITATION_WORDS)
