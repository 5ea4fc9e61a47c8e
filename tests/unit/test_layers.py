"""The packages' imports go one way (README, Repository): every import of every module is read -
lazy ones inside functions and TYPE_CHECKING ones too - and checked against the layers."""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]

# Bottom to top: a package may import its own layer's modules and those below, never above.
# Packages in one layer do not import each other.
LAYERS: list[tuple[str, ...]] = [
    ("peacewatch.platform",),  # the contract, settings, clients, kits, the local stack
    ("peacewatch.simulator",),
    ("peacewatch.functions", "peacewatch.lakehouse"),
    ("peacewatch.tenants",),  # onboarding: collects the steps the packages below contribute
    ("peacewatch.cli",),  # the top layer: commands and the demo
]
# Inside a package: the subpackages of one layer do not import each other, nor anything above.
INNER: dict[str, list[tuple[str, ...]]] = {
    "peacewatch.functions": [
        ("peacewatch.functions.runtime",),
        ("peacewatch.functions.deploy", "peacewatch.functions.desk"),
    ],
    "peacewatch.lakehouse": [
        ("peacewatch.lakehouse.ingest", "peacewatch.lakehouse.query"),
    ],
}
# What shows things to people: the top layer's alone.
DISPLAY = ("rich", "typer")


def _package_dirs() -> dict[str, Path]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return {pkg: ROOT / folder for pkg, folder in config["tool"]["setuptools"]["package-dir"].items()}


def _modules() -> Iterator[tuple[str, Path]]:
    for package, folder in _package_dirs().items():
        for path in sorted(folder.rglob("*.py")):
            if "image" in path.relative_to(folder).parts:  # files copied into container images
                continue
            parts = path.relative_to(folder).with_suffix("").parts
            parts = parts[:-1] if parts[-1] == "__init__" else parts
            yield ".".join((package, *parts)), path


def _imports(module: str, path: Path) -> Iterator[tuple[int, str]]:
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            yield node.lineno, name
            for alias in node.names:  # `from peacewatch.lakehouse import ingest`
                yield node.lineno, f"{name}.{alias.name}"


def _where(path: Path) -> Path:
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def _under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _layer(name: str, layers: list[tuple[str, ...]]) -> tuple[int, str] | None:
    for i, layer in enumerate(layers):
        for package in layer:
            if _under(name, package):
                return i, package
    return None


def _violations(module: str, path: Path) -> list[str]:
    found = []
    checks = [LAYERS, *(inner for owner, inner in INNER.items() if _under(module, owner))]
    for lineno, name in _imports(module, path):
        for layers in checks:
            mine, target = _layer(module, layers), _layer(name, layers)
            if mine is None or target is None or mine[1] == target[1]:
                continue
            if target[0] >= mine[0]:
                found.append(f"{_where(path)}:{lineno}: {mine[1]} imports {name}")
        if not _under(module, "peacewatch.cli") and name.split(".")[0] in DISPLAY:
            found.append(f"{_where(path)}:{lineno}: {module} imports {name} (display is the CLI's)")
    return found


def test_every_library_module_is_in_a_layer() -> None:
    modules = [m for m, _ in _modules()]
    assert len(modules) > 100
    assert [m for m in modules if _layer(m, LAYERS) is None] == []


def test_imports_go_one_way() -> None:
    found = [v for module, path in _modules() for v in _violations(module, path)]
    assert found == [], "\n".join(found)


def test_the_library_never_prints() -> None:
    found = []
    for module, path in _modules():
        if _under(module, "peacewatch.cli"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == [], "print() outside the CLI:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("module", "source", "wrong"),
    [
        ("peacewatch.platform.topics", "from peacewatch.tenants.spec import TenantSpec", True),
        ("peacewatch.lakehouse.lake", "from peacewatch.functions.runtime import decision", True),
        ("peacewatch.functions.runtime.alerting", "from ..deploy import alerting", True),
        ("peacewatch.lakehouse.query.spark", "from peacewatch.lakehouse.ingest.sink import DeltaSink", True),
        (
            "peacewatch.tenants.onboarding",
            "def f():\n    from peacewatch.cli.output import RichProgress",
            True,
        ),
        ("peacewatch.lakehouse.upkeep", "from rich.console import Console", True),
        ("peacewatch.tenants.onboarding", "from peacewatch.lakehouse.access import LakeAccess", False),
        ("peacewatch.cli.app", "from rich.console import Console", False),
    ],
)
def test_the_check_sees_a_wrong_import(tmp_path: Path, module: str, source: str, wrong: bool) -> None:
    """The walker itself: a wrong import written any way is caught; a right one is not."""
    path = tmp_path / "m.py"
    path.write_text(source + "\n")
    assert bool(_violations(module, path)) is wrong
