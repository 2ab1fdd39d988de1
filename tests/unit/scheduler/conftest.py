"""The scheduler's unit tests run on the in-memory store, with the whole apiserver side."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fixtures.memory_store import MemoryWorld
from tests.unit.apiserver.world import ServerWorld, server_world


@pytest.fixture
async def world(memory_world: MemoryWorld, tmp_path: Path) -> AsyncIterator[ServerWorld]:
    """Every service and controller of one replica on a fresh in-memory store, caches synced."""
    async with server_world(memory_world, tmp_path / "logs") as started:
        yield started
