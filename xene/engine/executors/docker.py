"""Runs each task in its own Docker container, steps as `exec`s, the run's files on one volume.

A pipeline with a `sharedContainer` instead gets one container for the whole run (the original
Xene's executor): every task's steps are execs in it, in the task's working directory, so what
one task writes anywhere in its file system is there for the next; tasks run in it at once.

The Docker SDK blocks, so every call goes through a private thread pool (DockerAPI) and step
output crosses from the reading thread to the event loop through a bounded queue: the loop never
blocks and a step writing faster than the run's observers read is slowed down, not buffered.

Containers and volumes carry `xene.dev/*` labels, so whatever a crash leaves behind can be found
and swept (`DockerExecutor.sweep`). Containers come from a ContainerFactory: today a fresh
container per task attempt; a pool of pre-started containers per image can take its place.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import io
import logging
import posixpath
import tarfile
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import docker
import docker.errors
import requests
from docker.types import Mount

from xene.api.executors import DOCKER
from xene.api.plan import SharedContainerPlan, StepPlan, TaskPlan
from xene.backoff import Backoff
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

LABEL_MANAGED = "xene.dev/managed"
LABEL_RUN = "xene.dev/run"
LABEL_TASK = "xene.dev/task"
LABEL_SHARED = "xene.dev/shared"
WORKSPACE_PATH = "/workspace"
DEFAULT_KILL_GRACE = 10.0
# How long a successful image inspect counts before a task start checks the image again.
IMAGE_CHECK_SECONDS = 30.0
# PID 1 of every task container: idles until stopped. Steps are `exec`s next to it, so
# `kill -1` from inside (every process but PID 1 and the caller) stops exactly the running step
# and all it spawned, while the container survives for the task's next step.
KEEPALIVE_SCRIPT = "trap 'exit 0' TERM; while :; do sleep 3600 & wait; done"
# After SIGKILL, how long the step's output stream may take to end before the container is killed.
_KILL_WAIT_SECONDS = 5.0
_QUEUE_SIZE = 64

T = TypeVar("T")


def _slug(text: str, limit: int = 40) -> str:
    cleaned = "".join(c if c.isalnum() or c in "_.-" else "-" for c in text).strip("-._")
    return cleaned[:limit] or "x"


def explain_error(exc: BaseException) -> str:
    """What went wrong with a Docker call, in the engine's words when it gave any."""
    explanation = getattr(exc, "explanation", None)
    if explanation:
        return str(explanation)
    if isinstance(exc, requests.ConnectionError):
        return f"cannot reach the Docker engine ({exc})"
    return str(exc) or type(exc).__name__


# What a call of the Docker SDK raises when the engine refuses or cannot be reached.
DOCKER_ERRORS = (docker.errors.DockerException, requests.RequestException, OSError)


class DockerAPI:
    """The Docker SDK client behind a private thread pool, so the event loop never blocks."""

    def __init__(self, client: docker.DockerClient, max_threads: int = 32) -> None:
        self.client = client
        self._threads = concurrent.futures.ThreadPoolExecutor(
            max_workers=max_threads, thread_name_prefix="xene-docker"
        )
        # Output readers get their own pool: each holds a thread for a step's whole life, and
        # they must never starve the calls that stop those very steps.
        self._stream_threads = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(256, max_threads), thread_name_prefix="xene-docker-output"
        )

    async def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking SDK call in the pool and await its result."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._threads, functools.partial(function, *args, **kwargs)
        )

    async def stream(self, function: Callable[..., T], *args: Any) -> T:
        """Run a long blocking reader (a step's output) in the readers' pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._stream_threads, functools.partial(function, *args))

    async def checked(self, doing: str, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`call`, with Docker and connection errors turned into ExecutorError("<doing>: why")."""
        try:
            return await self.call(function, *args, **kwargs)
        except DOCKER_ERRORS as exc:
            raise ExecutorError(f"{doing}: {explain_error(exc)}") from exc

    def close(self) -> None:
        """Stop the pool (without waiting for stuck calls) and close the client."""
        self._threads.shutdown(wait=False, cancel_futures=True)
        self._stream_threads.shutdown(wait=False, cancel_futures=True)
        self.client.close()


@dataclass(frozen=True)
class ContainerRequest:
    """Everything needed to give a task attempt a running container."""

    image: str
    name: str
    labels: Mapping[str, str]
    workspace_volume: str
    working_dir: str
    env: Mapping[str, str] = field(default_factory=dict)
    network_mode: str = "none"
    memory_bytes: int | None = None
    nano_cpus: int | None = None


class ContainerFactory(ABC):
    """Hands out running containers for task attempts and takes them back.

    The seam for a warm pool: `acquire` may return a pre-started container, `release` may recycle
    it; the executor relies only on the container running KEEPALIVE_SCRIPT as PID 1 with the
    workspace at /workspace.
    """

    @abstractmethod
    async def acquire(self, request: ContainerRequest) -> str:
        """A running container's id."""

    @abstractmethod
    async def release(self, container_id: str) -> None:
        """The task attempt is over; the container's processes must stop."""

    async def claim_workspace(self, run_id: str) -> str | None:
        """A ready workspace volume that becomes the run's own, or None to create one."""
        return None

    async def discard_workspace(self, volume: str) -> None:
        """The run is over; remove what `claim_workspace` handed out for it."""
        return None

    async def close(self) -> None:
        """Remove whatever the factory keeps in reserve."""
        return None

    def keeps(self, labels: Mapping[str, str]) -> bool:
        """Whether a container or volume labelled `labels` is this factory's live reserve
        (which a sweep for leftovers must not remove)."""
        return False


class FreshContainers(ContainerFactory):
    """One new container per task attempt, removed when released."""

    def __init__(self, api: DockerAPI) -> None:
        self._api = api

    async def acquire(self, request: ContainerRequest) -> str:
        """Create and start a container for `request`."""
        containers = self._api.client.containers
        creating = asyncio.ensure_future(
            self._api.checked(
                f"could not create a container from image '{request.image}'",
                containers.create,
                image=request.image,
                entrypoint=["/bin/sh", "-c", KEEPALIVE_SCRIPT],
                name=request.name,
                labels=dict(request.labels),
                environment=dict(request.env),
                working_dir=request.working_dir,
                mounts=[
                    Mount(target=WORKSPACE_PATH, source=request.workspace_volume, type="volume")
                ],
                network_mode=request.network_mode,
                mem_limit=request.memory_bytes,
                nano_cpus=request.nano_cpus,
                privileged=False,
                security_opt=["no-new-privileges"],
                detach=True,
            )
        )
        try:
            container = await asyncio.shield(creating)
        except asyncio.CancelledError:
            # The create goes on in its thread and may finish after the run's cleanup looked
            # for the run's containers: wait for it and remove what it made.
            await complete_despite_cancel(self._discard(creating))
            raise
        try:
            await self._api.checked(
                f"could not start a container from image '{request.image}'", container.start
            )
        except BaseException:
            await complete_despite_cancel(self.release(container.id))
            raise
        return str(container.id)

    async def _discard(self, creating: asyncio.Future[Any]) -> None:
        try:
            container = await creating
        except Exception:
            return  # nothing was created
        await self.release(container.id)

    async def release(self, container_id: str) -> None:
        """Remove the container and everything running in it."""
        try:
            await self._api.call(self._api.client.api.remove_container, container_id, force=True)
        except docker.errors.NotFound:
            pass
        except DOCKER_ERRORS as exc:
            log.warning("could not remove container %s: %s", container_id[:12], explain_error(exc))


class DockerExecutor(Executor):
    """Docker executor: a container per task (from the task's image), steps run with exec.

    `network` is the containers' network mode ("none" unless configured); `labels` are added to
    everything created (e.g. the agent's name) and narrow `sweep`. Images are pulled only when
    missing (IfNotPresent).
    """

    name = DOCKER

    def __init__(
        self,
        client: docker.DockerClient | None = None,
        *,
        network: str = "none",
        kill_grace: float = DEFAULT_KILL_GRACE,
        default_image: str | None = None,
        labels: Mapping[str, str] | None = None,
        factory: ContainerFactory | Callable[[DockerAPI], ContainerFactory] | None = None,
        max_threads: int = 32,
    ) -> None:
        self._api = DockerAPI(client or docker.from_env(), max_threads)
        self._network = network
        self._kill_grace = kill_grace
        self._default_image = default_image
        self._labels = {LABEL_MANAGED: "true", **(labels or {})}
        # A callable builds the factory on this executor's client (e.g. WarmPool.factory(...)).
        if factory is None:
            self._factory: ContainerFactory = FreshContainers(self._api)
        elif isinstance(factory, ContainerFactory):
            self._factory = factory
        else:
            self._factory = factory(self._api)
        self._pull_locks: dict[str, asyncio.Lock] = {}
        self._images_seen: dict[str, float] = {}

    @property
    def api(self) -> DockerAPI:
        """The client and thread pool this executor uses."""
        return self._api

    @property
    def factory(self) -> ContainerFactory:
        """Where task containers come from."""
        return self._factory

    async def prepare_run(self, run_id: str) -> Workspace:
        """Create the run's workspace volume (or take a warm one from the factory)."""
        warm = await self._factory.claim_workspace(run_id)
        if warm is not None:
            return Workspace(run_id=run_id, path=WORKSPACE_PATH, location=warm)
        name = f"xene-{_slug(run_id, 80)}-{uuid.uuid4().hex[:8]}"
        await self._api.checked(
            "could not create the workspace volume",
            self._api.client.volumes.create,
            name=name,
            labels={**self._labels, LABEL_RUN: run_id},
        )
        return Workspace(run_id=run_id, path=WORKSPACE_PATH, location=name)

    async def open_task(
        self, name: str, task: TaskPlan, workspace: Workspace, env: Mapping[str, str]
    ) -> TaskContext:
        """Make sure the image is there, then start the task's container."""
        image = task.image or self._default_image
        if not image:
            raise ExecutorError(f"task '{name}' names no image; the docker executor needs one")
        await self._ensure_image(image)
        working_dir = posixpath.join(WORKSPACE_PATH, task.workingDir or "")
        request = ContainerRequest(
            image=image,
            name=f"xene-{_slug(workspace.run_id)}-{_slug(name)}-{uuid.uuid4().hex[:6]}",
            labels={**self._labels, LABEL_RUN: workspace.run_id, LABEL_TASK: name},
            workspace_volume=workspace.location,
            working_dir=posixpath.normpath(working_dir),
            env=env,
            network_mode=self._network,
            memory_bytes=task.memoryBytes,
            nano_cpus=int(task.cpus * 1e9) if task.cpus else None,
        )
        container_id = await self._factory.acquire(request)
        return DockerTaskContext(self._api, self._factory, container_id, self._kill_grace)

    async def _ensure_image(self, image: str) -> None:
        """IfNotPresent: pull only when the image is missing, once per image at a time."""
        # An image seen moments ago is still there (or the container create says it is not):
        # skipping the inspect takes a Docker round trip off every task start.
        seen = self._images_seen.get(image)
        if seen is not None and time.monotonic() - seen < IMAGE_CHECK_SECONDS:
            return
        lock = self._pull_locks.setdefault(image, asyncio.Lock())
        async with lock:
            try:
                await self._api.call(self._api.client.api.inspect_image, image)
                self._images_seen[image] = time.monotonic()
                return
            except docker.errors.ImageNotFound:
                pass
            except DOCKER_ERRORS as exc:
                raise ExecutorError(
                    f"could not inspect image '{image}': {explain_error(exc)}"
                ) from exc
            try:
                await self._api.call(self._pull, image)
            except DOCKER_ERRORS as exc:
                problem = explain_error(exc)
                raise ExecutorError(
                    f"image '{image}' not found locally and could not be pulled: {problem}"
                ) from exc

    def _pull(self, image: str) -> None:
        for message in self._api.client.api.pull(image, stream=True, decode=True):
            if isinstance(message, dict) and message.get("error"):
                raise docker.errors.DockerException(str(message["error"]))

    async def open_shared(
        self, shared: SharedContainerPlan, workspace: Workspace, env: Mapping[str, str]
    ) -> SharedContext:
        """Start the run's one container from the shared image, with the run's workspace at
        /workspace; it carries the run's labels, so a sweep finds it after a crash."""
        await self._ensure_image(shared.image)
        request = ContainerRequest(
            image=shared.image,
            name=f"xene-{_slug(workspace.run_id)}-shared-{uuid.uuid4().hex[:6]}",
            labels={**self._labels, LABEL_RUN: workspace.run_id, LABEL_SHARED: "true"},
            workspace_volume=workspace.location,
            working_dir=posixpath.normpath(posixpath.join(WORKSPACE_PATH, shared.workingDir or "")),
            env=env,
            network_mode=self._network,
            memory_bytes=shared.memoryBytes,
            nano_cpus=int(shared.cpus * 1e9) if shared.cpus else None,
        )
        container_id = await self._factory.acquire(request)
        return DockerSharedContext(self._api, self._factory, container_id, self._kill_grace)

    async def cleanup_run(self, workspace: Workspace) -> None:
        """Remove the run's containers (any a failure left behind) and then its volume."""
        await self.sweep(run_id=workspace.run_id)
        await self._factory.discard_workspace(workspace.location)

    async def sweep(self, run_id: str | None = None) -> int:
        """Remove containers and volumes this executor's labels mark (of one run, or all)."""
        filters = [f"{key}={value}" for key, value in self._labels.items()]
        if run_id is not None:
            filters.append(f"{LABEL_RUN}={run_id}")
        client = self._api.client
        removed = 0
        try:
            containers = await self._api.call(
                client.api.containers, all=True, filters={"label": filters}
            )
            for container in containers:
                if self._factory.keeps(container.get("Labels") or {}):
                    continue
                # Directly, not through the factory: a pool must not recycle these.
                try:
                    await self._api.call(client.api.remove_container, container["Id"], force=True)
                    removed += 1
                except docker.errors.NotFound:
                    pass
            volumes = await self._api.call(client.api.volumes, filters={"label": filters})
            for volume in (volumes or {}).get("Volumes") or []:
                if self._factory.keeps(volume.get("Labels") or {}):
                    continue
                try:
                    await self._api.call(client.api.remove_volume, volume["Name"], force=True)
                    removed += 1
                except docker.errors.NotFound:
                    pass
        except DOCKER_ERRORS as exc:
            log.warning("sweeping Docker leftovers (%s) failed: %s", filters, explain_error(exc))
        return removed

    async def close(self) -> None:
        """Close the container factory, the Docker client and the thread pool."""
        try:
            await self._factory.close()
        finally:
            self._api.close()


def _tar_of(relative: str, data: bytes) -> bytes:
    """A tar archive holding `data` at `relative`, with its parent directories."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        parts = relative.split("/")
        for depth in range(1, len(parts)):
            directory = tarfile.TarInfo("/".join(parts[:depth]))
            directory.type, directory.mode = tarfile.DIRTYPE, 0o755
            archive.addfile(directory)
        member = tarfile.TarInfo(relative)
        member.size, member.mode = len(data), 0o644
        archive.addfile(member, io.BytesIO(data))
    return buffer.getvalue()


class _ExecContext(TaskContext):
    """Steps of one task attempt as execs in a container: the task's own or the run's shared one.

    Subclasses say what command runs a step and how a step is stopped.
    """

    def __init__(self, api: DockerAPI, container_id: str, kill_grace: float) -> None:
        self._api = api
        self.container_id = container_id
        self._kill_grace = kill_grace
        self._broken: str | None = None
        self._closed = False
        self._readers: set[asyncio.Future[None]] = set()

    def _command(self, step: StepPlan) -> list[str]:
        """What is exec'd to run `step`."""
        return ["/bin/sh", "-c", step.run]

    def _stream(self) -> _ExecStream:
        return _ExecStream(asyncio.get_running_loop())

    async def _stop_step(self, stream: _ExecStream, on_output: OutputCallback) -> None:
        """Stop a step that was cancelled or broke, and everything it started."""
        raise NotImplementedError

    async def write_file(self, path: str, data: bytes) -> bool:
        """Copy a file under the workspace into the container in one call (no exec)."""
        relative = posixpath.relpath(posixpath.normpath(path), WORKSPACE_PATH)
        if self._broken or relative.startswith(".."):
            return False
        archive = _tar_of(relative, data)
        stored = await self._api.checked(
            f"could not write {path}",
            self._api.client.api.put_archive,
            self.container_id,
            WORKSPACE_PATH,
            archive,
        )
        return bool(stored)

    async def exec_step(
        self, step: StepPlan, env: Mapping[str, str], on_output: OutputCallback
    ) -> int:
        """`sh -c <run>` via exec; output streams while it runs; returns the exit code."""
        if self._broken:
            raise ExecutorError(self._broken)
        api = self._api.client.api
        created = await self._api.checked(
            "could not start the step",
            api.exec_create,
            self.container_id,
            self._command(step),
            environment=dict(env),
            stdout=True,
            stderr=True,
        )
        exec_id = created["Id"]
        stream = self._stream()
        # The reading thread can outlive this call (a step that survives SIGKILL); close() waits
        # for it once the container is gone.
        reader = asyncio.ensure_future(self._api.stream(stream.pump, api, exec_id))
        self._readers.add(reader)
        reader.add_done_callback(self._reader_done)
        try:
            # A background process of the step may hold the stream open; dockerd closes it two
            # seconds after the step's shell exits, and the process lives on until the task ends.
            await stream.deliver(on_output)
            return await self._exit_code(exec_id)
        except BaseException:
            await complete_despite_cancel(self._stop_step(stream, on_output))
            raise
        finally:
            stream.abandon()

    def _reader_done(self, reader: asyncio.Future[None]) -> None:
        self._readers.discard(reader)
        if not reader.cancelled() and reader.exception() is not None:
            log.error("reading step output failed", exc_info=reader.exception())

    async def _exit_code(self, exec_id: str) -> int:
        # The output stream can end a moment before the daemon records the exit.
        polling = Backoff(0.005, 0.1, jitter=0.0)
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            info = await self._api.checked(
                "could not read the step's exit code", self._api.client.api.exec_inspect, exec_id
            )
            if not info.get("Running") and info.get("ExitCode") is not None:
                return int(info["ExitCode"])
            await asyncio.sleep(polling.next_delay())
        raise ExecutorError("the step's exit code could not be read from Docker")

    async def _run_quietly(self, command: list[str], what: str) -> None:
        """Exec `command` to its end (signals, mostly); a failure is logged, not raised."""
        api = self._api.client.api
        try:
            created = await self._api.call(api.exec_create, self.container_id, command)
            await self._api.call(api.exec_start, created["Id"])
        except DOCKER_ERRORS as exc:
            log.warning(
                "could not %s in container %s: %s", what, self.container_id[:12], explain_error(exc)
            )

    async def _wait_for_readers(self) -> None:
        if self._readers:
            await asyncio.wait(set(self._readers), timeout=_KILL_WAIT_SECONDS)


class DockerTaskContext(_ExecContext):
    """A task attempt's own container; steps are execs in it."""

    def __init__(
        self, api: DockerAPI, factory: ContainerFactory, container_id: str, kill_grace: float
    ) -> None:
        super().__init__(api, container_id, kill_grace)
        self._factory = factory

    async def _stop_step(self, stream: _ExecStream, on_output: OutputCallback) -> None:
        """TERM every process but PID 1, KILL after the grace period, stop the container last."""
        if stream.ended:
            return
        await self._signal_all("TERM")
        if await stream.deliver_for(on_output, self._kill_grace):
            return
        await self._signal_all("KILL")
        if await stream.deliver_for(on_output, _KILL_WAIT_SECONDS):
            return
        self._broken = "the task's container was stopped because a step could not be killed"
        log.warning("container %s: step survived SIGKILL; killing the container", self.container_id)
        try:
            await self._api.call(self._api.client.api.kill, self.container_id)
        except DOCKER_ERRORS as exc:
            log.warning(
                "could not kill container %s: %s", self.container_id[:12], explain_error(exc)
            )
        stream.abandon()

    async def _signal_all(self, signal_name: str) -> None:
        # Every process but PID 1 and the caller: the task's step and all it spawned.
        await self._run_quietly(["/bin/sh", "-c", f"kill -{signal_name} -1"], "signal the step")

    async def close(self) -> None:
        """Remove the container (through the factory); output readers end with it."""
        if self._closed:
            return
        self._closed = True
        await self._factory.release(self.container_id)
        await self._wait_for_readers()


# A step in the shared container: the exec prints its PID (the step's process group: every exec
# is a session leader) on stderr first, so a stop signals exactly this step's group while other
# tasks' steps go on; then it enters the task's working directory, creating it when missing.
SHARED_STEP_SCRIPT = (
    'printf "%s\\n" "$$" >&2; '
    'cd -- "$1" 2>/dev/null || { mkdir -p -- "$1" && cd -- "$1"; } || '
    '{ echo "xene: cannot use working directory $1" >&2; exit 125; }; '
    'exec /bin/sh -c "$2"'
)
# How long a stop waits for the step's PID line when the step has only just started.
_PID_WAIT_SECONDS = 2.0


class SharedTaskContext(_ExecContext):
    """A task attempt in the run's shared container: steps are execs in its working directory.

    Closing it stops nothing: what a task leaves running (a server its dependants use) lives
    until the shared container is removed at the end of the run, as in the original Xene.
    """

    def __init__(
        self, api: DockerAPI, container_id: str, working_dir: str, kill_grace: float
    ) -> None:
        super().__init__(api, container_id, kill_grace)
        self.working_dir = working_dir

    def _command(self, step: StepPlan) -> list[str]:
        return ["/bin/sh", "-c", SHARED_STEP_SCRIPT, "xene-step", self.working_dir, step.run]

    def _stream(self) -> _ExecStream:
        return _ExecStream(asyncio.get_running_loop(), pid_line=True)

    async def _stop_step(self, stream: _ExecStream, on_output: OutputCallback) -> None:
        """TERM the step's process group, KILL it after the grace period; other tasks' steps
        in the container are not touched."""
        if stream.ended:
            return
        try:
            pid = await asyncio.wait_for(asyncio.shield(stream.pid), _PID_WAIT_SECONDS)
        except TimeoutError:
            pid = None
        if pid is None:
            log.warning(
                "container %s: the step's process is unknown and cannot be stopped before the "
                "run ends",
                self.container_id[:12],
            )
            stream.abandon()
            return
        await self._signal_group(pid, "TERM")
        if await stream.deliver_for(on_output, self._kill_grace):
            return
        await self._signal_group(pid, "KILL")
        if not await stream.deliver_for(on_output, _KILL_WAIT_SECONDS):
            log.warning("container %s: a step survived SIGKILL", self.container_id[:12])
            stream.abandon()

    async def _signal_group(self, pid: int, signal_name: str) -> None:
        await self._run_quietly(
            ["/bin/sh", "-c", f"kill -{signal_name} -{pid} 2>/dev/null; exit 0"],
            "signal the step",
        )

    async def close(self) -> None:
        """The attempt is over; the container stays for the run's other tasks."""
        if self._closed:
            return
        self._closed = True
        await self._wait_for_readers()


class DockerSharedContext(SharedContext):
    """The run's one container (a pipeline's `sharedContainer`); task attempts are exec'd in it."""

    def __init__(
        self, api: DockerAPI, factory: ContainerFactory, container_id: str, kill_grace: float
    ) -> None:
        self._api = api
        self._factory = factory
        self.container_id = container_id
        self._kill_grace = kill_grace
        self._closed = False

    async def open_task(self, name: str, task: TaskPlan, env: Mapping[str, str]) -> TaskContext:
        """A context in the task's working directory (an absolute one as it is, a relative one
        under /workspace); the first step creates it when missing."""
        if self._closed:
            raise ExecutorError(f"task '{name}': the run's shared container was removed")
        working_dir = posixpath.normpath(posixpath.join(WORKSPACE_PATH, task.workingDir or ""))
        return SharedTaskContext(self._api, self.container_id, working_dir, self._kill_grace)

    async def close(self) -> None:
        """Remove the container and everything still running in it."""
        if self._closed:
            return
        self._closed = True
        await self._factory.release(self.container_id)


class _End:
    """Marks the end of an exec's output in the queue."""


_END = _End()


class _ExecStream:
    """One exec's output: a pool thread reads the Docker stream and feeds a bounded queue.

    With `pid_line` the exec's first stderr line is its PID (SHARED_STEP_SCRIPT prints it): it is
    taken off the output and resolves `pid` as soon as the thread reads it (None if it never
    comes), so a stop can signal the step even before its output was delivered.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, *, pid_line: bool = False) -> None:
        self._loop = loop
        self.pid: asyncio.Future[int | None] = loop.create_future()
        self._pid_pending = pid_line
        self._pid_buffer = b""
        if not pid_line:
            self.pid.set_result(None)
        self._queue: asyncio.Queue[tuple[OutputStream, bytes] | BaseException | _End] = (
            asyncio.Queue(_QUEUE_SIZE)
        )
        self._abandoned = threading.Event()
        self._lock = threading.Lock()
        self._source: Any = None
        self.ended = False

    def pump(self, api: Any, exec_id: str) -> None:
        """Thread side: read frames until the exec ends or the stream is abandoned."""
        try:
            source = api.exec_start(exec_id, stream=True, demux=True)
            with self._lock:
                self._source = source
                abandoned = self._abandoned.is_set()
            if abandoned:
                source.close()
                return
            for stdout, stderr in source:
                if stdout:
                    self._put(("stdout", stdout))
                if stderr and self._pid_pending:
                    stderr = self._take_pid(stderr)
                if stderr:
                    self._put(("stderr", stderr))
        except Exception as exc:
            if not self._abandoned.is_set():
                self._put(exc)
        finally:
            if self._pid_pending:
                self._resolve_pid(None)
            self._put(_END)

    def _take_pid(self, data: bytes) -> bytes:
        """Thread side: strip the PID line off the first stderr bytes; what is left of them."""
        self._pid_buffer += data
        line, newline, rest = self._pid_buffer.partition(b"\n")
        if not newline:
            if len(self._pid_buffer) <= 32:
                return b""
            rest, line = self._pid_buffer, b""  # no PID line after all: hand it all on
        self._pid_buffer = b""
        if line.strip().isdigit():
            self._resolve_pid(int(line))
            return rest
        self._resolve_pid(None)
        return line + newline + rest

    def _resolve_pid(self, pid: int | None) -> None:
        self._pid_pending = False

        def resolve() -> None:
            if not self.pid.done():
                self.pid.set_result(pid)

        try:
            self._loop.call_soon_threadsafe(resolve)
        except RuntimeError:  # the loop is closed
            pass

    def _put(self, item: tuple[OutputStream, bytes] | BaseException | _End) -> None:
        if self._abandoned.is_set():
            return
        try:
            future = asyncio.run_coroutine_threadsafe(self._queue.put(item), self._loop)
        except RuntimeError:  # the loop is closed
            return
        while True:
            try:
                future.result(timeout=0.25)
                return
            except concurrent.futures.TimeoutError:
                if self._abandoned.is_set():
                    future.cancel()
                    return
            except Exception:
                return

    async def deliver(self, on_output: OutputCallback) -> None:
        """Loop side: hand output to `on_output` until the exec's stream ends."""
        while not self.ended:
            item = await self._queue.get()
            if isinstance(item, _End):
                self.ended = True
            elif isinstance(item, BaseException):
                raise ExecutorError(f"reading the step's output failed: {explain_error(item)}")
            else:
                await on_output(*item)

    async def deliver_for(self, on_output: OutputCallback, seconds: float) -> bool:
        """`deliver` for at most `seconds`; whether the stream ended."""
        try:
            async with asyncio.timeout(seconds):
                await self.deliver(on_output)
        except (TimeoutError, ExecutorError):
            pass
        return self.ended

    def abandon(self) -> None:
        """Stop caring: the reading thread drops what it reads and the stream is shut."""
        with self._lock:
            self._abandoned.set()
            source = self._source
        if source is not None:
            try:
                source.close()
            except Exception:
                log.debug("closing an exec stream failed", exc_info=True)
