from __future__ import annotations

import itertools
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from peacewatch.platform.contract import parse_report
from peacewatch.platform.errors import InvalidReport
from peacewatch.simulator.activity import agitation_factor, crowd_factor
from peacewatch.simulator.config import SimulationConfig
from peacewatch.simulator.fleet import FleetSimulator, _hotspot_factor
from peacewatch.simulator.malformed import MALFORMED_KINDS, corrupt
from peacewatch.simulator.report_dict import ReportDict, encode_report
from peacewatch.simulator.vocabulary import AGITATION_WORDS

MONDAY = datetime(2026, 11, 2, tzinfo=UTC)
CONFIG = SimulationConfig(drones=30, seed=7)


def _is_bad(report: ReportDict, threshold: int = 20) -> bool:
    return any(c["peacescore"] < threshold for c in report["citizens"])


@pytest.fixture(scope="module")
def week() -> list[ReportDict]:
    """One simulated week, Monday 00:00 UTC onwards."""
    fleet = FleetSimulator(CONFIG, tenant="north-precinct", start=MONDAY)
    return list(fleet.reports(minutes=7 * 1440))


def test_every_report_satisfies_the_contract(week: list[ReportDict]) -> None:
    for report in week[::97]:
        parsed = parse_report(encode_report(report))
        assert str(parsed.report_id) == str(report["report_id"])
        assert parsed.drone_id.startswith("north-precinct-d")


def test_one_report_per_drone_minute_except_outages(week: list[ReportDict]) -> None:
    expected = 7 * 1440 * CONFIG.drones
    assert 0.97 * expected < len(week) <= expected
    per_drone_minute = {(r["drone_id"], r["ts"].replace(second=0, microsecond=0)) for r in week}
    assert len(per_drone_minute) == len(week)  # never two reports for one drone in one minute
    assert len({r["report_id"] for r in week}) == len(week)


def test_bad_report_rate_is_in_the_configured_band(week: list[ReportDict]) -> None:
    rate = sum(_is_bad(r) for r in week) / len(week)
    assert 0.005 <= rate <= 0.010, rate
    assert abs(rate - CONFIG.bad_report_rate) / CONFIG.bad_report_rate < 0.2, rate


def test_weekends_are_more_agitated_by_the_configured_factor(week: list[ReportDict]) -> None:
    counts: dict[bool, list[int]] = {True: [0, 0], False: [0, 0]}
    for r in week:
        c = counts[r["ts"].weekday() >= 5]
        c[0] += _is_bad(r)
        c[1] += 1
    weekend = counts[True][0] / counts[True][1]
    weekday = counts[False][0] / counts[False][1]
    ratio = weekend / weekday
    assert 1.25 < ratio < 2.0, ratio  # configured 1.6; ~2,300 bad reports give this much noise


def test_alerts_peak_late_evening(week: list[ReportDict]) -> None:
    bad_by_hour: dict[int, int] = defaultdict(int)
    for r in week:
        bad_by_hour[r["ts"].hour] += _is_bad(r)
    evening = sum(bad_by_hour[h] for h in (21, 22, 23))
    small_hours = sum(bad_by_hour[h] for h in (3, 4, 5))
    assert evening > 3 * small_hours
    assert max(bad_by_hour, key=bad_by_hour.__getitem__) in (21, 22, 23, 0)


def test_crowds_follow_the_daily_curve(week: list[ReportDict]) -> None:
    def mean_citizens(day: int, hour: int) -> float:
        rows = [r for r in week if r["ts"].weekday() == day and r["ts"].hour == hour]
        return sum(len(r["citizens"]) for r in rows) / len(rows)

    # Tuesday: rush hours busier than the night; Saturday: no morning rush.
    assert mean_citizens(1, 8) > 2 * mean_citizens(1, 3)
    assert mean_citizens(1, 12) > 2 * mean_citizens(1, 3)
    assert mean_citizens(1, 18) > 2 * mean_citizens(1, 3)
    assert mean_citizens(5, 8) < 0.7 * mean_citizens(1, 8)


def test_activity_curves_average_to_one() -> None:
    minutes = [MONDAY + timedelta(minutes=m) for m in range(0, 7 * 1440, 7)]
    crowd = sum(crowd_factor(t) for t in minutes) / len(minutes)
    agitation = sum(agitation_factor(t, weekend_agitation=1.6) for t in minutes) / len(minutes)
    assert crowd == pytest.approx(1.0, abs=0.02)
    assert agitation == pytest.approx(1.0, abs=0.02)


def test_agitation_words_are_over_represented_near_bad_scores(week: list[ReportDict]) -> None:
    bad = [r for r in week if _is_bad(r)]
    calm = [r for r in week if not _is_bad(r)]
    lifts = []
    for word in AGITATION_WORDS:
        p_bad = sum(word in r["words"] for r in bad) / len(bad)
        p_calm = sum(word in r["words"] for r in calm) / len(calm)
        lifts.append(p_bad / p_calm)
    assert min(lifts) > 20
    assert lifts[0] == max(lifts)  # "uprising" is the planted top word


def test_hotspot_is_more_agitated(week: list[ReportDict]) -> None:
    import numpy as np

    hotspots = CONFIG.resolved_hotspots()
    lat = np.array([r["lat"] for r in week])
    lon = np.array([r["lon"] for r in week])
    inside = _hotspot_factor(lat, lon, hotspots) > 1
    bad = np.array([_is_bad(r) for r in week])
    assert inside.sum() > 500
    assert bad[inside].mean() > 2.5 * bad[~inside].mean()


def test_citizens_recur(week: list[ReportDict]) -> None:
    sightings = [c["citizen_id"] for r in week for c in r["citizens"]]
    assert len(set(sightings)) <= CONFIG.population
    assert len(sightings) > 20 * len(set(sightings))
    names = {c["citizen_id"]: c["name"] for r in week for c in r["citizens"]}
    for r in week[:500]:
        for c in r["citizens"]:
            assert names[c["citizen_id"]] == c["name"]  # one name per citizen, always


def test_battery_drains_and_recharges(week: list[ReportDict]) -> None:
    by_drone: dict[str, list[float]] = defaultdict(list)
    for r in week:
        by_drone[r["drone_id"]].append(r["battery_pct"])
    for levels in by_drone.values():
        assert min(levels) < 25
        assert max(levels) > 90
        assert all(0 <= b <= 100 for b in levels)


def test_planted_faults(week: list[ReportDict]) -> None:
    fleet = FleetSimulator(CONFIG, tenant="north-precinct", start=MONDAY)
    (flaky,) = fleet.flaky_drones
    (degraded,) = fleet.degraded_drones
    counts: dict[str, int] = defaultdict(int)
    for r in week:
        counts[r["drone_id"]] += 1
    full = 7 * 1440
    assert counts[flaky] < full * 0.95
    assert all(n == full for d, n in counts.items() if d != flaky)

    def charges_per_day(drone: str, day: int) -> int:
        levels = [r["battery_pct"] for r in week if r["drone_id"] == drone and r["ts"].weekday() == day]
        return sum(1 for a, b in itertools.pairwise(levels) if b > a + 2 and a < 25)

    assert charges_per_day(degraded, 6) > charges_per_day(degraded, 0)


def test_same_seed_same_reports_other_seed_other_reports() -> None:
    def run(seed: int) -> list[bytes]:
        fleet = FleetSimulator(SimulationConfig(drones=5, seed=seed), tenant="t-one", start=MONDAY)
        return [encode_report(r) for r in fleet.reports(minutes=30)]

    assert run(1) == run(1)
    assert run(1) != run(2)


def test_tenants_get_different_fleets() -> None:
    a = FleetSimulator(CONFIG, tenant="north-precinct", start=MONDAY).minute()
    b = FleetSimulator(CONFIG, tenant="south-precinct", start=MONDAY).minute()
    assert {r["report_id"] for r in a}.isdisjoint({r["report_id"] for r in b})
    assert all(r["drone_id"].startswith("south-precinct-") for r in b)


@pytest.mark.parametrize("kind", MALFORMED_KINDS)
def test_malformed_reports_fail_the_contract(kind: str) -> None:
    report = FleetSimulator(CONFIG, tenant="north-precinct", start=MONDAY + timedelta(hours=9)).minute()[0]
    rng = random.Random(3)
    for _ in range(10):
        payload = corrupt(report, kind=kind, rng=rng)  # type: ignore[arg-type]
        with pytest.raises(InvalidReport) as info:
            parse_report(payload)
        expected = {
            "bad_json": "not valid JSON",
            "missing_field": "Field required",
            "out_of_range": "than or equal to",
            "wrong_type": "valid",
            "unknown_version": "unknown schema_version",
        }[kind]
        assert expected in info.value.reason
