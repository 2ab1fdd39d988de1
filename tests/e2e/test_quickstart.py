"""The README's first command, as a new user runs it: `bash deploy/quickstart.sh` in a clean clone.

The clone is of this checkout's HEAD (commit what you want tested), in a temporary directory,
with a fresh HOME, free ports and none of the test session's environment: the quickstart makes
its own venv with the runtime dependencies only. As root with dockerd installed, the Docker
engine the quickstart is given does not answer, so it starts (and must stop) a private one, as
on a fresh machine; otherwise it uses the test session's engine. The fan-out run must succeed
with its logs, and `stop` must leave no process, port or daemon of it behind.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import docker
import httpx
import pytest

from tests.e2e.helpers import REPO, eventually
from tests.fixtures.servers import free_port

DOCKERD = Path("/usr/sbin/dockerd")
PORT_VARIABLES = (
    "XENE_QUICKSTART_HTTP_PORT",
    "XENE_QUICKSTART_GRPC_PORT",
    "XENE_QUICKSTART_ETCD_CLIENT_PORT",
    "XENE_QUICKSTART_ETCD_PEER_PORT",
)
QUICKSTART_TIMEOUT = 900  # a fresh venv is installed from the package index

# The quickstart installs a fresh venv: allow it more than the suite's per-test timeout.
pytestmark = [pytest.mark.docker, pytest.mark.timeout(3 * QUICKSTART_TIMEOUT)]


def distinct_free_ports(count: int) -> list[int]:
    """`count` different ports nobody listens on right now."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def port_free(port: int) -> bool:
    """Whether 127.0.0.1:port can be bound (nothing listens on it)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def alive(pid: int) -> bool:
    """Whether a process runs (a zombie, exited but not reaped, does not)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"


def processes_mentioning(markers: list[str]) -> dict[int, str]:
    """Live processes whose command line contains one of `markers` (paths of this test)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(marker in command for marker in markers) and alive(int(entry.name)):
            found[int(entry.name)] = command.strip()
    return found


def container_ids(host: str) -> set[str]:
    """Every container of the engine at `host`, running or not."""
    client = docker.DockerClient(base_url=host)
    try:
        return {container.id for container in client.containers.list(all=True)}
    finally:
        client.close()


def user_environment() -> dict[str, str]:
    """The environment a user's shell would have: none of the test session's venv or XENE_*."""
    session_bin = str(Path(sys.executable).parent)
    path = [part for part in os.environ.get("PATH", "").split(":") if part and part != session_bin]
    dropped = ("XENE", "VIRTUAL_ENV", "PYTHON", "PIP_REQUIRE_VIRTUALENV", "DOCKER_HOST")
    env = {key: value for key, value in os.environ.items() if not key.startswith(dropped)}
    env["PATH"] = ":".join(path) or "/usr/local/bin:/usr/bin:/bin"
    return env


@dataclass
class Quickstart:
    """A clean clone, the environment to run its quickstart in, and what it may leave behind."""

    clone: Path
    env: dict[str, str]
    ports: list[int]
    docker_root: Path | None  # the private dockerd's directory, when it is to start one
    markers: list[str] = field(default_factory=list)

    @property
    def server(self) -> str:
        return f"http://127.0.0.1:{self.ports[0]}"

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "deploy/quickstart.sh", *args],
            cwd=self.clone,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=QUICKSTART_TIMEOUT,
            check=False,
        )


def clean_clone(destination: Path) -> Path:
    """`git clone` of this checkout, at the commit it has checked out."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs git and a git checkout of Xene")
    head = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    subprocess.run(["git", "clone", "-q", str(REPO), str(destination)], check=True, timeout=120)
    subprocess.run(
        ["git", "-C", str(destination), "checkout", "-q", "--detach", head], check=True, timeout=60
    )
    return destination


@pytest.fixture
def quickstart(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Quickstart]:
    """A clean clone with a fresh HOME and free ports; stopped and cleaned up afterwards."""
    clone = clean_clone(tmp_path / "xene")
    home = tmp_path / "home"
    home.mkdir()
    ports = distinct_free_ports(len(PORT_VARIABLES))
    env = {**user_environment(), "HOME": str(home)}
    env.update({name: str(port) for name, port in zip(PORT_VARIABLES, ports, strict=True)})
    docker_root: Path | None = None
    if os.geteuid() == 0 and DOCKERD.exists():
        # A short path: containerd's unix sockets live below it and have a length limit.
        docker_root = Path(tempfile.mkdtemp(prefix="xqs-", dir="/tmp"))
        env["XENE_QUICKSTART_DOCKER_ROOT"] = str(docker_root)
        env["XENE_QUICKSTART_DOCKER_SOCK"] = str(docker_root / "docker.sock")
        # What a fresh machine has: no engine answers where Docker is looked for.
        env["DOCKER_HOST"] = f"unix://{docker_root}/no-engine.sock"
    else:
        env["DOCKER_HOST"] = request.getfixturevalue("docker_engine").host
    markers = [str(clone), str(home)] + ([str(docker_root)] if docker_root else [])
    started = Quickstart(clone, env, ports, docker_root, markers)
    try:
        yield started
    finally:
        started.run("stop")
        leftovers = processes_mentioning(markers)
        for pid in leftovers:
            os.kill(pid, signal.SIGKILL)
        eventually(lambda: not [pid for pid in leftovers if alive(pid)], timeout=30)
        if docker_root is not None:
            # A dockerd that did not shut down cleanly leaves its data root bind-mounted (on the
            # same file system, so os.path.ismount cannot tell): unmount it if so.
            mounted = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
            if str(docker_root / "data") in mounted:
                subprocess.run(["umount", str(docker_root / "data")], check=False)
            shutil.rmtree(docker_root, ignore_errors=True)


def test_the_quickstart_runs_the_fanout_on_a_fresh_machine_and_stop_leaves_nothing(
    quickstart: Quickstart,
) -> None:
    containers_before = set()
    if quickstart.docker_root is None:
        containers_before = container_ids(quickstart.env["DOCKER_HOST"])

    started = quickstart.run()
    output = started.stdout + started.stderr
    assert started.returncode == 0, output
    assert "run fanout.report.1 Succeeded" in output
    # The logs arrived: every task's output, through the server, in the quickstart's output.
    for line in (
        "[prepare/words] prepared 9 words",
        "[count-a/count] part a: 3 words",
        "[count-b/count] part b: 3 words",
        "[count-c/count] part c: 3 words",
        "[sum/total] total: 9 words",
    ):
        assert line in output, output
    run = httpx.get(f"{quickstart.server}/api/v1/pipelineruns/fanout.report.1", timeout=10)
    assert run.json()["status"]["phase"] == "Succeeded"
    identity = httpx.get(f"{quickstart.server}/readyz", timeout=10).json()["identity"]
    assert identity.startswith("quickstart-") and identity in output

    # Its venv holds the runtime dependencies only, none of the test tools.
    venv_python = quickstart.clone / ".venv" / "bin" / "python"
    for module in ("pytest", "hypothesis", "mypy"):
        probe = subprocess.run(
            [str(venv_python), "-c", f"import {module}"], capture_output=True, check=False
        )
        assert probe.returncode != 0, f"{module} is installed in the quickstart's venv"

    started_processes = processes_mentioning(quickstart.markers)
    commands = " ".join(started_processes.values())
    assert "xene-apiserver" in commands and "xene-agent" in commands and "etcd" in commands
    if quickstart.docker_root is not None:
        assert "dockerd" in commands, "the quickstart should have started a private dockerd"

    stopped = quickstart.run("stop")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert "stopped xene-agent" in stopped.stdout and "stopped xene-apiserver" in stopped.stdout
    if quickstart.docker_root is not None:
        assert "stopped dockerd" in stopped.stdout

    eventually(lambda: not [pid for pid in started_processes if alive(pid)], timeout=30)
    assert processes_mentioning(quickstart.markers) == {}
    assert [port for port in quickstart.ports if not port_free(port)] == []
    if quickstart.docker_root is not None:
        assert not (quickstart.docker_root / "docker.sock").exists()
    else:
        left = container_ids(quickstart.env["DOCKER_HOST"]) - containers_before
        assert left == set(), "the agent's containers must go when it stops"


def test_a_server_already_on_the_port_is_not_taken_for_the_quickstarts(
    quickstart: Quickstart,
) -> None:
    # Something else answers on the HTTP port: the quickstart must say so, not use it.
    squatter = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(quickstart.ports[0]), "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        eventually(lambda: not port_free(quickstart.ports[0]), timeout=20)
        result = quickstart.run()
    finally:
        squatter.terminate()
        squatter.wait(10)
    assert result.returncode == 1
    assert f"port {quickstart.ports[0]} is in use by another program" in result.stderr
    assert "XENE_QUICKSTART_HTTP_PORT" in result.stderr
    # It stopped before installing or starting anything.
    assert not (quickstart.clone / ".venv").exists()
    assert processes_mentioning(quickstart.markers) == {}
