"""The xene-apiserver process: etcd (embedded or not), REST API, controllers; clean shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator
from contextlib import AsyncExitStack

import uvicorn

from xene.api.errors import Unavailable
from xene.apiserver.controllers.agents import AgentController
from xene.apiserver.controllers.base import Controller
from xene.apiserver.controllers.manager import ControllerManager
from xene.apiserver.controllers.run_gc import RunHistoryCollector
from xene.apiserver.controllers.runs import RunDispatcher
from xene.apiserver.controllers.scheduler import SchedulerController
from xene.apiserver.controllers.workflows import WorkflowController
from xene.apiserver.grpc.agents import AgentServicer
from xene.apiserver.grpc.server import create_agent_server
from xene.apiserver.http.app import create_app
from xene.apiserver.services.agent_admin import AgentAdmin
from xene.apiserver.services.agents import AgentService, load_agent_tokens
from xene.apiserver.services.cluster_view import ClusterView
from xene.apiserver.services.health import HealthService
from xene.apiserver.services.logstore import FileLogStore, LogStore
from xene.apiserver.services.notifiers import NotifierHub
from xene.apiserver.services.objects import ObjectService
from xene.apiserver.services.run_reports import RunEventPublisher, RunReportService
from xene.apiserver.services.runs import RunService
from xene.apiserver.services.triggers import TriggerService
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


class ApiServer:
    """Owns every part of one apiserver replica and starts and stops them in order."""

    def __init__(self, settings: ApiServerSettings) -> None:
        self.settings = settings
        self.ready = asyncio.Event()
        self.http_port: int | None = None
        self.grpc_port: int | None = None
        # Set once run() has connected to etcd; the HTTP app gets them as app.state.*.
        self.runs: RunService | None = None
        self.logs: LogStore | None = None
        # Whatever fans run events out to notifiers (NotifierHub); None: no notifiers.
        self.notifiers: RunEventPublisher | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set, then shut down every part and return."""
        settings = self.settings
        async with AsyncExitStack() as stack:
            endpoints = list(settings.etcd_endpoints)
            if settings.embedded:
                etcd = EmbeddedEtcd(
                    settings.data_dir,
                    client_port=settings.embedded_etcd_client_port,
                    peer_port=settings.embedded_etcd_peer_port,
                )
                await etcd.start()
                stack.push_async_callback(etcd.stop)
                endpoints = [etcd.endpoint]
                log.info(
                    "embedded etcd serving at %s (data in %s)", etcd.endpoint, settings.data_dir
                )
            client = EtcdClient(endpoints)
            await client.connect()
            stack.push_async_callback(client.close)
            store = ObjectStore(client, prefix=settings.etcd_prefix)

            objects = ObjectService(store)
            self.runs = RunService(store, history_limit=settings.run_history_limit)
            self.logs = FileLogStore(
                settings.logs_dir, max_bytes_per_step=settings.log_max_bytes_per_step
            )
            notifiers = NotifierHub(settings.notifiers, self.logs.append_events)
            await notifiers.start()
            stack.push_async_callback(notifiers.close)
            self.notifiers = notifiers
            app = create_app(
                objects,
                HealthService(store),
                triggers=TriggerService(store),
                agents=AgentAdmin(store),
                api_token=settings.api_token.get_secret_value(),
                max_body_bytes=settings.max_body_bytes,
                identity=settings.identity,
            )
            # Run routes reach these through the app state.
            app.state.runs = self.runs
            app.state.logs = self.logs
            app.state.notifiers = self.notifiers
            http_socket = bind_socket(settings.http_address, "HTTP")
            stack.callback(http_socket.close)
            self.http_port = http_socket.getsockname()[1]
            http = _EmbeddedUvicorn(
                uvicorn.Config(
                    app,
                    log_level="warning",
                    lifespan="off",
                    timeout_graceful_shutdown=HTTP_GRACE_SECONDS,
                    access_log=False,
                )
            )
            informers = SharedInformers(store)
            view = ClusterView(informers)
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
            reports = RunReportService(store, self.runs, self.logs, notifiers=self.notifiers)
            grpc_server, self.grpc_port = create_agent_server(
                AgentServicer(agents, reports),
                settings.grpc_address,
                tls_cert_file=settings.tls_cert_file,
                tls_key_file=settings.tls_key_file,
            )
            stack.push_async_callback(grpc_server.stop, None)
            election = store.election(
                "controllers", settings.identity, ttl=settings.leader_lease_ttl_seconds
            )
            controllers: list[Controller] = [
                WorkflowController(store, informers),
                SchedulerController(store, view),
                AgentController(store, view),
                RunDispatcher(store, view, self.runs),
                RunHistoryCollector(informers, self.runs, self.logs),
            ]
            manager = ControllerManager(informers, election, controllers)

            async with asyncio.TaskGroup() as group:
                http_task = group.create_task(http.serve(sockets=[http_socket]))
                informers_task = group.create_task(informers.run())
                view_task = group.create_task(view.run())
                agents_task = group.create_task(agents.run())
                await grpc_server.start()
                log.info(
                    "serving agents (gRPC%s) on %s",
                    " with TLS" if settings.tls_cert_file else "",
                    settings.grpc_address,
                )
                controllers_task = group.create_task(manager.run())
                log.info(
                    "xene-apiserver %s serving HTTP on %s", settings.identity, settings.http_address
                )
                self.ready.set()
                stop_task = group.create_task(stop.wait())
                await asyncio.wait(
                    {stop_task, http_task, controllers_task},
                    return_when=asyncio.FIRST_COMPLETED,
                )
                log.info("shutting down")
                stop_task.cancel()
                controllers_task.cancel()
                http.should_exit = True
                # Agents reconnect to another replica (or to this one restarted) within their
                # lease TTL; their leases are left to run, so they stay Ready meanwhile.
                await grpc_server.stop(GRPC_GRACE_SECONDS)
                view_task.cancel()
                agents_task.cancel()
                informers_task.cancel()
        log.info("stopped")
