"""Our chart with the real upstream charts, installed with helm onto the node.

Users get the Pulsar and MinIO charts with `helm dependency build` from their chart repositories;
where none is reachable (this machine) they come from a folder named by PEACEWATCH_UPSTREAM_CHARTS
holding the unpacked `pulsar` (apache/pulsar-helm-chart) and `minio` (MinIO's helm/minio) charts.
Neither is ever copied into the repository: the chart is assembled in a scratch folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import yaml

from peacewatch.platform.errors import InstallError, InvalidConfig
from peacewatch.platform.kube.images import FUNCTION_TARGET
from peacewatch.platform.settings import Settings

__all__ = ["CHART", "LOCAL_VALUES", "UPSTREAM_ENV", "assemble_chart", "image_values", "upstream_charts"]

CHART = Path(__file__).resolve().parents[2] / "helm" / "peacewatch"
LOCAL_VALUES = CHART / "examples" / "values-local-kube.yaml"
UPSTREAM_ENV = "PEACEWATCH_UPSTREAM_CHARTS"


def upstream_charts() -> Path | None:
    """The folder with the unpacked upstream charts, if PEACEWATCH_UPSTREAM_CHARTS names one."""
    named = os.environ.get(UPSTREAM_ENV)
    if not named:
        return None
    folder = Path(named)
    missing = [n for n in ("pulsar", "minio") if not (folder / n / "Chart.yaml").is_file()]
    if missing:
        raise InvalidConfig(
            f"{UPSTREAM_ENV}={folder} lacks the unpacked {' and '.join(missing)} chart(s): put "
            "apache/pulsar-helm-chart's charts/pulsar and MinIO's helm/minio there as pulsar/ and minio/"
        )
    return folder


def assemble_chart(*, upstream: Path, into: Path) -> Path:
    """Our chart with the upstream charts as its dependencies, in `into`; the chart's folder."""
    chart = into / "peacewatch"
    shutil.rmtree(chart, ignore_errors=True)
    shutil.copytree(CHART, chart)
    for name in ("pulsar", "minio"):
        shutil.copytree(upstream / name, chart / "charts" / name)
    # The Pulsar chart's own optional dependency (VictoriaMetrics, off in our values) is not there:
    # helm refuses a chart whose declared dependencies are missing, even disabled ones.
    meta_path = chart / "charts" / "pulsar" / "Chart.yaml"
    meta = yaml.safe_load(meta_path.read_text())
    extra = {d["name"] for d in meta.pop("dependencies", [])} - {"victoria-metrics-k8s-stack"}
    if extra:
        raise InvalidConfig(f"the Pulsar chart in {upstream} depends on {sorted(extra)}: expected 4.7's")
    meta_path.write_text(yaml.safe_dump(meta))
    return chart


def image_values(settings: Settings, *, refs: Mapping[str, str]) -> dict[str, object]:
    """Values naming the images `peacewatch kube up` built, by role (tags that are never `latest`)."""

    def split(ref: str) -> dict[str, str]:
        repo, tag = ref.rsplit(":", 1)
        return {"repository": repo, "tag": tag}

    return {
        "image": {**split(refs["peacewatch"]), "pullPolicy": "IfNotPresent"},
        "functionPackage": {"platform": FUNCTION_TARGET.platform, "python": FUNCTION_TARGET.python},
        "pulsar": {
            "defaultPulsarImageTag": settings.pulsar.version,
            "images": {"kubectl": split(refs["kubectl"])},
        },
        "minio": {"image": split(refs["minio"]), "mcImage": split(refs["mc"])},
    }


def helm(settings: Settings, kubeconfig: Path, *args: str, timeout: float = 1800) -> str:
    from peacewatch.platform.stack.install import helm_binary

    binary = helm_binary(settings)
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    proc = subprocess.run(
        [str(binary), *args], capture_output=True, text=True, check=False, env=env, timeout=timeout
    )
    if proc.returncode != 0:
        raise InstallError(f"helm {args[0]} failed: {proc.stderr.strip()[-1500:]}")
    return proc.stdout
