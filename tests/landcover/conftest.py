"""Fixtures for the land-cover tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _single_threaded(one_thread: None) -> None:
    """Every test here runs torch on one thread (see tests/conftest.py)."""
