"""Jars compiled here from our Java sources against the Pulsar distribution's jars.

A jar is cached under a key of everything that goes in (sources, resources, the jars compiled
against; javac compiles for --release 17 whichever JDK it is), so it is rebuilt only after a change
and, once built, needs no JDK again."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from peacewatch.platform.errors import InstallError
from peacewatch.platform.progress import LOGGED, Progress

__all__ = ["build_jar", "lib_jar"]


def lib_jar(lib: Path, artifact: str) -> Path:
    """The distribution's jar of `artifact` (its newest version), or InstallError in one line."""
    found = sorted(p for p in lib.glob("*.jar") if p.name.rsplit("-", 1)[0].endswith(artifact))
    if not found:
        raise InstallError(
            f"{artifact}*.jar not found in {lib}: our Java code is built against the Pulsar "
            f"distribution (run `peacewatch stack up` once to install it)"
        )
    return found[-1]


def build_jar(
    *,
    out_dir: Path,
    name: str,
    what: str,
    sources: Sequence[Path],
    classpath: Sequence[Path],
    bundled: Sequence[Path] = (),
    resources: Mapping[str, str] | None = None,
    progress: Progress = LOGGED,
) -> Path:
    """`out_dir/{name}-{digest}.jar`: `sources` compiled against `classpath`, with `resources`
    (path in the jar -> text) and the classes of the `bundled` jars inside. `what` names the code
    in messages ("the Java alert function")."""
    resources = dict(resources or {})
    digest = hashlib.sha256()
    for resource, text in sorted(resources.items()):
        digest.update(resource.encode())
        digest.update(text.encode())
    for path in [*sources, *classpath, *bundled]:
        digest.update(path.name.encode())
        digest.update(path.read_bytes() if path.suffix == ".java" else str(path.stat().st_size).encode())
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{name}-{digest.hexdigest()[:12]}.jar"
    if target.is_file():
        return target  # built before: no JDK needed to use it again
    javac = shutil.which("javac")
    if javac is None:
        raise InstallError(
            f"javac not found: {what} needs a JDK 17+ (apt-get install openjdk-17-jdk-headless)"
        )
    with tempfile.TemporaryDirectory() as tmp, progress.status(f"Compiling {what} ..."):
        classes = Path(tmp) / "classes"
        proc = subprocess.run(
            [javac, "--release", "17", "-nowarn", "-d", str(classes),
             "-cp", ":".join(str(j) for j in [*classpath, *bundled]), *map(str, sources)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise InstallError(f"javac failed on {what}: {proc.stderr.strip()[-600:]}")
        tmp_jar = target.with_suffix(".jar.tmp")
        with zipfile.ZipFile(tmp_jar, "w", compression=zipfile.ZIP_DEFLATED) as jar:
            jar.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nCreated-By: peacewatch\n")
            for path in sorted(classes.rglob("*.class")):
                jar.write(path, path.relative_to(classes).as_posix())
            for resource, text in resources.items():
                jar.writestr(resource, text)
            for dependency in bundled:
                with zipfile.ZipFile(dependency) as dep:
                    for entry in dep.infolist():
                        if not entry.filename.startswith("META-INF/") and not entry.is_dir():
                            jar.writestr(entry.filename, dep.read(entry))
        tmp_jar.replace(target)
    return target
