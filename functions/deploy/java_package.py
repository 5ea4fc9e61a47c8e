"""Build the alert function for Pulsar's Java runtime: functions/java compiled against the API
jars of our Pulsar distribution, with the contract's JSON Schema (generated from the pydantic
models) inside the jar. jackson-core, which the Java code reads JSON with, ships in the jar too:
the runtime's own copy is an implementation detail of the instance, not an API. Built once per
change (`platform/java_build.py`)."""

from __future__ import annotations

from pathlib import Path

from peacewatch.platform.contract import Report
from peacewatch.platform.contract_json import contract_json_text
from peacewatch.platform.java_build import build_jar, lib_jar
from peacewatch.platform.progress import LOGGED, Progress
from peacewatch.platform.settings import Settings
from peacewatch.platform.stack.install import pulsar_home

__all__ = ["JAVA_ALERT_CLASS", "build_function_jar", "java_sources"]

JAVA_ALERT_CLASS = "peacewatch.alerting.AlertFunction"
_SOURCES = Path(__file__).parents[1] / "java"
_RESOURCE = "peacewatch/alerting/report.schema.json"
# Compile-time only (the runtime provides the API); jackson-core is bundled.
_API_JARS = ("pulsar-functions-api", "pulsar-client-api", "slf4j-api")
_BUNDLED = ("jackson-core",)


def java_sources() -> list[Path]:
    return sorted(_SOURCES.rglob("*.java"))


def build_function_jar(settings: Settings, *, progress: Progress = LOGGED) -> Path:
    """The alert function's jar (built once per change), or InstallError in one line."""
    lib = pulsar_home(settings) / "lib"
    baked = sorted((settings.cache_dir / "functions").glob("alerting-*.jar"))
    if not lib.is_dir() and len(baked) == 1:
        return baked[0]  # an image built it in (the peacewatch image has no Pulsar distribution)
    api = [lib_jar(lib, a) for a in _API_JARS]
    bundled = [lib_jar(lib, a) for a in _BUNDLED]
    return build_jar(
        out_dir=settings.cache_dir / "functions", name="alerting", what="the Java alert function",
        sources=java_sources(), classpath=api, bundled=bundled,
        resources={_RESOURCE: contract_json_text(Report)}, progress=progress,
    )  # fmt: skip
