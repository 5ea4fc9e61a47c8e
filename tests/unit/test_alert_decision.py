from __future__ import annotations

import uuid
import zipfile
from datetime import UTC, datetime, timedelta

import pytest

from peacewatch.functions.desk.tail import parse_since
from peacewatch.functions.runtime.alert_log import format_alert_line, parse_alert_line
from peacewatch.functions.runtime.decision import AlertConfig, bad_citizens, cooldown_allows, decide
from peacewatch.platform.contract import Citizen, Report, alert_id_for
from peacewatch.platform.contract_data import ReportData, parse_report_data
from peacewatch.platform.errors import InvalidConfig

T0 = datetime(2026, 11, 2, 22, 15, tzinfo=UTC)
NOW = T0 + timedelta(seconds=1)


def _report(*scores: tuple[str, int], ts: datetime = T0, drone: str = "north-d0001") -> ReportData:
    # What the function sees: a report validated by the contract's dict gate.
    return parse_report_data(
        Report(
            report_id=uuid.uuid4(),
            drone_id=drone,
            ts=ts,
            lat=48.85,
            lon=2.35,
            battery_pct=50.0,
            citizens=[Citizen(citizen_id=cid, name=f"Name {cid}", peacescore=s) for cid, s in scores],
            words=[],
        ).to_json()
    )


def test_only_citizens_below_the_threshold_alert() -> None:
    report = _report(("c1", 19), ("c2", 20), ("c3", 0), ("c4", 85))
    alerts = decide(report, tenant="north", config=AlertConfig(threshold=20), raised_at=NOW)
    assert [a.citizen_id for a in alerts] == ["c1", "c3"]
    first = alerts[0]
    assert first.alert_id == alert_id_for(report["report_id"], "c1")
    assert (first.tenant, first.drone_id, first.lat, first.lon) == ("north", "north-d0001", 48.85, 2.35)
    assert (first.name, first.peacescore, first.threshold, first.ts, first.raised_at) == (
        "Name c1",
        19,
        20,
        T0,
        NOW,
    )


def test_threshold_is_the_tenants() -> None:
    report = _report(("c1", 25))
    assert decide(report, tenant="t", config=AlertConfig(threshold=20), raised_at=NOW) == []
    assert len(decide(report, tenant="t", config=AlertConfig(threshold=30), raised_at=NOW)) == 1


def test_a_citizen_listed_twice_alerts_once() -> None:
    report = _report(("c1", 3), ("c1", 4))
    assert [c["peacescore"] for c in bad_citizens(report, threshold=20)] == [3]


def test_redelivered_report_gives_the_same_alert_ids() -> None:
    report = _report(("c1", 3), ("c2", 5))
    first = decide(report, tenant="t", config=AlertConfig(), raised_at=NOW)
    again = decide(report, tenant="t", config=AlertConfig(), raised_at=NOW + timedelta(minutes=5))
    assert [a.alert_id for a in first] == [a.alert_id for a in again]


@pytest.mark.parametrize(
    ("last", "event", "cooldown", "allowed"),
    [
        (None, 1000.0, 600.0, True),  # never alerted
        (1000.0, 1030.0, 600.0, False),  # another drone, 30 s later
        (1000.0, 1599.9, 600.0, False),
        (1000.0, 1600.0, 600.0, True),  # window over
        (1000.0, 700.0, 600.0, False),  # late report from inside the window
        (1000.0, 1001.0, 0.0, True),  # cooldown off
    ],
)
def test_cooldown_rule(last: float | None, event: float, cooldown: float, allowed: bool) -> None:
    assert cooldown_allows(last_alert_ts=last, event_ts=event, cooldown_s=cooldown) is allowed


def test_decide_consults_the_cooldown_state_per_citizen() -> None:
    report = _report(("c1", 3), ("c2", 4))
    state = {"c1": T0.timestamp() - 30}  # c1 alerted 30 s ago by another drone
    asked: list[str] = []

    def last(cid: str) -> float | None:
        asked.append(cid)
        return state.get(cid)

    alerts = decide(report, tenant="t", config=AlertConfig(cooldown_s=600), raised_at=NOW, last_alert_ts=last)
    assert [a.citizen_id for a in alerts] == ["c2"]
    assert asked == ["c1", "c2"]
    asked.clear()
    decide(report, tenant="t", config=AlertConfig(cooldown_s=0), raised_at=NOW, last_alert_ts=last)
    assert asked == []  # no state reads when the cooldown is off


def test_alert_log_line_round_trips() -> None:
    alert = decide(_report(("c000001", 7)), tenant="north-precinct", config=AlertConfig(), raised_at=NOW)[0]
    line = format_alert_line(alert)
    assert line.startswith("ALERT tenant=north-precinct drone=north-d0001 lat=48.85000 lon=2.35000")
    parsed = parse_alert_line(f"[2026-11-02 22:15:01 +0000] [WARNING] alerting.py: {line}")
    assert parsed is not None
    assert parsed["citizen"] == "Name c000001"
    assert parsed["citizen_id"] == "c000001"
    assert parsed["peacescore"] == 7
    assert parsed["threshold"] == 20
    assert parsed["alert_id"] == str(alert.alert_id)
    assert parsed["lat"] == pytest.approx(48.85)
    assert parse_alert_line("[..] [INFO] python_instance.py: Starting Python instance") is None


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"threshold": "twenty"}, "threshold"),
        ({"threshold": 500}, "threshold"),
        ({"cooldown_s": -1}, "cooldown_s"),
        ({"cooldown_s": float("nan")}, "cooldown_s"),
        ({"treshold": 20}, "treshold"),
    ],
)
def test_user_config_is_refused_with_the_key_named(values: dict[str, object], says: str) -> None:
    with pytest.raises(InvalidConfig, match=f"config {says}:"):
        AlertConfig.from_user_config(values)


def test_user_config_reads_what_deploy_writes() -> None:
    config = AlertConfig(threshold=25, cooldown_s=600)
    assert AlertConfig.from_user_config(config.user_config()) == config
    assert AlertConfig.from_user_config({}) == AlertConfig()


def test_alert_line_survives_names_that_broke_shlex() -> None:
    report = parse_report_data(
        Report(
            report_id=uuid.uuid4(), drone_id="d1", ts=T0, lat=1.0, lon=2.0, battery_pct=3.0,
            citizens=[Citizen(citizen_id="c1", name='Jo "the" \\ Doe\nALERT tenant=x', peacescore=1)],
        ).to_json()
    )  # fmt: skip
    alert = decide(report, tenant="t-1", config=AlertConfig(), raised_at=NOW)[0]
    parsed = parse_alert_line("[x] [WARNING]: " + format_alert_line(alert))
    assert parsed is not None
    assert (parsed["citizen"], parsed["tenant"]) == (alert.name, "t-1")


def test_parse_since() -> None:
    assert parse_since("10m") == timedelta(minutes=10)
    assert parse_since("2h") == timedelta(hours=2)
    with pytest.raises(ValueError, match=r"e\.g\. 30s"):
        parse_since("ten minutes")


def test_function_package_is_self_contained(tmp_path) -> None:  # type: ignore[no-untyped-def]

    from peacewatch.functions.deploy.packaging import build_function_zip
    from peacewatch.platform.settings import Settings

    settings = Settings(state_dir=tmp_path / "state")  # cache stays shared: wheels download once
    package = build_function_zip(settings)
    names = zipfile.ZipFile(package).namelist()
    # Pulsar's python_instance_main.py extracts the zip and reads <the file's own name>/src and
    # /deps: a folder named otherwise leaves the function's code unimportable (seen on Kubernetes,
    # where the instance's interpreter does not have peacewatch installed).
    root = package.stem
    assert root.startswith("alerting-")
    assert all(n.startswith(f"{root}/") for n in names), names[:3]
    assert f"{root}/src/peacewatch/functions/runtime/alerting.py" in names
    assert f"{root}/src/peacewatch/platform/contract.py" in names
    assert f"{root}/src/peacewatch/cli/app.py" not in names  # only what the function imports
    wheels = {n.split("/")[-1].split("-")[0].lower() for n in names if n.startswith(f"{root}/deps/")}
    assert {"pydantic", "pydantic_core", "annotated_types", "typing_extensions"} <= wheels


def test_the_function_package_imports_without_peacewatch_installed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The package's src alone must load the classes the deployed Python function names (function
    and input serde), as in an instance whose interpreter lacks peacewatch (Kubernetes). `python -S`
    skips the .pth of our editable install; the dependencies come from site-packages on PYTHONPATH.
    (A module missing from the former hand-kept list, cooldown_cache, failed here.)"""
    import subprocess
    import sys
    import sysconfig

    from peacewatch.functions.deploy.alerting import alert_function_spec
    from peacewatch.functions.deploy.packaging import build_function_zip
    from peacewatch.platform.settings import Settings

    spec = alert_function_spec("north", config=AlertConfig(), runtime="python")
    classes = [spec.class_name, spec.input_serde]
    package = build_function_zip(Settings(state_dir=tmp_path / "state"))
    zipfile.ZipFile(package).extractall(tmp_path)
    src = tmp_path / package.stem / "src"
    path = f"{src}:{sysconfig.get_paths()['purelib']}"
    load = (
        "import importlib, sys\n"
        "for name in sys.argv[1:]:\n"
        "    module, _, cls = name.rpartition('.')\n"
        "    getattr(importlib.import_module(module), cls)\n"
        "print(importlib.import_module('peacewatch.functions.runtime.alerting').__file__)"
    )
    proc = subprocess.run(
        [sys.executable, "-S", "-c", load, *classes],
        capture_output=True, text=True, env={"PYTHONPATH": path}, check=False, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-1500:]
    assert proc.stdout.strip().startswith(str(src)), proc.stdout


def test_a_new_force_gets_the_java_function_with_the_measured_jvm_options() -> None:
    from pathlib import Path

    from peacewatch.functions.deploy.alerting import JAVA_INSTANCE_FLAGS, alert_function_spec
    from peacewatch.tenants.spec import TenantSpec

    spec = TenantSpec(name="north", display_name="North")
    assert spec.alerting.runtime == "java"
    java = alert_function_spec("north", config=spec.alerting.function_config()).function_config(
        package=Path("alerting.jar")
    )
    assert java["runtime"] == "JAVA"
    assert java["runtimeFlags"] == JAVA_INSTANCE_FLAGS
    assert "-Xmx" not in JAVA_INSTANCE_FLAGS  # the worker's own -Xmx comes later and would win
    python = alert_function_spec("north", config=AlertConfig(threshold=20), runtime="python")
    assert "runtimeFlags" not in python.function_config(package=Path("alerting.zip"))
