"""The values `peacewatch kube up` installs name exactly the images it built."""

from __future__ import annotations

from pathlib import Path

import pytest

from peacewatch.platform.kube import images
from peacewatch.platform.kube.images import image_refs
from peacewatch.platform.kube.release import image_values
from peacewatch.platform.settings import Settings


def test_the_values_name_the_images_built_even_when_the_tree_changed_since(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Seen live: the source digest recomputed after an edit named a peacewatch image never built.
    settings = Settings()
    built = image_refs(settings, settings.kube)
    monkeypatch.setattr(images, "_source_digest", lambda: "0" * 64)
    assert image_refs(settings, settings.kube)["peacewatch"] != built["peacewatch"]
    values = image_values(settings, refs=built)

    def ref(image: object) -> str:
        assert isinstance(image, dict)
        return f"{image['repository']}:{image['tag']}"

    assert ref(values["image"]) == built["peacewatch"]
    pulsar, minio = values["pulsar"], values["minio"]
    assert isinstance(pulsar, dict)
    assert isinstance(minio, dict)
    assert ref(pulsar["images"]["kubectl"]) == built["kubectl"]
    assert ref(minio["image"]) == built["minio"]
    assert ref(minio["mcImage"]) == built["mc"]
    assert built["pulsar"].endswith(f":{pulsar['defaultPulsarImageTag']}")


def test_the_pulsar_image_takes_our_scripts_only_not_the_bytecode_beside_them(tmp_path: Path) -> None:
    import compileall
    import shutil

    from peacewatch.platform.kube.images import _ASSETS, _pulsar_scripts

    folder = tmp_path / "pulsar"
    shutil.copytree(_ASSETS / "pulsar", folder)
    shutil.rmtree(folder / "__pycache__", ignore_errors=True)  # ./run may have made one already
    scripts = sorted(p.name for p in folder.iterdir())
    compileall.compile_dir(folder, quiet=1)  # as ./run does to the package
    assert (folder / "__pycache__").is_dir()
    assert [p.name for p in _pulsar_scripts(folder)] == scripts
