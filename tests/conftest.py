"""Shared fixtures. Integration fixtures live in tests/integration/conftest.py."""

from tests.hypothesis_budget import load_profile

# Before any test module builds its settings: they inherit the profile's derandomization.
load_profile()
