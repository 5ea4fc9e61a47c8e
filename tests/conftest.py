"""Shared fixtures. Integration fixtures live in tests/integration/conftest.py."""

import pytest

from tests.hypothesis_budget import load_profile

# Before any test module builds its settings: they inherit the profile's derandomization.
load_profile()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The Kubernetes test first (its node has the machine to itself, before the local stack
    starts), tests that wipe the broker after every other test."""

    def order(item: pytest.Item) -> int:
        if item.get_closest_marker("kube") is not None:
            return 0
        return 2 if item.get_closest_marker("destroys_broker_state") is not None else 1

    items.sort(key=order)
