"""A warm pool of started task containers ("hot runner"), plugged in as a ContainerFactory.

Why it is shaped this way: Docker cannot add a mount to a container that exists, and every task
container must see its run's workspace at /workspace and nothing of any other run. So the pool
does not keep bare containers; it keeps *warm workspaces*:

    warm workspace = one fresh, empty volume
                     + one started container per pooled image, with that volume at /workspace

`DockerExecutor.prepare_run` asks the pool for a workspace (`claim_workspace`): the run gets a
ready one, and that volume *is* the run's workspace from then on. A task of the run asking for
a container of a pooled image gets the idle container already started on that very volume;
any other request (another image, a second task of the same image, a working directory or
resource limits the pooled containers were not created with) gets a fresh container on the same
volume, exactly as without the pool. Hence, by construction:

- a pooled container only ever mounts the one volume it was created with, and that volume
  belongs to exactly one run (claimed once, never handed out again);
- each container serves one task attempt and is removed when released; spare containers of a
  claimed workspace are removed with the run's workspace (`discard_workspace`);
- no run ever sees another run's files, and no container is reused across runs.

A background task (owned by the pool, cancelled and awaited by `close`) keeps `size` warm
workspaces ready, each with a container for every pooled image: the images named in the
settings plus the ones tasks used most recently (up to `learned_images`). `close` removes every
idle container and unclaimed volume; everything carries the executor's labels plus
`xene.dev/pool`, so `DockerExecutor.sweep` also finds what a crash left behind. The pool fills
lazily (first run, or `start()`), so an agent that sweeps at start-up sweeps before filling.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import docker.errors

from xene.backoff import Backoff
from xene.engine.executor import ExecutorError
from xene.engine.executors.docker import (
    DOCKER_ERRORS,
    LABEL_MANAGED,
    WORKSPACE_PATH,
    ContainerFactory,
    ContainerRequest,
    DockerAPI,
    FreshContainers,
    explain_error,
)
from xene.engine.shielding import complete_despite_cancel

log = logging.getLogger(__name__)

LABEL_POOL = "xene.dev/pool"
LABEL_WORKSPACE = "xene.dev/workspace"
# After a failure to warm up, wait this long (doubling up to the maximum) before trying again.
_RETRY_SECONDS = 1.0
_MAX_RETRY_SECONDS = 30.0


@dataclass(frozen=True)
class PoolSettings:
    """How many warm workspaces to keep, and for which images."""

    # Warm workspaces kept ready; each holds one idle container per pooled image.
    size: int = 2
    # Images always kept warm.
    images: Sequence[str] = ()
    # Also keep warm up to this many images that tasks used most recently (0: only `images`).
    learned_images: int = 2
    # Pooled containers are created with this network mode; requests for another get fresh ones.
    network_mode: str = "none"
    # Added to every pooled container and volume (the executor's labels, to narrow sweeps).
    labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.size < 0:
            raise ValueError(f"pool size must be 0 or more (got {self.size})")
        if self.learned_images < 0:
            raise ValueError(f"learned_images must be 0 or more (got {self.learned_images})")


@dataclass
class _WarmWorkspace:
    volume: str
    # image -> id of an idle, started container with `volume` at /workspace
    containers: dict[str, str] = field(default_factory=dict)
    discarded: bool = False


class WarmPool(ContainerFactory):
    """Warm workspaces with started containers; see the module docstring for the invariants."""

    def __init__(self, api: DockerAPI, settings: PoolSettings | None = None) -> None:
        self._api = api
        self.settings = settings or PoolSettings()
        self.id = uuid.uuid4().hex[:10]
        self._fresh = FreshContainers(api)
        self._labels = {LABEL_MANAGED: "true", **self.settings.labels, LABEL_POOL: self.id}
        self._ready: collections.deque[_WarmWorkspace] = collections.deque()
        self._claimed: dict[str, _WarmWorkspace] = {}
        self._learned: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._failed_images: set[str] = set()
        # Every container the pool made and has not handed to a task, with its volume.
        self._owned: dict[str, str] = {}
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._filler: asyncio.Task[None] | None = None
        self._closed = False

    @classmethod
    def factory(cls, settings: PoolSettings) -> Callable[[DockerAPI], WarmPool]:
        """What `DockerExecutor(factory=...)` takes to build a pool on its own Docker client."""
        return lambda api: cls(api, settings)

    # -- what the pool keeps warm ---------------------------------------------------------

    @property
    def images(self) -> list[str]:
        """The images kept warm now: the configured ones, then the recently used ones."""
        wanted = list(dict.fromkeys(self.settings.images))
        for image in reversed(self._learned):
            if image not in wanted:
                wanted.append(image)
        return [image for image in wanted if image not in self._failed_images]

    def idle_containers(self) -> dict[str, int]:
        """Image -> idle started containers in ready workspaces (what a run can get at once)."""
        counts: dict[str, int] = {}
        for workspace in self._ready:
            for image in workspace.containers:
                counts[image] = counts.get(image, 0) + 1
        return counts

    def _learn(self, image: str) -> None:
        if self.settings.learned_images == 0 or image in self.settings.images:
            return
        new = image not in self._learned
        self._learned[image] = None
        self._learned.move_to_end(image)
        while len(self._learned) > self.settings.learned_images:
            self._learned.popitem(last=False)
        if new:
            self._failed_images.discard(image)
            self._wake.set()

    def start(self) -> None:
        """Begin filling the pool in the background (idempotent; done on first use anyway)."""
        if self._filler is None and not self._closed:
            self._filler = asyncio.get_running_loop().create_task(self._fill())

    async def wait_ready(self, within: float = 30.0) -> None:
        """Wait until `size` workspaces are warm with every pooled image (tests, benchmarks)."""
        self.start()
        async with asyncio.timeout(within):
            while not self._full():
                self._progress.clear()
                await self._progress.wait()

    def _full(self) -> bool:
        images = set(self.images)
        return len(self._ready) >= self.settings.size and all(
            images <= workspace.containers.keys() for workspace in self._ready
        )

    # -- ContainerFactory -----------------------------------------------------------------

    async def claim_workspace(self, run_id: str) -> str | None:
        """A warm workspace's volume, now the run's alone; None when none is ready."""
        self.start()
        self._wake.set()
        if not self._ready:
            return None
        workspace = self._ready.popleft()
        self._claimed[workspace.volume] = workspace
        log.debug("run %s got warm workspace %s", run_id, workspace.volume)
        return workspace.volume

    async def acquire(self, request: ContainerRequest) -> str:
        """The warm container of the request's workspace and image, else a fresh container."""
        self._learn(request.image)
        self.start()
        workspace = self._claimed.get(request.workspace_volume)
        if workspace is not None and self._fits(request):
            container_id = workspace.containers.pop(request.image, None)
            if container_id is not None:
                self._owned.pop(container_id, None)
                if await self._running(container_id):
                    return container_id
                await self._remove_container(container_id)
        return await self._fresh.acquire(request)

    def _fits(self, request: ContainerRequest) -> bool:
        # Pooled containers were created for the plain case; anything else is created fresh.
        return (
            request.working_dir == WORKSPACE_PATH
            and request.network_mode == self.settings.network_mode
            and request.memory_bytes is None
            and request.nano_cpus is None
        )

    async def _running(self, container_id: str) -> bool:
        try:
            info = await self._api.call(self._api.client.api.inspect_container, container_id)
        except DOCKER_ERRORS:
            return False
        return bool((info.get("State") or {}).get("Running"))

    async def release(self, container_id: str) -> None:
        """Remove the container: a pooled container serves one task attempt only."""
        await self._fresh.release(container_id)

    async def discard_workspace(self, volume: str) -> None:
        """The run is over: remove its workspace's spare containers and the volume."""
        workspace = self._claimed.pop(volume, None)
        if workspace is None:
            return
        await self._remove_workspace(workspace)

    async def close(self) -> None:
        """Stop filling; remove idle containers, unclaimed volumes and half-made leftovers."""
        if self._closed:
            return
        self._closed = True
        if self._filler is not None:
            self._filler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._filler
        await complete_despite_cancel(self._remove_unclaimed())

    async def _remove_unclaimed(self) -> None:
        ready, self._ready = list(self._ready), collections.deque()
        for workspace in ready:
            await self._remove_workspace(workspace)
        for workspace in self._claimed.values():
            for container_id in workspace.containers.values():
                await self._remove_container(container_id)
            workspace.containers.clear()
        for container_id in list(self._owned):
            await self._remove_container(container_id)
        # A fill cancelled between create and bookkeeping leaves containers only labels know.
        claimed = set(self._claimed)
        try:
            leftovers = await self._api.call(
                self._api.client.api.containers,
                all=True,
                filters={"label": [f"{LABEL_POOL}={self.id}"]},
            )
            for container in leftovers:
                labels = container.get("Labels") or {}
                if labels.get(LABEL_WORKSPACE) not in claimed:
                    await self._remove_container(container["Id"])
            volumes = await self._api.call(
                self._api.client.api.volumes, filters={"label": [f"{LABEL_POOL}={self.id}"]}
            )
            for volume in (volumes or {}).get("Volumes") or []:
                if volume["Name"] not in claimed:
                    await self._remove_volume(volume["Name"])
        except DOCKER_ERRORS as exc:
            log.warning("could not list the pool's leftovers: %s", explain_error(exc))

    def keeps(self, labels: Mapping[str, str]) -> bool:
        """Containers and volumes this pool made are its own, not leftovers of a crash."""
        return labels.get(LABEL_POOL) == self.id

    # -- filling --------------------------------------------------------------------------

    async def _fill(self) -> None:
        backoff = Backoff(_RETRY_SECONDS, _MAX_RETRY_SECONDS)
        while True:
            self._wake.clear()
            try:
                await self._top_up()
                backoff.reset()
                self._progress.set()
            except ExecutorError as exc:
                delay = backoff.next_delay()
                log.warning("warm pool: %s; trying again in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                continue
            if not self._full():
                continue
            await self._wake.wait()

    async def _top_up(self) -> None:
        images = self.images
        for workspace in list(self._ready):
            for image in images:
                if image not in workspace.containers and workspace in self._ready:
                    await self._add_container(workspace, image)
        while len(self._ready) < self.settings.size:
            workspace = _WarmWorkspace(await self._create_volume())
            try:
                for image in images:
                    await self._add_container(workspace, image)
            except BaseException:
                await complete_despite_cancel(self._remove_workspace(workspace))
                raise
            self._ready.append(workspace)

    async def _create_volume(self) -> str:
        name = f"xene-pool-{self.id}-{uuid.uuid4().hex[:10]}"
        await self._api.checked(
            "could not create a warm workspace volume",
            self._api.client.volumes.create,
            name=name,
            labels=self._labels,
        )
        return name

    async def _add_container(self, workspace: _WarmWorkspace, image: str) -> None:
        request = ContainerRequest(
            image=image,
            name=f"xene-pool-{self.id}-{uuid.uuid4().hex[:10]}",
            labels={**self._labels, LABEL_WORKSPACE: workspace.volume},
            workspace_volume=workspace.volume,
            working_dir=WORKSPACE_PATH,
            network_mode=self.settings.network_mode,
        )
        try:
            # Not cancellable half-way: a create cancelled while its thread still runs would
            # leave a container nobody knows of. A cancel waits for it, and `close` removes it.
            container_id = await complete_despite_cancel(self._create_owned(request))
        except ExecutorError as exc:
            if await self._image_missing(image):
                # Pulling is the executor's business (IfNotPresent, per task); stop warming an
                # image that is not here until a task uses it again.
                log.warning("warm pool: image '%s' is not present; not kept warm", image)
                self._failed_images.add(image)
                return
            raise exc
        if not workspace.discarded:
            workspace.containers[image] = container_id
        else:
            # The workspace was claimed and its run already ended meanwhile.
            await self._remove_container(container_id)

    async def _create_owned(self, request: ContainerRequest) -> str:
        container_id = await self._fresh.acquire(request)
        self._owned[container_id] = request.workspace_volume
        return container_id

    async def _image_missing(self, image: str) -> bool:
        try:
            await self._api.call(self._api.client.api.inspect_image, image)
        except docker.errors.ImageNotFound:
            return True
        except DOCKER_ERRORS:
            return False
        return False

    # -- removing -------------------------------------------------------------------------

    async def _remove_workspace(self, workspace: _WarmWorkspace) -> None:
        workspace.discarded = True
        # Also one created for it but not yet recorded (a fill cancelled right after a create).
        mounted = [cid for cid, volume in self._owned.items() if volume == workspace.volume]
        for container_id in {*workspace.containers.values(), *mounted}:
            await self._remove_container(container_id)
        workspace.containers.clear()
        await self._remove_volume(workspace.volume)

    async def _remove_container(self, container_id: str) -> None:
        self._owned.pop(container_id, None)
        await self._fresh.release(container_id)

    async def _remove_volume(self, name: str) -> None:
        # A container of the run may still be on its way out; the volume goes once it is.
        for attempt in range(20):
            try:
                await self._api.call(self._api.client.api.remove_volume, name, force=True)
                return
            except docker.errors.NotFound:
                return
            except docker.errors.APIError as exc:
                if exc.response is None or exc.response.status_code != 409 or attempt == 19:
                    log.warning("could not remove volume %s: %s", name, explain_error(exc))
                    return
                await asyncio.sleep(0.1)
            except DOCKER_ERRORS as exc:
                log.warning("could not remove volume %s: %s", name, explain_error(exc))
                return
