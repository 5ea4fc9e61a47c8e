"""Fetch and build the stack's real components into the cache, once; later runs work offline.

- Apache Pulsar: the official binary distribution from Maven Central via the ordinary Maven
  client (org.apache.pulsar:pulsar-server-distribution:<v>:tar.gz:bin), plus the jcloud
  tiered-storage offloader nar from pulsar-offloader-distribution.
- MinIO: `go install github.com/minio/minio@<pinned>` from the Go module proxy.
- helm (for the chart's tests): `go install helm.sh/helm/v3/cmd/helm@<pinned>`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from peacewatch.platform.errors import InstallError
from peacewatch.platform.progress import Progress
from peacewatch.platform.settings import Settings

__all__ = [
    "check_tools",
    "ensure_helm",
    "ensure_minio",
    "ensure_pulsar",
    "helm_binary",
    "maven_artifact",
    "pulsar_home",
]

_MARKER = ".peacewatch-complete"


def _java_major() -> int | None:
    java = shutil.which("java")
    if java is None:
        return None
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False).stderr
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def check_tools(*, need_go: bool) -> None:
    """Clear one-line errors for missing toolchains, before any download starts."""
    major = _java_major()
    if major is None or major < 17:
        raise InstallError(
            f"Java 17+ is required (found {major or 'none'}): apt-get install openjdk-17-jre-headless"
        )
    if shutil.which("mvn") is None:
        raise InstallError("Maven is required to fetch Pulsar from Maven Central: apt-get install maven")
    if need_go and shutil.which("go") is None:
        raise InstallError("Go is required to build MinIO (go install): install Go 1.24+ from go.dev or apt")


def _run(cmd: list[str], *, env: dict[str, str] | None = None, what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-8:])
        raise InstallError(f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}")


def maven_artifact(settings: Settings, coords: str, *, progress: Progress) -> Path:
    """group:artifact:version:type:classifier -> the file in our Maven repository (downloaded once)."""
    group, artifact, version, kind, classifier = coords.split(":")
    repo = settings.cache_dir / "m2"
    path = repo.joinpath(*group.split("."), artifact, version, f"{artifact}-{version}-{classifier}.{kind}")
    if path.exists():
        return path
    with progress.status(f"Downloading {coords} from Maven Central ..."):
        _run(
            [
                "mvn",
                "-B",
                "-q",
                f"-Dmaven.repo.local={repo}",
                "dependency:get",
                f"-Dartifact={coords}",
                "-Dtransitive=false",
            ],
            what=f"Maven download of {coords}",
        )
    if not path.exists():
        raise InstallError(f"Maven reported success but {path} is missing")
    return path


def _extract(archive: Path, dest: Path, *, progress: Progress, label: str) -> None:
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        with progress.counting(label, total=len(members)) as advance:
            for member in members:
                tar.extract(member, dest, filter="tar")
                advance(1)


def pulsar_home(settings: Settings) -> Path:
    return settings.cache_dir / "pulsar" / f"apache-pulsar-{settings.pulsar.version}"


def ensure_pulsar(settings: Settings, *, progress: Progress) -> Path:
    """Unpacked Pulsar distribution with the jcloud offloader in offloaders/."""
    home = pulsar_home(settings)
    if (home / _MARKER).exists():
        return home
    check_tools(need_go=False)
    version = settings.pulsar.version
    dist = maven_artifact(
        settings, f"org.apache.pulsar:pulsar-server-distribution:{version}:tar.gz:bin", progress=progress
    )
    offloaders = maven_artifact(
        settings, f"org.apache.pulsar:pulsar-offloader-distribution:{version}:tar.gz:bin", progress=progress
    )
    home.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=home.parent) as tmp:
        _extract(dist, Path(tmp), progress=progress, label=f"Unpacking Pulsar {version}")
        unpacked = Path(tmp) / f"apache-pulsar-{version}"
        (unpacked / "offloaders").mkdir(exist_ok=True)
        with tarfile.open(offloaders) as tar:
            nar = f"apache-pulsar-offloaders-{version}/offloaders/tiered-storage-jcloud-{version}.nar"
            source = tar.extractfile(nar)
            if source is None:
                raise InstallError(f"{nar} not found in {offloaders}")
            with source, (unpacked / "offloaders" / Path(nar).name).open("wb") as out:
                shutil.copyfileobj(source, out)
        if home.exists():
            shutil.rmtree(home)
        unpacked.rename(home)
    (home / _MARKER).write_text(version)
    progress.note(f"Pulsar {version} ready in {home}")
    return home


def minio_binary(settings: Settings) -> Path:
    return settings.cache_dir / "bin" / f"minio-{settings.minio.module_version}"


def helm_binary(settings: Settings) -> Path:
    return settings.cache_dir / "bin" / f"helm-{settings.helm_version}"


def prometheus_binary(settings: Settings) -> Path:
    return settings.cache_dir / "bin" / f"prometheus-{settings.prometheus_version}"


def go_install(settings: Settings, *, package: str, binary: Path, progress: Progress, note: str = "") -> Path:
    """`go install package` into the cache (module and build caches too, so it works offline after)."""
    if binary.exists():
        return binary
    check_tools(need_go=True)
    binary.parent.mkdir(parents=True, exist_ok=True)
    go_cache = settings.cache_dir / "go"
    with tempfile.TemporaryDirectory(dir=binary.parent) as gobin:
        env = {
            **os.environ,
            "GOBIN": gobin,
            "GOMODCACHE": str(go_cache / "mod"),
            "GOCACHE": str(go_cache / "build"),
            "GOTOOLCHAIN": "local",
            "CGO_ENABLED": "0",
        }
        with progress.status(f"Building `go install {package}`{note} ..."):
            _run(["go", "install", package], env=env, what=f"go install of {package}")
        built = next(Path(gobin).iterdir())
        built.rename(binary)
    progress.note(f"{binary.name} built: {binary}")
    return binary


def ensure_minio(settings: Settings, *, progress: Progress) -> Path:
    """MinIO server binary built from source with the Go toolchain."""
    package = f"github.com/minio/minio@{settings.minio.module_version}"
    return go_install(settings, package=package, binary=minio_binary(settings), progress=progress,
                       note=" (first time: ~5 min)")  # fmt: skip


def ensure_helm(settings: Settings, *, progress: Progress) -> Path:
    """The helm CLI (charts are linted and rendered with it), built from the Go module proxy."""
    package = f"helm.sh/helm/v3/cmd/helm@{settings.helm_version}"
    return go_install(settings, package=package, binary=helm_binary(settings), progress=progress,
                       note=" (first time: ~3 min)")  # fmt: skip


def ensure_prometheus(settings: Settings, *, progress: Progress) -> Path:
    """A Prometheus server (the metrics test scrapes the stack with it), built from the Go module
    proxy. Without the web UI's assets (they need node): its HTTP API is what the test queries."""
    package = f"github.com/prometheus/prometheus/cmd/prometheus@{settings.prometheus_version}"
    return go_install(settings, package=package, binary=prometheus_binary(settings), progress=progress,
                       note=" (first time: ~10 min)")  # fmt: skip
