"""The fleet model: drones patrolling, seeing citizens, hearing words. Pure and deterministic.

Reports come out as plain dicts of the contract's shape (ReportDict): building pydantic models
here cost more than all the simulation; `encode_report` serialises them, tests validate them.

One call to `minute()` advances every drone one simulated minute and returns their reports;
the work is vectorised over drones with numpy so backfills of millions of reports stay fast.
"""

from __future__ import annotations

import math
import uuid
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np

from peacewatch.platform.contract import SCHEMA_VERSION
from peacewatch.simulator.activity import agitation_factor, crowd_factor
from peacewatch.simulator.config import Hotspot, SimulationConfig
from peacewatch.simulator.population import Population
from peacewatch.simulator.report_dict import ReportDict
from peacewatch.simulator.vocabulary import (
    AGITATION_WORDS,
    COMMON_WORDS,
    agitation_probabilities,
    common_weights,
)

__all__ = ["FleetSimulator", "floor_minute"]

_KM_PER_DEG = 111.32
_PATROL_KM_PER_MIN = 0.25
_BASE_DRAIN = 0.35  # % per minute in flight
_WEAR_PER_DAY = 0.30  # degraded drones: drain grows by 30% of base per simulated day
_CHARGE_PER_MIN = 4.0
_LOW_BATTERY, _FULL_BATTERY = 20.0, 95.0
_OUTAGE_START_P = 0.003  # per minute, flaky drones
_SECOND_BAD_P = 0.15  # a bad report holds two agitated citizens


def floor_minute(ts: datetime) -> datetime:
    return ts.astimezone(UTC).replace(second=0, microsecond=0)


def _hotspot_factor(lat: np.ndarray, lon: np.ndarray, hotspots: list[Hotspot]) -> np.ndarray:
    factor = np.ones_like(lat)
    for h in hotspots:
        dy = (lat - h.lat) * _KM_PER_DEG
        dx = (lon - h.lon) * _KM_PER_DEG * math.cos(math.radians(h.lat))
        inside = dx * dx + dy * dy <= h.radius_km**2
        factor = np.where(inside, np.maximum(factor, h.boost), factor)
    return factor


class FleetSimulator:
    """A tenant's fleet. Same (config, tenant) -> same reports, bit for bit."""

    def __init__(self, config: SimulationConfig, *, tenant: str, start: datetime) -> None:
        self.config = config
        self.tenant = tenant
        self.clock = floor_minute(start)
        self._start = self.clock
        seed = [config.seed, zlib.crc32(tenant.encode())]
        self.rng = np.random.default_rng(seed)
        self.population = Population.generate(size=config.population, seed=config.seed)
        self._names = self.population.names
        self._ids = self.population.ids
        n = config.drones
        self.drone_ids = [f"{tenant}-d{i:04d}" for i in range(n)]
        b = config.bbox
        rng = self.rng
        self.lat = rng.uniform(b.lat_min, b.lat_max, n)
        self.lon = rng.uniform(b.lon_min, b.lon_max, n)
        self.heading = rng.uniform(0, 2 * math.pi, n)
        self.battery = rng.uniform(40.0, 100.0, n)
        self.charging = np.zeros(n, dtype=bool)
        self.outage_left = np.zeros(n, dtype=np.int64)
        picks = rng.permutation(n)
        self.degraded = np.zeros(n, dtype=bool)
        self.degraded[picks[: config.degraded_battery_drones]] = True
        self.flaky = np.zeros(n, dtype=bool)
        flaky_end = config.degraded_battery_drones + config.flaky_drones
        self.flaky[picks[config.degraded_battery_drones : flaky_end]] = True
        # Drones report at fixed offsets inside the minute, spreading the load.
        self.offsets_ms = (np.arange(n) * 60_000 // n).tolist()
        self._hotspots = config.resolved_hotspots()
        gy, gx = np.meshgrid(np.linspace(b.lat_min, b.lat_max, 200), np.linspace(b.lon_min, b.lon_max, 200))
        self._hotspot_norm = float(_hotspot_factor(gy.ravel(), gx.ravel(), self._hotspots).mean())
        self._word_weights = common_weights()

    @property
    def degraded_drones(self) -> list[str]:
        return [d for d, flag in zip(self.drone_ids, self.degraded, strict=True) if flag]

    @property
    def flaky_drones(self) -> list[str]:
        return [d for d, flag in zip(self.drone_ids, self.flaky, strict=True) if flag]

    def bad_probability(self, ts: datetime, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        c = self.config
        base = c.bad_report_rate * agitation_factor(ts, weekend_agitation=c.weekend_agitation)
        p: np.ndarray = np.minimum(base * _hotspot_factor(lat, lon, self._hotspots) / self._hotspot_norm, 1.0)
        return p

    def _move(self) -> None:
        b = self.config.bbox
        rng = self.rng
        n = self.config.drones
        self.heading += rng.normal(0.0, 0.35, n)
        step = np.where(self.charging, 0.0, _PATROL_KM_PER_MIN)
        self.lat += step * np.cos(self.heading) / _KM_PER_DEG
        self.lon += step * np.sin(self.heading) / (_KM_PER_DEG * np.cos(np.radians(self.lat)))
        # Reflect off the edges of the patrol area.
        for arr, lo, hi, flip in (
            (self.lat, b.lat_min, b.lat_max, np.pi),
            (self.lon, b.lon_min, b.lon_max, 0.0),
        ):
            low, high = arr < lo, arr > hi
            arr[low] = 2 * lo - arr[low]
            arr[high] = 2 * hi - arr[high]
            out = low | high
            self.heading[out] = flip - self.heading[out]

    def _battery(self) -> None:
        days = (self.clock - self._start).total_seconds() / 86_400
        drain = _BASE_DRAIN * (1.0 + np.where(self.degraded, _WEAR_PER_DAY * days, 0.0))
        drain = drain + self.rng.normal(0.0, 0.03, self.config.drones)
        self.battery = np.where(self.charging, self.battery + _CHARGE_PER_MIN, self.battery - drain)
        self.battery = self.battery.clip(0.0, 100.0)
        self.charging = np.where(self.charging, self.battery < _FULL_BATTERY, self.battery < _LOW_BATTERY)

    def _outages(self) -> np.ndarray:
        """Which drones report this minute."""
        rng = self.rng
        n = self.config.drones
        self.outage_left = np.maximum(self.outage_left - 1, 0)
        start = self.flaky & (self.outage_left == 0) & (rng.random(n) < _OUTAGE_START_P)
        self.outage_left[start] = rng.integers(10, 120, int(start.sum()))
        reporting: np.ndarray = self.outage_left == 0
        return reporting

    def minute(self) -> list[ReportDict]:
        """Advance one simulated minute; the reports of every reporting drone, in time order."""
        c = self.config
        rng = self.rng
        n = c.drones
        ts = self.clock
        self._move()
        self._battery()
        reporting = self._outages()

        crowd = crowd_factor(ts) * np.where(self.charging, 0.25, 1.0)
        counts = rng.poisson(c.mean_citizens * crowd).clip(0, 40)
        bad = rng.random(n) < self.bad_probability(ts, self.lat, self.lon)
        counts = np.where(bad, np.maximum(counts, 1), counts)
        total = int(counts.sum())
        who = rng.integers(0, len(self.population), total)
        scores = (
            rng.normal(self.population.calm[who], 7.0).round().clip(c.bad_threshold, 100).astype(np.int64)
        )
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        for b in np.flatnonzero(bad):
            k = 2 if counts[b] >= 2 and rng.random() < _SECOND_BAD_P else 1
            scores[starts[b] : starts[b] + k] = rng.integers(0, c.bad_threshold, k)

        n_words = rng.poisson(c.mean_words * np.sqrt(crowd))
        common = rng.choice(len(COMMON_WORDS), size=int(n_words.sum()), p=self._word_weights)
        word_starts = np.concatenate(([0], np.cumsum(n_words)[:-1]))
        p_bad_words = np.array(agitation_probabilities(near_bad=True))
        p_bg_words = np.array(agitation_probabilities(near_bad=False))
        heard_agitation = rng.random((n, len(AGITATION_WORDS))) < np.where(
            bad[:, None], p_bad_words, p_bg_words
        )
        id_bytes = rng.bytes(16 * n)

        # Plain lists for the per-report loop: numpy scalar indexing costs ~10x a list's.
        who_l, scores_l, counts_l, starts_l = who.tolist(), scores.tolist(), counts.tolist(), starts.tolist()
        common_l, nw_l, ws_l = common.tolist(), n_words.tolist(), word_starts.tolist()
        lat_l, lon_l, batt_l = (
            self.lat.round(6).tolist(),
            self.lon.round(6).tolist(),
            self.battery.round(1).tolist(),
        )
        heard_l = heard_agitation.tolist()
        ids, names = self._ids, self._names
        reports: list[ReportDict] = []
        for i in np.flatnonzero(reporting).tolist():
            s, k = starts_l[i], counts_l[i]
            ws = ws_l[i]
            words = [COMMON_WORDS[w] for w in common_l[ws : ws + nw_l[i]]]
            words += [AGITATION_WORDS[j] for j, heard in enumerate(heard_l[i]) if heard]
            reports.append(
                {
                    "schema_version": SCHEMA_VERSION,
                    "report_id": uuid.UUID(bytes=id_bytes[16 * i : 16 * i + 16], version=4),
                    "drone_id": self.drone_ids[i],
                    "ts": ts + timedelta(milliseconds=self.offsets_ms[i]),
                    "lat": lat_l[i],
                    "lon": lon_l[i],
                    "battery_pct": batt_l[i],
                    "citizens": [
                        {"citizen_id": ids[w], "name": names[w], "peacescore": sc}
                        for w, sc in zip(who_l[s : s + k], scores_l[s : s + k], strict=True)
                    ],
                    "words": words,
                }
            )
        self.clock = ts + timedelta(minutes=1)
        return reports

    def reports(self, *, minutes: int) -> Iterator[ReportDict]:
        for _ in range(minutes):
            yield from self.minute()
