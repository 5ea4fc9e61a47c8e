"""Package a Python function as the Pulsar docs describe: NAME.zip holding NAME/src (our code)
and NAME/deps (wheels the instance pip-installs, no index needed), so it runs on any worker
whose Python has pulsar-client - not only on ours."""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path

from peacewatch.platform.errors import InstallError
from peacewatch.platform.progress import LOGGED, Progress
from peacewatch.platform.settings import Settings

__all__ = ["ALERTING_ENTRIES", "build_function_zip", "import_closure"]

# The alert function and its input serde (the instance loads both by class name); what ships is
# them and their imports within peacewatch (`import_closure`), nothing else - computed, because a
# hand-kept list missed a module once and only an interpreter without peacewatch showed it.
ALERTING_ENTRIES = ("peacewatch.functions.runtime.alerting", "peacewatch.functions.runtime.raw_bytes")
ALERTING_DEPENDENCIES = (
    "pydantic",
    "pydantic-core",
    "annotated-types",
    "typing-extensions",
    "typing-inspection",
    "tenacity",
)


def _source_file(module: str) -> tuple[str, Path]:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise InstallError(f"cannot find the source of {module}")
    origin = Path(spec.origin)
    arcname = module.replace(".", "/") + ("/__init__.py" if origin.name == "__init__.py" else ".py")
    return arcname, origin


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def _peacewatch_imports(module: str, origin: Path) -> set[str]:
    """The peacewatch modules a source file imports, at any depth of its body (lazy imports too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(origin.read_text(), filename=str(origin))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("peacewatch."))
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            if node.level:  # relative: resolve against this module's package
                package = module if origin.name == "__init__.py" else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{base}"
            if not base.startswith("peacewatch."):
                continue
            found.add(base)
            # `from package import module` names a module, not an attribute
            found.update(f"{base}.{a.name}" for a in node.names if _is_module(f"{base}.{a.name}"))
    return found


def import_closure(*entries: str) -> tuple[str, ...]:
    """The `entries` and every peacewatch module it reaches by import, with the regular packages
    (an __init__.py) on the way; namespace packages (platform/) have no file to ship."""
    seen: set[str] = set()
    todo = list(entries)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        _, origin = _source_file(module)
        todo.extend(_peacewatch_imports(module, origin) - seen)
        parent = module.rpartition(".")[0]
        if parent != "peacewatch" and parent not in seen:
            spec = importlib.util.find_spec(parent)
            if spec is not None and spec.origin is not None:
                todo.append(parent)
    return tuple(sorted(seen))


def _target(settings: Settings) -> tuple[str, list[str]]:
    """(cache key, pip download options) for the machine the instances run on."""
    t = settings.function_package
    python = t.python or f"{sys.version_info.major}.{sys.version_info.minor}"
    tag = "cp" + python.replace(".", "")
    if t.platform is None and t.python is None:
        return tag, []
    options = ["--python-version", python, "--implementation", "cp"]
    options += ["--abi", tag, "--abi", "abi3", "--abi", "none"]
    if t.platform:
        options += ["--platform", t.platform, "--platform", "any"]
    return f"{tag}-{t.platform or 'native'}", options


def _dependency_wheels(
    settings: Settings, names: tuple[str, ...], *, tag: str, target_options: list[str], progress: Progress
) -> list[Path]:
    """Wheels of the versions installed here, for the instances' machine (`_target`), downloaded
    once into the cache."""
    wheel_dir = settings.cache_dir / "function-deps" / tag
    wheel_dir.mkdir(parents=True, exist_ok=True)
    pins = [f"{name}=={importlib.metadata.version(name)}" for name in names]
    stamp = wheel_dir / ".pins"
    if stamp.exists() and stamp.read_text() == "\n".join(pins):
        return sorted(wheel_dir.glob("*.whl"))
    with progress.status("Downloading the alert function's dependency wheels ..."):
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
             *target_options, "--dest", str(wheel_dir), *pins],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
    if proc.returncode != 0:
        raise InstallError(f"pip download of {', '.join(pins)} failed: {proc.stderr.strip()[-400:]}")
    stamp.write_text("\n".join(pins))
    wanted = {p.split("==")[0].replace("-", "_").lower() for p in pins}
    return sorted(w for w in wheel_dir.glob("*.whl") if w.name.split("-")[0].lower() in wanted)


def build_function_zip(
    settings: Settings,
    *,
    name: str = "alerting",
    entries: tuple[str, ...] = ALERTING_ENTRIES,
    dependencies: tuple[str, ...] = ALERTING_DEPENDENCIES,
    progress: Progress = LOGGED,
) -> Path:
    tag, target_options = _target(settings)
    wheels = _dependency_wheels(
        settings, dependencies, tag=tag, target_options=target_options, progress=progress
    )
    out_dir = settings.cache_dir / "functions"
    out_dir.mkdir(parents=True, exist_ok=True)
    # One package per target: the instance's pip refuses (fatally) wheels for another machine.
    target = out_dir / f"{name}-{tag}.zip"
    tmp = target.with_suffix(".zip.tmp")
    # The Python instance extracts the zip beside itself and looks in <the zip's own name>/src and
    # /deps (python_instance_main.py): the folder inside must carry the file's name. (Where the
    # instance's interpreter has peacewatch installed - the local stack - a mismatch goes unseen.)
    root = target.stem
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for module in import_closure(*entries):
            arcname, origin = _source_file(module)
            zf.write(origin, f"{root}/src/{arcname}")
        for wheel in wheels:
            zf.write(wheel, f"{root}/deps/{wheel.name}")
    tmp.replace(target)
    return target
