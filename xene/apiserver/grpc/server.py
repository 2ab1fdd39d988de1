"""The grpc.aio server agents connect to, plain or with TLS."""

from __future__ import annotations

from pathlib import Path

import grpc

from xene.api.errors import FieldError, Invalid, Unavailable
from xene.apiserver.grpc.agents import AgentServicer
from xene.proto.xene.v1 import agent_pb2_grpc

_SERVER_OPTIONS = [
    # Without this, gRPC on Linux lets a second server bind the same port and split traffic.
    ("grpc.so_reuseport", 0),
    # Agents ping every 10s to notice a dead server; allow it even between messages.
    ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
]


def _read_pem(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise Invalid([FieldError(what, f"cannot read {path}: {exc.strerror}")]) from exc


def create_agent_server(
    servicer: AgentServicer,
    address: str,
    *,
    tls_cert_file: Path | None = None,
    tls_key_file: Path | None = None,
) -> tuple[grpc.aio.Server, int]:
    """A server for the AgentService bound to `address` (not started), and its port."""
    if (tls_cert_file is None) != (tls_key_file is None):
        raise Invalid(
            [FieldError("--tls-cert-file/--tls-key-file", "give both the certificate and key")]
        )
    server = grpc.aio.server(options=_SERVER_OPTIONS)
    agent_pb2_grpc.add_AgentServiceServicer_to_server(servicer, server)
    try:
        if tls_cert_file is not None and tls_key_file is not None:
            credentials = grpc.ssl_server_credentials(
                [
                    (
                        _read_pem(tls_key_file, "--tls-key-file"),
                        _read_pem(tls_cert_file, "--tls-cert-file"),
                    )
                ]
            )
            port = server.add_secure_port(address, credentials)
        else:
            port = server.add_insecure_port(address)
    except RuntimeError as exc:
        port = 0
        detail = str(exc)
    else:
        detail = "the address is in use or not local"
    if port == 0:
        raise Unavailable(
            f"cannot listen for agents (gRPC) on {address}: {detail}; "
            "is another xene-apiserver running? choose another address with --grpc-address"
        )
    return server, port
