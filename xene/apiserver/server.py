"""The xene-apiserver process: etcd (embedded or not), REST API, agent service, controllers.

`ApiServer.run` goes build → startup → main loop → shutdown, as uvicorn's `Server.serve` does:
`build` connects to etcd and makes every part (nothing serves yet), `startup` starts them in
one task group, the main loop waits for a stop (or a part that ended), `shutdown` stops them
in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import grpc
import uvicorn

from xene.api.errors import Unavailable
from xene.api.run import PipelineRun
from xene.apiserver.controllers.agents import AgentController
from xene.apiserver.controllers.base import Controller
from xene.apiserver.controllers.manager import ControllerManager
from xene.apiserver.controllers.run_gc import RunHistoryCollector
from xene.apiserver.controllers.runs import RunDispatcher
from xene.apiserver.controllers.scheduler import SchedulerController
from xene.apiserver.controllers.workflows import WorkflowController
from xene.apiserver.grpc.agents import AgentServicer
from xene.apiserver.grpc.server import create_agent_server
from xene.apiserver.http.app import ApiServices, create_app
from xene.apiserver.services.agent_admin import AgentAdmin
from xene.apiserver.services.agents import AgentService, load_agent_tokens
from xene.apiserver.services.cluster_view import ClusterView
from xene.apiserver.services.health import HealthService
from xene.apiserver.services.logstore import FileLogStore
from xene.apiserver.services.notifiers import NotifierHub
from xene.apiserver.services.objects import ObjectService
from xene.apiserver.services.run_index import RunIndex
from xene.apiserver.services.run_reports import RunReportService
from xene.apiserver.services.runs import RunService
from xene.apiserver.services.triggers import TriggerService
from xene.apiserver.services.webhooks import WebhookService
from xene.apiserver.settings import ApiServerSettings, split_address
from xene.store.embedded import EmbeddedEtcd
from xene.store.etcd import EtcdClient
from xene.store.objects import ObjectStore
from xene.store.shared_informers import SharedInformers

log = logging.getLogger(__name__)

HTTP_GRACE_SECONDS = 5
GRPC_GRACE_SECONDS = 1


class _EmbeddedUvicorn(uvicorn.Server):
    """uvicorn without its own signal handling: the ApiServer owns shutdown."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind_socket(address: str, what: str) -> socket.socket:
    """A listening TCP socket, or a clear error when the address is taken."""
    host, port = split_address(address, 0)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and
    # accepted sockets inherit it. Without it a response written as head then body waits for
    # the client's delayed ACK, about 40 ms on every request of a kept-alive connection.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise Unavailable(
            f"cannot listen for {what} on {address}: {exc.strerror}; "
            "is another xene-apiserver running? choose another address with a flag"
        ) from exc
    sock.listen(512)
    sock.setblocking(False)
    return sock


@dataclass
class Replica:
    """The parts of one running apiserver, as `build` made them."""

    store: ObjectStore
    informers: SharedInformers
    view: ClusterView
    agents: AgentService
    http: uvicorn.Server
    http_socket: socket.socket
    grpc: grpc.aio.Server
    controllers: ControllerManager
    run_index: RunIndex
    tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)


class ApiServer:
    """Owns every part of one apiserver replica and starts and stops them in order."""

    def __init__(self, settings: ApiServerSettings) -> None:
        self.settings = settings
        self.ready = asyncio.Event()
        self.http_port: int | None = None
        self.grpc_port: int | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set, then shut down every part and return."""
        async with AsyncExitStack() as resources:
            replica = await self.build(resources)
            async with asyncio.TaskGroup() as group:
                await self.startup(replica, group)
                await self.main_loop(replica, stop)
                await self.shutdown(replica)
        log.info("stopped")

    # -- build ----------------------------------------------------------------------------

    async def build(self, resources: AsyncExitStack) -> Replica:
        """Connect to etcd and make every part; `resources` closes what needs closing."""
        store = await self._connect(resources)
        informers = SharedInformers(store)
        # Every replica serves run lists: its run informer starts here, not with the lead.
        run_index = RunIndex(informers.kind(PipelineRun), store)
        services = await self._services(store, run_index, resources)
        http_socket = bind_socket(self.settings.http_address, "HTTP")
        resources.callback(http_socket.close)
        self.http_port = http_socket.getsockname()[1]
        view = ClusterView(informers)
        agents = self._agent_service(store, view)
        grpc_server, self.grpc_port = create_agent_server(
            AgentServicer(agents, services.reports),
            self.settings.grpc_address,
            tls_cert_file=self.settings.tls_cert_file,
            tls_key_file=self.settings.tls_key_file,
        )
        resources.push_async_callback(grpc_server.stop, None)
        return Replica(
            store=store,
            informers=informers,
            view=view,
            agents=agents,
            http=self._http(services),
            http_socket=http_socket,
            grpc=grpc_server,
            controllers=self._controllers(store, informers, view, services),
            run_index=run_index,
        )

    async def _connect(self, resources: AsyncExitStack) -> ObjectStore:
        settings = self.settings
        endpoints = list(settings.etcd_endpoints)
        if settings.embedded:
            etcd = EmbeddedEtcd(
                settings.data_dir,
                client_port=settings.embedded_etcd_client_port,
                peer_port=settings.embedded_etcd_peer_port,
            )
            await etcd.start()
            resources.push_async_callback(etcd.stop)
            endpoints = [etcd.endpoint]
            log.info("embedded etcd serving at %s (data in %s)", etcd.endpoint, settings.data_dir)
        client = EtcdClient(endpoints)
        await client.connect()
        resources.push_async_callback(client.close)
        return ObjectStore(client, prefix=settings.etcd_prefix)

    async def _services(
        self, store: ObjectStore, run_index: RunIndex, resources: AsyncExitStack
    ) -> ApiServices:
        settings = self.settings
        runs = RunService(store, history_limit=settings.run_history_limit)
        logs = FileLogStore(settings.logs_dir, max_bytes_per_step=settings.log_max_bytes_per_step)
        notifiers = NotifierHub(settings.notifiers, logs.append_events)
        await notifiers.start()
        resources.push_async_callback(notifiers.close)
        return ApiServices(
            objects=ObjectService(store),
            health=HealthService(store),
            runs=runs,
            logs=logs,
            reports=RunReportService(store, runs, logs, notifiers=notifiers),
            webhooks=WebhookService(runs),
            triggers=TriggerService(store),
            agents=AgentAdmin(store),
            run_index=run_index,
        )

    def _agent_service(self, store: ObjectStore, view: ClusterView) -> AgentService:
        settings = self.settings
        agents = AgentService(
            store,
            view,
            identity=settings.identity,
            lease_ttl_seconds=settings.agent_lease_ttl_seconds,
            token=settings.agent_token.get_secret_value(),
            tokens=load_agent_tokens(settings.agent_tokens_file),
        )
        if not agents.requires_token:
            log.warning("agents are not authenticated: start with --agent-token to require one")
        return agents

    def _http(self, services: ApiServices) -> uvicorn.Server:
        app = create_app(
            services,
            api_token=self.settings.api_token.get_secret_value(),
            max_body_bytes=self.settings.max_body_bytes,
            identity=self.settings.identity,
        )
        return _EmbeddedUvicorn(
            uvicorn.Config(
                app,
                log_level="warning",
                lifespan="off",
                timeout_graceful_shutdown=HTTP_GRACE_SECONDS,
                access_log=False,
            )
        )

    def _controllers(
        self,
        store: ObjectStore,
        informers: SharedInformers,
        view: ClusterView,
        services: ApiServices,
    ) -> ControllerManager:
        settings = self.settings
        election = store.election(
            "controllers", settings.identity, ttl=settings.leader_lease_ttl_seconds
        )
        controllers: list[Controller] = [
            WorkflowController(store, informers),
            SchedulerController(store, view),
            AgentController(store, view),
            RunDispatcher(store, view, services.runs),
            RunHistoryCollector(informers, services.runs, services.logs),
        ]
        return ControllerManager(informers, election, controllers)

    # -- startup, main loop, shutdown -----------------------------------------------------

    async def startup(self, replica: Replica, group: asyncio.TaskGroup) -> None:
        """Start every part in `group`; ready once the HTTP and gRPC listeners serve."""
        tasks = replica.tasks
        tasks["informers"] = group.create_task(replica.informers.run())
        tasks["view"] = group.create_task(replica.view.run())
        tasks["run_index"] = group.create_task(replica.run_index.run())
        tasks["agents"] = group.create_task(replica.agents.run())
        tasks["http"] = group.create_task(replica.http.serve(sockets=[replica.http_socket]))
        await replica.grpc.start()
        log.info(
            "serving agents (gRPC%s) on %s",
            " with TLS" if self.settings.tls_cert_file else "",
            self.settings.grpc_address,
        )
        tasks["controllers"] = group.create_task(replica.controllers.run())
        log.info(
            "xene-apiserver %s serving HTTP on %s",
            self.settings.identity,
            self.settings.http_address,
        )
        self.ready.set()

    async def main_loop(self, replica: Replica, stop: asyncio.Event) -> None:
        """Return once `stop` is set, or the HTTP server or the controllers ended."""
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait(
                {stopping, replica.tasks["http"], replica.tasks["controllers"]},
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            stopping.cancel()

    async def shutdown(self, replica: Replica) -> None:
        """Stop the controllers and the listeners, then everything else."""
        log.info("shutting down")
        self.ready.clear()
        replica.tasks["controllers"].cancel()
        replica.http.should_exit = True
        # Agents reconnect to another replica (or to this one restarted) within their lease
        # TTL; their leases are left to run, so they stay Ready meanwhile.
        await replica.grpc.stop(GRPC_GRACE_SECONDS)
        for name in ("view", "run_index", "agents", "informers"):
            replica.tasks[name].cancel()
