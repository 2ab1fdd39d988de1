"""A `busybox:latest` Docker image built offline from the host's static busybox.

Xene's examples and tests run tasks in `busybox:latest`. Where no registry is in reach, this
builds that image from the host's `/usr/bin/busybox` (Debian's busybox-static): a root filesystem
holding the binary with every applet linked in /bin, imported the way `docker import` would.
The quickstart and the test fixtures both use it:

    python -m xene.busybox_image [IMAGE]     (default busybox:latest; talks to DOCKER_HOST)
"""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
from pathlib import Path

import docker
import docker.errors

BUSYBOX = Path("/usr/bin/busybox")
DEFAULT_IMAGE = "busybox:latest"


class BusyboxMissing(Exception):
    """The host has no static busybox to build the image from."""


def busybox_rootfs(busybox: Path = BUSYBOX) -> bytes:
    """A tar of a minimal root filesystem: the static busybox with every applet linked in /bin."""
    if not busybox.exists():
        raise BusyboxMissing(f"{busybox} not found (install busybox-static)")
    applets = subprocess.run(
        [str(busybox), "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:

        def add_dir(name: str, mode: int = 0o755) -> None:
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = mode
            archive.addfile(info)

        def add_file(name: str, data: bytes, mode: int = 0o644) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = mode
            archive.addfile(info, io.BytesIO(data))

        for directory in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "root", "workspace"):
            add_dir(directory)
        add_dir("tmp", 0o1777)
        add_file("bin/busybox", busybox.read_bytes(), 0o755)
        links = [f"bin/{applet}" for applet in applets if applet != "busybox" and "/" not in applet]
        for name in [*links, "usr/bin/env"]:
            link = tarfile.TarInfo(name)
            link.type = tarfile.SYMTYPE
            link.linkname = "/bin/busybox"
            archive.addfile(link)
        add_file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
        add_file("etc/group", b"root:x:0:\n")
    return buffer.getvalue()


def ensure_busybox_image(client: docker.DockerClient, name: str = DEFAULT_IMAGE) -> str:
    """Import `name` from the host's static busybox unless it exists (no registry needed)."""
    try:
        client.images.get(name)
        return name
    except docker.errors.ImageNotFound:
        pass
    repository, _, tag = name.partition(":")
    client.api.import_image_from_data(busybox_rootfs(), repository=repository, tag=tag or "latest")
    client.images.get(name)
    return name


def main(argv: list[str] | None = None) -> int:
    """Build the image named by the first argument (default busybox:latest) unless it exists."""
    args = sys.argv[1:] if argv is None else argv
    name = args[0] if args else DEFAULT_IMAGE
    try:
        client = docker.from_env()
        try:
            print(f"image {ensure_busybox_image(client, name)} is ready", file=sys.stderr)
        finally:
            client.close()
    except BusyboxMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except docker.errors.DockerException as exc:
        print(f"error: cannot build {name}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
