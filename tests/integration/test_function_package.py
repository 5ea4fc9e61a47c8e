"""The alert function's package for the Kubernetes functions image (Alpine, musl, Python 3.12):
every wheel is for that machine, and pip resolves the function's imports from them alone.

What this cannot show here: an Alpine interpreter importing them (no image can be pulled)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from peacewatch.functions.deploy.packaging import ALERTING_DEPENDENCIES, build_function_zip
from peacewatch.platform.settings import FunctionPackageSettings, Settings

pytestmark = pytest.mark.slow

MUSL = FunctionPackageSettings(platform="musllinux_1_1_x86_64", python="3.12")


def test_the_kubernetes_package_carries_only_musl_cp312_or_pure_wheels(tmp_path: Path) -> None:
    package = build_function_zip(Settings(function_package=MUSL))
    native = build_function_zip(Settings())
    assert package != native  # one package per target, never mixed
    with zipfile.ZipFile(package) as zf:
        wheels = [n for n in zf.namelist() if n.endswith(".whl")]
        zf.extractall(tmp_path)
    tags = {Path(w).stem.split("-", 2)[2] for w in wheels}
    assert tags <= {"cp312-cp312-musllinux_1_1_x86_64", "py3-none-any"}, tags
    assert any("musllinux" in t for t in tags)  # pydantic-core, compiled for musl
    assert len(wheels) == len(ALERTING_DEPENDENCIES)

    # The instance runs `pip install --target ... deps/*.whl`; here: resolve for that machine.
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--no-index", "--only-binary=:all:",
         "--find-links", str(tmp_path / package.stem / "deps"), "--target", str(tmp_path / "site"),
         "--platform", MUSL.platform or "", "--python-version", MUSL.python or "", "--implementation", "cp",
         "pydantic", "tenacity"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
