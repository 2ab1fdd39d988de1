"""What every benchmark needs: etcd and xene-apiserver on free loopback ports, RSS, JSON output.

Everything started here lives under one temporary directory and is stopped by `Cluster.close`
(also on Ctrl-C or a failed measurement), so a benchmark leaves no process or file behind.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from xene.store.embedded import EmbeddedEtcd

MIB = 1024 * 1024


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def console_script(name: str) -> str:
    """Path of an installed console script (next to this interpreter if possible)."""
    beside = Path(sys.executable).with_name(name)
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if not found:
        raise SystemExit(f"console script {name} is not installed; run pip install -e .")
    return found


def rss_bytes(pid: int) -> int:
    """Resident set size of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def peak_rss_bytes(pid: int) -> int:
    """The process's high-water mark of resident memory (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmHWM for pid {pid}")


def settled_rss(pid: int, seconds: float = 3.0) -> int:
    """RSS once it stopped moving by more than 1% over `seconds` (or after 30 s)."""
    deadline = time.monotonic() + 30.0
    previous = rss_bytes(pid)
    while True:
        time.sleep(seconds)
        now = rss_bytes(pid)
        if abs(now - previous) <= previous / 100 or time.monotonic() > deadline:
            return now
        previous = now


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine() -> str:
    """A one-line description of the machine the figures were taken on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = f"load {os.getloadavg()[0]:.1f}"
    except OSError:
        load = "load ?"
    return f"{os.cpu_count()} cpu {cpu}, Python {platform.python_version()}, {load}"


def emit(figures: dict[str, Any]) -> None:
    """Print the benchmark's one JSON line (figures rounded for reading)."""

    def tidy(value: Any) -> Any:
        return round(value, 4) if isinstance(value, float) else value

    line = {key: tidy(value) for key, value in figures.items()}
    line["machine"] = machine()
    print(json.dumps(line), flush=True)


def wait_for_http(url: str, timeout: float, process: subprocess.Popen[bytes] | None) -> None:
    """Poll `url` until it answers 200; fail early if `process` died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


@dataclass
class ApiServer:
    """A running xene-apiserver process."""

    process: subprocess.Popen[bytes]
    http_port: int
    grpc_port: int
    log_path: Path

    @property
    def url(self) -> str:
        """Base URL of the REST API."""
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc_address(self) -> str:
        """HOST:PORT of the agent service."""
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def cpu_seconds(self) -> float:
        """CPU time the apiserver has used so far."""
        return cpu_seconds(self.process.pid)

    @property
    def rss(self) -> int:
        """The apiserver's resident memory in bytes."""
        return rss_bytes(self.process.pid)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not exit in time."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class Cluster:
    """etcd plus apiservers for one benchmark, all under one temporary directory."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="xene-bench-")))
    etcd: EmbeddedEtcd | None = None
    servers: list[ApiServer] = field(default_factory=list)
    profilers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start_etcd(self) -> str:
        """Start a single-member etcd tuned for speed over durability; its endpoint."""
        client_port, peer_port = free_port(), free_port()
        self.etcd = EmbeddedEtcd(
            self.root / "etcd",
            client_port=client_port,
            peer_port=peer_port,
            startup_timeout=30.0,
            unsafe_no_fsync=True,
            auto_compaction_retention=None,
            # 10,000 pipelines with run history exceed the 2 GiB default only in long runs,
            # but the benchmark writes fast: give it room.
            extra_args=["--quota-backend-bytes", str(8 * 1024 * MIB)],
        )
        self.etcd.start_blocking()
        return self.etcd.endpoint

    def start_apiserver(self, *extra: str, lease_ttl: int = 10) -> ApiServer:
        """Start xene-apiserver on this cluster's etcd; returns once /readyz answers."""
        if self.etcd is None:
            self.start_etcd()
        assert self.etcd is not None
        http_port, grpc_port = free_port(), free_port()
        index = len(self.servers)
        workdir = self.root / f"apiserver-{index}"
        (workdir / "home").mkdir(parents=True, exist_ok=True)
        args = [
            console_script("xene-apiserver"),
            "--http-address",
            f"127.0.0.1:{http_port}",
            "--grpc-address",
            f"127.0.0.1:{grpc_port}",
            "--data-dir",
            str(workdir / "data"),
            "--etcd-endpoints",
            self.etcd.endpoint,
            "--agent-lease-ttl-seconds",
            str(lease_ttl),
            "--leader-lease-ttl-seconds",
            "5",
            "--log-level",
            "warning",
            *extra,
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("XENE_")}
        env["HOME"] = str(workdir / "home")
        log_path = workdir / "apiserver.log"
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=workdir
            )
        server = ApiServer(process, http_port, grpc_port, log_path)
        self.servers.append(server)
        wait_for_http(server.url + "/readyz", 60.0, process)
        profile = os.environ.get("XENE_BENCH_PROFILE")
        if profile:
            # py-spy (pip install py-spy) samples the server; its flame data is written on SIGINT.
            self.profilers.append(
                subprocess.Popen(
                    [
                        *("py-spy", "record", "--pid", str(process.pid), "--format", "raw"),
                        *("--rate", "50", "--nonblocking", "-o", f"{profile}.{index}.txt"),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        return server

    def close(self) -> None:
        """Stop everything started and remove the temporary directory."""
        for profiler in self.profilers:
            profiler.send_signal(signal.SIGINT)
            try:
                profiler.wait(timeout=60)
            except subprocess.TimeoutExpired:
                profiler.kill()
                profiler.wait()
        for server in self.servers:
            server.stop()
        if self.etcd is not None:
            self.etcd.kill()
        if os.environ.get("XENE_BENCH_KEEP"):
            print(f"kept {self.root}", file=sys.stderr)
        else:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def spawn_agent(
    cluster: Cluster, server: ApiServer, name: str, *extra: str
) -> subprocess.Popen[bytes]:
    """Start a real xene-agent `name` against `server`, its files under the cluster's root."""
    workdir = cluster.root / name
    (workdir / "home").mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("XENE_")}
    env["HOME"] = str(workdir / "home")
    args = [
        console_script("xene-agent"),
        *("--server", server.grpc_address, "--name", name),
        *("--data-dir", str(workdir / "data"), "--log-level", "warning", *extra),
    ]
    with open(workdir / "agent.log", "ab") as log:
        return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=workdir)
