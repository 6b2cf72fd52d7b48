"""Fixtures of the dashboard's route tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def logs(log_dir: Path) -> Path:
    """The station's (empty) log directory; test_web.py fills its own."""
    return log_dir
