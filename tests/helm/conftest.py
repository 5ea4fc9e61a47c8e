from __future__ import annotations

import pytest

from peacewatch.cli.output import RichProgress
from peacewatch.platform.settings import Settings
from peacewatch.platform.stack.install import ensure_helm


@pytest.fixture(scope="session")
def helm() -> str:
    """The helm CLI, built with `go install` into the cache on first use."""
    return str(ensure_helm(Settings(), progress=RichProgress()))
