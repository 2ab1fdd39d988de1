"""The offline busybox image's root filesystem, and that nothing a user runs imports test code."""

from __future__ import annotations

import io
import re
import tarfile
from pathlib import Path

import pytest

from xene.busybox_image import BUSYBOX, BusyboxMissing, busybox_rootfs

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not BUSYBOX.exists(), reason="needs busybox-static")
def test_the_root_filesystem_has_a_shell_and_every_applet_linked_to_busybox() -> None:
    with tarfile.open(fileobj=io.BytesIO(busybox_rootfs()), mode="r") as archive:
        members = {member.name: member for member in archive.getmembers()}
    assert members["bin/busybox"].isfile() and members["bin/busybox"].mode & 0o111
    for applet in ("sh", "echo", "wc", "sed"):
        assert members[f"bin/{applet}"].issym()
        assert members[f"bin/{applet}"].linkname == "/bin/busybox"
    assert members["tmp"].mode == 0o1777 and members["workspace"].isdir()


def test_a_missing_busybox_is_named() -> None:
    with pytest.raises(BusyboxMissing, match="/nonexistent/busybox not found"):
        busybox_rootfs(Path("/nonexistent/busybox"))


def test_nothing_a_user_runs_imports_test_code() -> None:
    shipped = [
        *(REPO_ROOT / "xene").rglob("*.py"),
        *(REPO_ROOT / "deploy").glob("*.sh"),
        *(REPO_ROOT / "scripts").glob("*.sh"),
    ]
    # scripts/test.sh runs the test suite; every other script is for users and developers alike.
    shipped = [path for path in shipped if path.name != "test.sh"]
    importing = re.compile(r"^\s*(from|import)\s+tests\b|-m\s+tests\b|tests[./]fixtures", re.M)
    offenders = [str(path) for path in shipped if importing.search(path.read_text())]
    assert offenders == []
