"""The import graph keeps its shape: xene/api imports nothing else of Xene, the engine and its
executors never reach into the agent or the server, and xenectl never into the agent."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "xene"


def imported_modules(package: str) -> dict[str, set[str]]:
    """For each module file under xene/<package>, the xene modules it imports."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(ROOT.parent))] = {n for n in names if n.startswith("xene")}
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("api", ("xene.store", "xene.apiserver", "xene.agent", "xene.engine", "xene.ctl")),
        ("engine", ("xene.store", "xene.apiserver", "xene.agent", "xene.ctl", "xene.proto")),
        ("ctl", ("xene.agent", "xene.apiserver", "xene.store", "xene.proto")),
    ],
)
def test_layers_import_only_downwards(package: str, forbidden: tuple[str, ...]) -> None:
    offending = {
        module: sorted(name for name in names if name.startswith(forbidden))
        for module, names in imported_modules(package).items()
        if any(name.startswith(forbidden) for name in names)
    }
    assert offending == {}


def test_proto_types_are_seen_only_by_the_agents_connection_and_the_grpc_transport() -> None:
    seen_by = {
        module
        for package in ("agent", "apiserver", "engine", "ctl", "api", "store")
        for module, names in imported_modules(package).items()
        if any(name.startswith("xene.proto") for name in names)
    }
    assert seen_by <= {
        "xene/agent/connection.py",
        "xene/apiserver/grpc/agents.py",
        "xene/apiserver/grpc/server.py",
    }
