"""Fixtures for xenectl's unit tests: an isolated environment and an in-memory API."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.unit.ctl.fake_api import FakeApiServer
from xene.ctl.connection import ServerConnection
from xene.ctl.main import cli

RunXenectl = Callable[..., Result]


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No server, token, colour or config of the machine running the tests leaks in."""
    for name in ("XENE_SERVER", "XENE_TOKEN", "XENE_CONFIG", "FORCE_COLOR", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    config = tmp_path / "home" / ".xene" / "config"
    monkeypatch.setenv("XENECTL_CONFIG", str(config))
    return config


@pytest.fixture
def fake_api() -> FakeApiServer:
    return FakeApiServer()


@pytest.fixture
def xenectl(fake_api: FakeApiServer) -> RunXenectl:
    """Run xenectl in-process against `fake_api`; returns click's Result."""

    def run(*args: str, input: str | bytes | None = None, env: dict | None = None) -> Result:
        connection = ServerConnection(transport=fake_api.transport)
        return CliRunner().invoke(cli, list(args), obj=connection, input=input, env=env)

    return run
