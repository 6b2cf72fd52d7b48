"""Fixtures of the whole-station scenarios."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.netns import Link, made_link


@pytest.fixture
def link() -> Iterator[Link]:
    """A client in a network namespace whose link can be cut (root only: skips otherwise)."""
    with made_link() as made:
        yield made
