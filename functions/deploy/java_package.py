"""Build the alert function for Pulsar's Java runtime: functions/java compiled against the API
jars of our Pulsar distribution, with the contract's JSON Schema (generated from the pydantic
models) inside the jar. jackson-core, which the Java code reads JSON with, ships in the jar too:
the runtime's own copy is an implementation detail of the instance, not an API.

The jar is cached under a key of everything that goes in (sources, schema, jars; javac compiles
for --release 17 whichever JDK it is), so a deploy rebuilds only after a change."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

from peacewatch.platform.contract import Report
from peacewatch.platform.contract_json import contract_json_text
from peacewatch.platform.errors import InstallError
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


def _lib_jar(lib: Path, artifact: str) -> Path:
    found = sorted(p for p in lib.glob("*.jar") if p.name.rsplit("-", 1)[0].endswith(artifact))
    if not found:
        raise InstallError(
            f"{artifact}*.jar not found in {lib}: the Java alert function is built against the Pulsar "
            f"distribution (run `peacewatch stack up` once to install it)"
        )
    return found[-1]


def build_function_jar(settings: Settings, *, progress: Progress = LOGGED) -> Path:
    """The alert function's jar (built once per change), or InstallError in one line."""
    lib = pulsar_home(settings) / "lib"
    baked = sorted((settings.cache_dir / "functions").glob("alerting-*.jar"))
    if not lib.is_dir() and len(baked) == 1:
        return baked[0]  # an image built it in (the peacewatch image has no Pulsar distribution)
    api = [_lib_jar(lib, a) for a in _API_JARS]
    bundled = [_lib_jar(lib, a) for a in _BUNDLED]
    schema = contract_json_text(Report)
    digest = hashlib.sha256(schema.encode())
    for path in [*java_sources(), *api, *bundled]:
        digest.update(path.name.encode())
        digest.update(path.read_bytes() if path.suffix == ".java" else str(path.stat().st_size).encode())
    out_dir = settings.cache_dir / "functions"
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"alerting-{digest.hexdigest()[:12]}.jar"
    if target.is_file():
        return target  # built before: no JDK needed to deploy it again
    javac = shutil.which("javac")
    if javac is None:
        raise InstallError(
            "javac not found: the Java alert function needs a JDK 17+ "
            "(apt-get install openjdk-17-jdk-headless)"
        )
    with tempfile.TemporaryDirectory() as tmp, progress.status("Compiling the Java alert function ..."):
        classes = Path(tmp) / "classes"
        proc = subprocess.run(
            [javac, "--release", "17", "-nowarn", "-d", str(classes),
             "-cp", ":".join(str(j) for j in [*api, *bundled]), *map(str, java_sources())],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise InstallError(f"javac failed on the Java alert function: {proc.stderr.strip()[-600:]}")
        tmp_jar = target.with_suffix(".jar.tmp")
        with zipfile.ZipFile(tmp_jar, "w", compression=zipfile.ZIP_DEFLATED) as jar:
            jar.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nCreated-By: peacewatch\n")
            for path in sorted(classes.rglob("*.class")):
                jar.write(path, path.relative_to(classes).as_posix())
            jar.writestr(_RESOURCE, schema)
            for dependency in bundled:
                with zipfile.ZipFile(dependency) as dep:
                    for entry in dep.infolist():
                        if not entry.filename.startswith("META-INF/") and not entry.is_dir():
                            jar.writestr(entry.filename, dep.read(entry))
        tmp_jar.replace(target)
    return target
