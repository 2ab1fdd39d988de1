"""Runs steps as host processes (`/bin/sh -c`) in a per-run workspace directory.

For hosts without Docker, `xenectl run --local` and tests of the engine. Tasks of a run share the
workspace directory and the whole host, so a pipeline's shared container needs nothing more here
(its image, like a task's, is ignored). A relative `workingDir` is under the workspace; an
absolute one is used as it is, created when missing. Every step starts a new session, so its process
group holds the whole tree it spawns: timeouts and cancels signal the group, not just the shell.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from xene.api.executors import PROCESS
from xene.api.plan import SharedContainerPlan, StepPlan, TaskPlan
from xene.engine.events import OutputStream
from xene.engine.executor import (
    Executor,
    ExecutorError,
    OutputCallback,
    SharedContext,
    TaskContext,
    Workspace,
)
from xene.engine.shielding import complete_despite_cancel

log = logging.getLogger(__name__)

DEFAULT_INHERITED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER", "LOGNAME")
DEFAULT_KILL_GRACE = 10.0
# Once a step's shell has exited, how long to keep reading output that its leftover background
# processes may still be writing to the step's pipes before the step is declared over.
DRAIN_SECONDS = 1.0
# ...and at most this long in all, should they keep writing.
DRAIN_LIMIT_SECONDS = 10.0
_READ_SIZE = 64 * 1024


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text)[:80] or "run"


class ProcessExecutor(Executor):
    """Host-process executor.

    `root` holds one fresh directory per run (removed by cleanup_run); with `workspace` every run
    uses that existing directory instead and it is left in place. Steps see only the variables
    named in `inherit_env` from the agent's own environment, plus what the engine passes.
    """

    name = PROCESS

    def __init__(
        self,
        root: Path | None = None,
        *,
        workspace: Path | None = None,
        kill_grace: float = DEFAULT_KILL_GRACE,
        inherit_env: Iterable[str] = DEFAULT_INHERITED_ENV,
        shell: str = "/bin/sh",
    ) -> None:
        self._root = root or Path(tempfile.gettempdir()) / "xene-workspaces"
        self._fixed_workspace = workspace
        self._kill_grace = kill_grace
        self._inherit_env = tuple(inherit_env)
        self._shell = shell
        self._created: set[str] = set()

    async def prepare_run(self, run_id: str) -> Workspace:
        """A new directory under `root` (or the fixed workspace)."""
        try:
            if self._fixed_workspace is not None:
                directory = self._fixed_workspace.resolve()
                directory.mkdir(parents=True, exist_ok=True)
            else:
                self._root.mkdir(parents=True, exist_ok=True)
                directory = Path(tempfile.mkdtemp(prefix=f"{_slug(run_id)}-", dir=self._root))
                self._created.add(str(directory))
        except OSError as exc:
            raise ExecutorError(f"could not create the workspace directory: {exc}") from exc
        return Workspace(run_id=run_id, path=str(directory), location=str(directory))

    async def open_task(
        self, name: str, task: TaskPlan, workspace: Workspace, env: Mapping[str, str]
    ) -> TaskContext:
        """A context whose steps run in the workspace (or the task's workingDir)."""
        directory = Path(workspace.location)
        if task.workingDir:
            directory = directory / task.workingDir  # an absolute workingDir replaces the base
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ExecutorError(
                f"task '{name}': working directory '{directory}' is not usable: {exc}"
            ) from exc
        inherited = {key: os.environ[key] for key in self._inherit_env if key in os.environ}
        return ProcessTaskContext(directory, inherited, self._kill_grace, self._shell)

    async def open_shared(
        self, shared: SharedContainerPlan, workspace: Workspace, env: Mapping[str, str]
    ) -> SharedContext | None:
        """Nothing to start: host processes of one run already share the host's file system."""
        return None

    async def cleanup_run(self, workspace: Workspace) -> None:
        """Remove the run's directory unless it is the fixed workspace."""
        if workspace.location in self._created:
            self._created.discard(workspace.location)
            await asyncio.to_thread(shutil.rmtree, workspace.location, ignore_errors=True)


def _write_file(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


class ProcessTaskContext(TaskContext):
    """Steps of one task attempt; closing it kills what its steps left running in the background."""

    def __init__(
        self, directory: Path, inherited: Mapping[str, str], kill_grace: float, shell: str
    ) -> None:
        self._directory = directory
        self._inherited = dict(inherited)
        self._kill_grace = kill_grace
        self._shell = shell
        self._groups: set[int] = set()

    async def write_file(self, path: str, data: bytes) -> bool:
        """Write the file on the host directly: steps see host paths."""
        try:
            # In the loop, not a thread: a payload is at most 64 KiB, and the thread hop would
            # cost more than the write.
            _write_file(Path(path), data)
        except OSError as exc:
            raise ExecutorError(f"could not write {path}: {exc.strerror or exc}") from exc
        return True

    async def exec_step(
        self, step: StepPlan, env: Mapping[str, str], on_output: OutputCallback
    ) -> int:
        """Run the step in its own session; output is read from pipes as it is written."""
        loop = asyncio.get_running_loop()
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        try:
            process = await asyncio.create_subprocess_exec(
                self._shell,
                "-c",
                step.run,
                cwd=self._directory,
                env={**self._inherited, **env},
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out_write,
                stderr=err_write,
                start_new_session=True,
            )
        except OSError as exc:
            os.close(out_read)
            os.close(err_read)
            raise ExecutorError(f"could not start {self._shell}: {exc}") from exc
        finally:
            # The child holds its own copies; ours must go or the pipes never reach EOF.
            os.close(out_write)
            os.close(err_write)
        self._groups.add(process.pid)
        pipes = _OutputPipes(on_output)
        try:
            await pipes.open(loop, out_read, "stdout")
            await pipes.open(loop, err_read, "stderr")
            return await process.wait()
        except BaseException:
            # Cancelled (timeout, cancel) or broken: the step's whole group must not outlive it.
            await complete_despite_cancel(self._terminate(process))
            raise
        finally:
            await complete_despite_cancel(pipes.drain())
            # Forget a group with nothing left in it: once empty, its number can be reused by an
            # unrelated process, which close() must never signal.
            if not _group_is_running(process.pid):
                self._groups.discard(process.pid)

    async def _terminate(self, process: asyncio.subprocess.Process) -> None:
        """SIGTERM the step's group, SIGKILL whatever is left after the grace period."""
        _signal_group(process.pid, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), self._kill_grace)
        _signal_group(process.pid, signal.SIGKILL)
        await process.wait()

    async def close(self) -> None:
        """Stop background processes the task's steps left behind (TERM, grace, KILL)."""
        alive = [group for group in self._groups if _group_is_running(group)]
        self._groups.clear()
        alive = [group for group in alive if _signal_group(group, signal.SIGTERM)]
        if not alive:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._kill_grace
        while alive and loop.time() < deadline:
            await asyncio.sleep(0.05)
            alive = [group for group in alive if _group_is_running(group)]
        for group in alive:
            _signal_group(group, signal.SIGKILL)


def _signal_group(group: int, signum: int) -> bool:
    """Signal a process group; False when no process of it is left."""
    try:
        os.killpg(group, signum)
    except ProcessLookupError:
        return False
    except PermissionError:
        log.warning("not allowed to signal process group %d", group)
        return False
    return True


def _group_is_running(group: int) -> bool:
    """Whether a process group has a member that is not a zombie.

    Orphans of a step are reaped by the host's init, which may take its time; a group of zombies
    is already stopped and must not hold up closing the task.
    """
    # Fast path: no process of the group exists at all (the usual case once a step's shell
    # was reaped), so the /proc scan below (milliseconds per call) is not needed.
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: let /proc tell
    proc = Path("/proc")
    if not proc.is_dir():
        return _signal_group(group, 0)
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command: state, ppid, pgrp, ...
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2 and fields[2] == str(group) and fields[0] != "Z":
            return True
    return False


class _OutputPipes:
    """The read ends of a step's stdout and stderr, each pumped into `on_output` by a task."""

    def __init__(self, on_output: OutputCallback) -> None:
        self._on_output = on_output
        self._transports: list[asyncio.BaseTransport] = []
        self._readers: list[asyncio.Task[None]] = []
        self._chunks = 0
        self._delivering = 0

    async def open(self, loop: asyncio.AbstractEventLoop, fd: int, stream: OutputStream) -> None:
        """Start reading `fd` (ownership passes to this object)."""
        reader = asyncio.StreamReader()
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0)
        )
        self._transports.append(transport)
        self._readers.append(asyncio.create_task(self._pump(reader, stream)))

    async def _pump(self, reader: asyncio.StreamReader, stream: OutputStream) -> None:
        while chunk := await reader.read(_READ_SIZE):
            self._chunks += 1
            self._delivering += 1
            try:
                await self._on_output(stream, chunk)
            finally:
                self._delivering -= 1

    async def drain(self) -> None:
        """Read to EOF; give up once no output came for DRAIN_SECONDS or after DRAIN_LIMIT_SECONDS
        (a background process of the step may hold the pipes open), then close our ends."""
        pending = set(self._readers)
        give_up = asyncio.get_running_loop().time() + DRAIN_LIMIT_SECONDS
        while pending:
            seen = self._chunks
            _, pending = await asyncio.wait(pending, timeout=DRAIN_SECONDS)
            idle = self._chunks == seen and not self._delivering
            if pending and (idle or asyncio.get_running_loop().time() > give_up):
                break
        for reader in pending:
            reader.cancel()
        for result in await asyncio.gather(*self._readers, return_exceptions=True):
            if isinstance(result, Exception):
                log.error("reading step output failed", exc_info=result)
        for transport in self._transports:
            transport.close()
