"""The images the cluster runs, built here: no container registry is reachable from this machine.

Debian rootfs from mmdebstrap (Debian's mirror), packed by buildah into docker-archive tars that
containerd imports (../shared/notes/kubernetes-here.md). Each tar is cached under a name that
carries a digest of what went into it, so a second `./run kube` builds nothing.

- pause: the pod sandbox, a static binary of our pause.c (registry.k8s.io is out of reach).
- coredns, kubectl (the Pulsar chart's secret-init Job), minio and mc (the MinIO chart's
  post-install Job): our Go-proxy builds on a Debian base.
- pulsar-all: the layout the upstream chart expects (/pulsar with bin/, conf/, lib/, instances/,
  offloaders/; python3 for its config scripts and the Python function runtime) from our
  distribution; Debian bookworm + OpenJDK 17 + CPython 3.11 (glibc) where the official image is
  Alpine (musl) + Java 21 + Python 3.12.
- peacewatch: the package and its dependencies in a venv, Spark's jars and the alert function's
  packages baked in.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from peacewatch.platform.errors import InstallError
from peacewatch.platform.kube.build import bin_dir
from peacewatch.platform.kube.settings import KubeSettings
from peacewatch.platform.progress import Progress
from peacewatch.platform.settings import FunctionPackageSettings, Settings

__all__ = ["FUNCTION_TARGET", "AppPayload", "BuiltImage", "ensure_images", "image_refs"]

_ASSETS = Path(__file__).parent / "image"
_MIRROR = "http://deb.debian.org/debian"
_SECURITY = "http://deb.debian.org/debian-security"
_SLIM = [f"--dpkgopt=path-exclude=/usr/share/{d}/*" for d in ("doc", "man", "locale", "info")]
# The JRE's postinst links its man pages: keep the folder the exclusion would leave missing.
_MAN_HOOK = '--essential-hook=mkdir -p "$1"/usr/share/man/man1'

# Bump when the Pulsar image's recipe changes (its name stays the one the chart expects).
_PULSAR_RECIPE = "3"
_PEACEWATCH_RECIPE = "2"

# Debian bases: (variant, packages). Both platform images share the runtime one.
_BASES: dict[str, tuple[str, tuple[str, ...]]] = {
    "essential": ("essential", ()),
    "runtime": (
        "minbase",
        (
            "python3",
            "python3-venv",
            "python3-pip",  # the Python instance pip-installs the function's wheels
            "python3-yaml",
            "openjdk-17-jre-headless",
            "ca-certificates",
            "netcat-openbsd",
            "curl",
            "procps",
            "bind9-dnsutils",
            "openssl",
        ),
    ),
}


@dataclass(frozen=True, kw_only=True)
class BuiltImage:
    """An image tar in the cache and the reference containerd will know it by."""

    ref: str
    tar: Path


def image_refs(settings: Settings, kube: KubeSettings) -> dict[str, str]:
    """The reference of each image, by role (what the cluster's values name)."""
    pulsar = settings.pulsar.version
    return {
        "pause": "localhost/pause:3.9",
        "coredns": f"localhost/coredns:{kube.coredns_version.lstrip('v')}",
        "kubectl": f"localhost/kubectl:{kube.version}",
        "minio": f"localhost/minio:{_short(settings.minio.module_version)}",
        "mc": f"localhost/mc:{_short(kube.mc_version)}",
        # The upstream chart's name, so its defaults find it (CRI reads it as docker.io/...).
        "pulsar": f"docker.io/apachepulsar/pulsar-all:{pulsar}",
        "peacewatch": f"localhost/peacewatch:{_package_version()}-{_source_digest()[:12]}",
    }


def _short(module_version: str) -> str:
    return module_version.rsplit("-", 1)[-1][:12]


def _package_version() -> str:
    from importlib.metadata import version

    return version("peacewatch")


def _root() -> Path:
    return Path(__file__).resolve().parents[2]


def _source_files() -> list[Path]:
    root = _root()
    files = [root / "pyproject.toml", root / "README.md"]
    for folder in ("platform", "tenants", "functions", "simulator", "lakehouse", "cli"):
        files += sorted(p for p in (root / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    return files


def _source_digest() -> str:
    """What the peacewatch image's tag carries. The node's own code (platform/kube) is left out:
    pods never run it, and a change to it should not cost a 2 GB image."""
    h = hashlib.sha256((_PEACEWATCH_RECIPE + repr(_BASES["runtime"])).encode())
    root = _root()
    kube = Path(__file__).parent
    for path in _source_files():
        if path.is_relative_to(kube):
            continue
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _run(
    cmd: Sequence[str | Path], *, what: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> str:
    proc = subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, check=False, env=env, cwd=cwd
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise InstallError(f"{what} failed (exit {proc.returncode}):\n{tail}")
    return proc.stdout


def _need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        raise InstallError(
            f"{', '.join(missing)} not found: run `./run kube` (it installs Debian's packages) "
            "or apt-get install mmdebstrap buildah containerd"
        )


def _images_dir(settings: Settings) -> Path:
    path = settings.cache_dir / "kube" / "images"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _base_tar(settings: Settings, name: str, *, progress: Progress) -> Path:
    """A Debian bookworm rootfs tar from Debian's mirror (mmdebstrap), cached by its package list."""
    variant, packages = _BASES[name]
    digest = hashlib.sha256(f"{variant} {' '.join(packages)}".encode()).hexdigest()[:10]
    out = _images_dir(settings) / "rootfs" / f"{name}-bookworm-{digest}.tar"
    if out.exists():
        return out
    _need("mmdebstrap")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".partial.tar")
    cmd = ["mmdebstrap", f"--variant={variant}", "--mode=root", *_SLIM, _MAN_HOOK]
    if packages:
        cmd.append(f"--include={','.join(packages)}")
    cmd += [
        "bookworm",
        str(partial),
        f"deb {_MIRROR} bookworm main",
        f"deb {_SECURITY} bookworm-security main",
    ]
    with progress.status(f"Building the Debian {name} rootfs (mmdebstrap, first time: minutes) ..."):
        _run(["nice", "-n", "10", *cmd], what=f"mmdebstrap ({name})")
    partial.rename(out)
    for old in out.parent.glob(f"{name}-bookworm-*.tar"):
        if not old.name.startswith(out.stem):
            old.unlink()  # a base of another package list (and its image)
    return out


class _Buildah:
    """One working container: from a base, add files, configure, commit to a docker-archive tar."""

    def __init__(self, base: str | Path) -> None:
        _need("buildah")
        source = f"docker-archive:{base}" if isinstance(base, Path) else base
        self.container = _run(["buildah", "from", "-q", source], what="buildah from").strip()

    def add(self, source: Path, dest: str) -> None:
        # `add` unpacks a tar; `copy` keeps files as they are.
        verb = "add" if source.suffix == ".tar" else "copy"
        _run(["buildah", verb, "-q", self.container, str(source), dest], what=f"buildah {verb} {source.name}")

    def config(self, *args: str) -> None:
        _run(["buildah", "config", *args, self.container], what="buildah config")

    def commit(self, *, ref: str, tar: Path) -> None:
        partial = tar.with_name(tar.name + ".partial")
        partial.unlink(missing_ok=True)
        _run(
            [
                "buildah",
                "commit",
                "-q",
                "--format",
                "docker",
                self.container,
                f"docker-archive:{partial}:{ref}",
            ],
            what=f"buildah commit {ref}",
        )
        partial.rename(tar)

    def remove(self) -> None:
        subprocess.run(["buildah", "rm", self.container], capture_output=True, check=False)


def _build(
    settings: Settings,
    *,
    ref: str,
    base: str | Path,
    files: Iterable[tuple[Path, str]],
    config: Sequence[str],
    progress: Progress,
    key: str = "",
) -> BuiltImage:
    """The image in the cache: built from `base` plus `files` the first time. `key` says what else
    went in (a base's package list), for images whose name alone does not change with it."""
    name = ref.split("/")[-1].replace(":", "-")
    tar = _images_dir(settings) / f"{name}{'-' + key if key else ''}.tar"
    if tar.exists():
        return BuiltImage(ref=ref, tar=tar)
    for old in _images_dir(settings).glob(f"{name}-*.tar") if key else []:
        old.unlink()
    with progress.status(f"Building image {ref} ..."):
        b = _Buildah(base)
        try:
            for source, dest in files:
                b.add(source, dest)
            b.config(*config)
            b.commit(ref=ref, tar=tar)
        finally:
            b.remove()
    progress.note(f"image {ref}")
    return BuiltImage(ref=ref, tar=tar)


def _pause(settings: Settings, ref: str, *, progress: Progress) -> BuiltImage:
    with tempfile.TemporaryDirectory() as tmp:
        binary = Path(tmp) / "pause"
        _need("gcc")
        _run(["gcc", "-Os", "-static", "-o", binary, _ASSETS / "pause.c"], what="compiling pause.c")
        _run(["strip", binary], what="strip pause")
        return _build(
            settings,
            ref=ref,
            base="scratch",
            files=[(binary, "/pause")],
            config=["--entrypoint", '["/pause"]', "--user", "65535:65535"],
            progress=progress,
        )


def _tree_tar(folder: Path, tar: Path, *, prefix: str) -> Path:
    """`folder` as a tar whose members sit under `prefix` (buildah add unpacks it at /)."""
    with tarfile.open(tar, "w") as t:
        t.add(folder, arcname=prefix.strip("/"))
    return tar


def _in_rootfs(
    rootfs: Path,
    script: str,
    *,
    binds: Sequence[tuple[Path, str]] = (),
    what: str,
    env: dict[str, str] | None = None,
) -> None:
    """Run `script` with sh inside an unpacked rootfs (chroot), in a private mount namespace with
    /proc, /dev, the host's resolver and `binds` mounted, so nothing stays mounted after."""
    mounts = [
        'mount -t proc proc "$R/proc"',
        'mount --rbind /dev "$R/dev"',
        'cp /etc/resolv.conf "$R/etc/resolv.conf"',
    ]
    for n, (_, dest) in enumerate(binds):
        mounts.append(f'mkdir -p "$R{dest}" && mount --bind "$B{n}" "$R{dest}"')
    outer = "set -e; " + "; ".join(mounts) + '; exec chroot "$R" /bin/sh -ec "$S"'
    full_env = {**os.environ, **(env or {}), "R": str(rootfs), "S": script}
    full_env.update({f"B{n}": str(source) for n, (source, _) in enumerate(binds)})
    _run(["unshare", "--mount", "--propagation", "private", "sh", "-c", outer], what=what, env=full_env)


def _unpack(tar: Path, into: Path) -> None:
    into.mkdir(parents=True, exist_ok=True)
    _run(["tar", "-xpf", tar, "-C", into, "--numeric-owner"], what=f"unpacking {tar.name}")


def _pulsar_scripts(folder: Path) -> list[Path]:
    """Our scripts for the Pulsar image: the files only (`./run` byte-compiles the package, which
    leaves a __pycache__ folder beside the .py scripts - a fresh clone failed on it)."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix != ".pyc")


def _pulsar(settings: Settings, ref: str, *, progress: Progress) -> BuiltImage:
    from peacewatch.platform.stack.install import pulsar_home

    home = pulsar_home(settings)
    key = _digest(
        [
            _PULSAR_RECIPE,
            repr(_BASES["runtime"]),
            *(p.read_bytes() for p in _pulsar_scripts(_ASSETS / "pulsar")),
        ]
    )
    tar = _images_dir(settings) / f"{ref.split('/')[-1].replace(':', '-')}-{key}.tar"
    if tar.exists():
        return BuiltImage(ref=ref, tar=tar)
    scratch = Path(tempfile.mkdtemp(dir=_images_dir(settings), prefix=".pulsar-"))
    try:
        root = scratch / "root"
        root.mkdir()
        with progress.status("Preparing the Pulsar image's /pulsar (distribution + Python runtime) ..."):
            shutil.copytree(home, root / "pulsar", symlinks=True)
            for script in _pulsar_scripts(_ASSETS / "pulsar"):
                shutil.copy2(script, root / "pulsar" / "bin" / script.name)
            # The official image's layout: logs/ and data/ exist, and /pulsar is writable by its
            # group 0, the group of the user (10000) the chart's pods run as.
            # data/bookkeeper too: the chart mounts journal/ and ledgers/ below it, and the state
            # store keeps ranges/ beside them (a folder the kubelet made would be root's alone).
            for folder in ("logs", "data/bookkeeper", "data/zookeeper", "download"):
                (root / "pulsar" / folder).mkdir(parents=True, exist_ok=True)
            _run(["chmod", "-R", "g+w", root / "pulsar"], what="chmod /pulsar")
            # The Python function runtime's client, as the official image installs it (pip, system-wide).
            site = root / "usr" / "local" / "lib" / "python3.11" / "dist-packages"
            _uv_install(settings, ["pulsar-client[functions]==" + _pinned("pulsar-client")], target=site)
        layer = _tree_tar(root, scratch / "layer.tar", prefix="/")
        built = _build(
            settings,
            ref=ref,
            base=_base_image(settings, "runtime", progress=progress),
            files=[(layer, "/")],
            config=[
                "--workingdir",
                "/pulsar",
                "--env",
                "PULSAR_ROOT_LOGLEVEL=info",
                # Debian marks its Python externally managed; the instance's `pip install -t` is ours.
                "--env",
                "PIP_BREAK_SYSTEM_PACKAGES=1",
                "--env",
                "HOME=/pulsar",
                "--user",
                "10000:0",
                "--cmd",
                '["/bin/bash"]',
            ],
            progress=progress,
            key=key,
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return built


def _digest(parts: Iterable[str | bytes]) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
    return h.hexdigest()[:10]


def _pinned(distribution: str) -> str:
    """The version pyproject pins for a dependency (one place says which client we run)."""
    import tomllib

    for dep in tomllib.loads((_root() / "pyproject.toml").read_text())["project"]["dependencies"]:
        name = dep.split("[")[0].split("=")[0].strip()
        if name == distribution and "==" in dep:
            return str(dep.split("==", 1)[1].split(";")[0].strip())
    raise InstallError(f"pyproject.toml pins no version of {distribution}")


def _uv(settings: Settings) -> str:
    uv = str(Path(sys.executable).parent / "uv")
    if not Path(uv).exists():
        raise InstallError("uv not found: run ./run (it installs uv into .venv)")
    return uv


def _uv_install(settings: Settings, requirements: list[str], *, target: Path) -> None:
    """Wheels for the images' CPython 3.11 on glibc into `target`, online or from uv's cache."""
    base = [
        _uv(settings),
        "pip",
        "install",
        "-q",
        "--target",
        str(target),
        "--python-version",
        "3.11",
        "--python-platform",
        "x86_64-manylinux_2_28",
        *requirements,
    ]
    try:
        _run(base, what="uv pip install")
    except InstallError:
        _run([*base[:3], "--offline", *base[3:]], what="uv pip install (offline)")


def _base_image(settings: Settings, name: str, *, progress: Progress) -> Path:
    """A Debian base (`_BASES`) as an image tar, for images built on top of it."""
    base = _base_tar(settings, name, progress=progress)
    tar = base.with_name(base.stem + "-image.tar")
    if not tar.exists():
        with progress.status(f"Packing the {name} base image ..."):
            b = _Buildah("scratch")
            try:
                b.add(base, "/")
                b.commit(ref=f"localhost/peacewatch-base:{base.stem}", tar=tar)
            finally:
                b.remove()
    return tar


@dataclass(frozen=True)
class AppPayload:
    """What the peacewatch image carries besides its source, made by the packages that own it
    (the caller wires them: this foundation module imports none of them)."""

    spark_jars: Callable[[Progress], list[Path]]  # Spark's resolved jars (resolved first if need be)
    jars_manifest: str  # the file Spark reads them from in a pod (lakehouse.query.spark)
    bake_functions: Callable[[Path], None]  # the alert function's packages into this cache dir


def _peacewatch(settings: Settings, ref: str, *, payload: AppPayload, progress: Progress) -> BuiltImage:
    tar = _images_dir(settings) / f"{ref.split('/')[-1].replace(':', '-')}.tar"
    if tar.exists():
        return BuiltImage(ref=ref, tar=tar)
    for old in _images_dir(settings).glob("peacewatch-*.tar"):
        old.unlink()  # 2 GB each: only the image of the current source is kept
    jars = payload.spark_jars(progress)
    scratch = Path(tempfile.mkdtemp(dir=_images_dir(settings), prefix=".peacewatch-"))
    try:
        root = scratch / "root"
        with progress.status("Preparing the peacewatch image (venv, Spark's jars, function packages) ..."):
            _unpack(_base_tar(settings, "runtime", progress=progress), root)
            src = scratch / "src"
            src.mkdir()
            for path in _source_files():
                dest = src / path.relative_to(_root())
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, dest)
            cache = root / "opt" / "peacewatch" / "cache"
            (cache / "ivy" / "jars").mkdir(parents=True)
            in_image = []
            for jar in jars:
                shutil.copy2(jar, cache / "ivy" / "jars" / jar.name)
                in_image.append(Path("/opt/peacewatch/cache/ivy/jars") / jar.name)
            uv = Path(_uv(settings))
            shutil.copy2(uv, root / "tmp" / "uv")
            uv_cache = Path(os.environ.get("UV_CACHE_DIR", Path.home() / ".cache" / "uv"))
            script = (
                "python3 -m venv /opt/peacewatch/venv && "
                "( /tmp/uv pip install -q --python /opt/peacewatch/venv/bin/python --cache-dir /uvcache /src "
                "|| /tmp/uv pip install -q --offline --python /opt/peacewatch/venv/bin/python "
                "--cache-dir /uvcache /src ) && "
                "/opt/peacewatch/venv/bin/python -m compileall -q -j 0 /opt/peacewatch/venv >/dev/null 2>&1; "
                "rm -f /tmp/uv"
            )
            _in_rootfs(
                root, script, binds=[(src, "/src"), (uv_cache, "/uvcache")], what="installing peacewatch"
            )
            for mount in ("src", "uvcache"):
                (root / mount).rmdir()
            # Spark starts from these jars (no Ivy, no network in a pod): the manifest names them.
            (cache / "ivy" / payload.jars_manifest).write_text("".join(f"file://{j}\n" for j in in_image))
            payload.bake_functions(cache)
            _run(["chroot", root, "useradd", "--uid", "10001", "--create-home", "peacewatch"], what="useradd")
            _run(["chmod", "-R", "a+rX", root / "opt" / "peacewatch"], what="chmod")
            # The onboarding Job (uid 10001) repacks the alert function's zip in the cache.
            _run(["chown", "-R", "10001:10001", cache / "functions", cache / "function-deps"], what="chown")
        layer = scratch / "rootfs.tar"
        _run(["tar", "-cf", layer, "--numeric-owner", "-C", root, "."], what="packing the peacewatch rootfs")
        built = _build(
            settings,
            ref=ref,
            base="scratch",
            files=[(layer, "/")],
            config=[
                "--env",
                "VIRTUAL_ENV=/opt/peacewatch/venv",
                "--env",
                "PATH=/opt/peacewatch/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "--env",
                "PYSPARK_PYTHON=/opt/peacewatch/venv/bin/python",
                "--env",
                "PEACEWATCH_CACHE_DIR=/opt/peacewatch/cache",
                "--env",
                "PYTHONUNBUFFERED=1",
                "--user",
                "10001",
                "--workingdir",
                "/home/peacewatch",
                "--entrypoint",
                '["peacewatch"]',
                "--cmd",
                '["--help"]',
            ],
            progress=progress,
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return built


# The functions image here is ours (Debian, glibc, CPython 3.11): the chart's values name this target.
FUNCTION_TARGET = FunctionPackageSettings(platform="manylinux2014_x86_64", python="3.11")


def ensure_images(
    settings: Settings,
    kube: KubeSettings,
    *,
    refs: Mapping[str, str],
    payload: AppPayload,
    progress: Progress,
) -> list[BuiltImage]:
    """Every image the cluster runs, as tars in the cache (built the first time), by the `refs`
    the caller also installs with: recomputed later, the source digest may name a tree edited
    since (seen: an install naming an image never built)."""
    from peacewatch.platform.stack.install import ensure_minio

    binaries = bin_dir(settings, kube)
    essential = _base_image(settings, "essential", progress=progress)
    with tempfile.TemporaryDirectory() as tmp:
        entry = Path(tmp) / "docker-entrypoint.sh"
        shutil.copy2(_ASSETS / "minio-entrypoint.sh", entry)
        images = [
            _pause(settings, refs["pause"], progress=progress),
            _build(
                settings,
                ref=refs["coredns"],
                base="scratch",
                files=[(binaries / f"coredns-{kube.coredns_version}", "/coredns")],
                config=["--entrypoint", '["/coredns"]'],
                progress=progress,
            ),
            _build(
                settings,
                ref=refs["kubectl"],
                base=essential,
                files=[(binaries / "kubectl", "/usr/bin/kubectl")],
                config=["--cmd", '["/bin/sh"]'],
                progress=progress,
            ),
            _build(
                settings,
                ref=refs["minio"],
                base=essential,
                files=[
                    (ensure_minio(settings, progress=progress), "/usr/bin/minio"),
                    (entry, "/usr/bin/docker-entrypoint.sh"),
                ],
                config=["--cmd", '["minio"]'],
                progress=progress,
            ),
            _build(
                settings,
                ref=refs["mc"],
                base=essential,
                files=[(_ensure_mc(settings, kube, progress=progress), "/usr/bin/mc")],
                config=["--entrypoint", '["mc"]'],
                progress=progress,
            ),
            _pulsar(settings, refs["pulsar"], progress=progress),
            _peacewatch(settings, refs["peacewatch"], payload=payload, progress=progress),
        ]
    return images


def _ensure_mc(settings: Settings, kube: KubeSettings, *, progress: Progress) -> Path:
    from peacewatch.platform.stack.install import go_install

    binary = settings.cache_dir / "bin" / f"mc-{kube.mc_version}"
    return go_install(
        settings,
        package=f"github.com/minio/mc@{kube.mc_version}",
        binary=binary,
        progress=progress,
        note=" (first time: ~4 min)",
    )
