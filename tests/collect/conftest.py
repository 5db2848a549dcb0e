"""Fixtures of the collection tests: scratch network namespaces, deleted afterwards."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.collect.scratch_netns import ScratchNamespaces


@pytest.fixture(scope="module")
def scratch_namespaces() -> Iterator[ScratchNamespaces]:
    ScratchNamespaces.sweep_abandoned()
    namespaces = ScratchNamespaces()
    try:
        yield namespaces
    finally:
        namespaces.delete_all()
