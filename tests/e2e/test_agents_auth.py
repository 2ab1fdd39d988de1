"""Agent streams need the right token; the gRPC port can be served over TLS."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.fixtures.agents import api_items, wait_agents_ready
from tests.fixtures.servers import make_apiserver
from xene.proto.xene.v1 import agent_pb2
from xene.proto.xene.v1.agent_pb2_grpc import AgentServiceStub


async def _connect_once(address: str, token: str | None) -> grpc.StatusCode:
    """Open a stream with a Hello and return the status the server ends it with."""
    metadata = (("authorization", f"Bearer {token}"),) if token else ()

    async def requests():
        yield agent_pb2.AgentMessage(hello=agent_pb2.Hello(name="probe", capacity=1))
        await asyncio.sleep(10)

    async with grpc.aio.insecure_channel(address) as channel:
        call = AgentServiceStub(channel).Connect(requests(), metadata=metadata)
        try:
            async for _ in call:
                pass
        except grpc.aio.AioRpcError as error:
            return error.code()
        return grpc.StatusCode.OK


def test_wrong_or_missing_token_is_refused(etcd_server, tmp_path: Path, agent_factory) -> None:
    tokens_file = tmp_path / "agent-tokens.yaml"
    tokens_file.write_text("special: own-token\n")
    server = make_apiserver(
        tmp_path,
        etcd_server.endpoint,
        "--agent-token",
        "shared-secret",
        "--agent-tokens-file",
        str(tokens_file),
    )
    server.start()
    try:
        wrong = agent_factory(server, "wrong", token="guess")
        missing = agent_factory(server, "missing")
        agent_factory(server, "right", token="shared-secret")
        agent_factory(server, "special", token="own-token")
        special_shared = agent_factory(server.grpc_address, "special-2", token="own-token")
        wait_agents_ready(server, "right", "special")

        wrong.wait_for_log("refused this agent (UNAUTHENTICATED): wrong token for agent 'wrong'")
        missing.wait_for_log("refused this agent (UNAUTHENTICATED): missing agent token")
        special_shared.wait_for_log("wrong token for agent 'special-2'")
        # A refused agent keeps trying (the server's token may be fixed), at a slow pace.
        wrong.wait_for_log("reconnecting to")
        assert wrong.running and missing.running

        logs = server.logs()
        assert "refused agent stream from" in logs
        assert "(agent 'wrong'): wrong token for agent 'wrong'" in logs
        assert "(agent 'missing'): missing agent token" in logs
        assert set(api_items(server, "agents")) == {"right", "special"}

        # On the wire: UNAUTHENTICATED, as the protocol says.
        assert asyncio.run(_connect_once(server.grpc_address, "guess")) == (
            grpc.StatusCode.UNAUTHENTICATED
        )
        assert asyncio.run(_connect_once(server.grpc_address, None)) == (
            grpc.StatusCode.UNAUTHENTICATED
        )
    finally:
        server.kill()


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "xene-test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "server.crt", directory / "server.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.mark.timeout(120)
def test_agents_connect_over_tls(etcd_server, tmp_path: Path, agent_factory) -> None:
    cert, key = _self_signed(tmp_path)
    server = make_apiserver(
        tmp_path, etcd_server.endpoint, "--tls-cert-file", str(cert), "--tls-key-file", str(key)
    )
    server.start()
    try:
        agent_factory(server, "secure", extra=("--tls-ca", str(cert)))
        plain = agent_factory(server, "plain")
        wait_agents_ready(server, "secure")
        assert "serving agents (gRPC with TLS)" in server.logs()
        plain.wait_for_log("is unavailable")
        assert "plain" not in api_items(server, "agents")
    finally:
        server.kill()
