"""The shipped servers refuse settings that would be silently ignored, and log what they use."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.fixtures.servers import console_script, make_apiserver


def clean_environment(home: Path, **extra: str) -> dict[str, str]:
    """The test's environment without XENE_* variables, with a fresh HOME and `extra`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("XENE")}
    home.mkdir(parents=True, exist_ok=True)
    return {**env, "HOME": str(home), **extra}


def run(program: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run a console script to its end; the refusals come before anything starts."""
    return subprocess.run(
        [console_script(program), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("program", "variables", "expected"),
    [
        (
            "xene-apiserver",
            {"XENE_APISERVER_GRPC_ADDR": "127.0.0.1:1"},
            "error: XENE_APISERVER_GRPC_ADDR: not a setting of xene-apiserver; "
            "did you mean XENE_APISERVER_GRPC_ADDRESS?",
        ),
        (
            "xene-apiserver",
            {"XENE_HTTP_ADRESS": "127.0.0.1:1"},
            "error: XENE_HTTP_ADRESS: not a setting of xene-apiserver; "
            "did you mean XENE_APISERVER_HTTP_ADDRESS?",
        ),
        (
            "xene-apiserver",
            {"XENE_CONFIG": "/etc/xene/apiserver.yaml"},
            "error: XENE_CONFIG: no longer read",
        ),
        (
            "xene-agent",
            {"XENE_AGENT_CAPACTY": "3"},
            "error: XENE_AGENT_CAPACTY: not a setting of xene-agent; "
            "did you mean XENE_AGENT_CAPACITY?",
        ),
        (
            "xene-apiserver",
            {"XENE_APISERVER_CONFIG": "/nonexistent/apiserver.yaml"},
            "error: XENE_APISERVER_CONFIG: config file /nonexistent/apiserver.yaml does not exist",
        ),
        (
            "xene-agent",
            {"XENE_AGENT_CONFIG": "/nonexistent/agent.yaml"},
            "error: XENE_AGENT_CONFIG: config file /nonexistent/agent.yaml does not exist",
        ),
    ],
)
def test_a_misspelt_or_retired_variable_stops_the_server(
    tmp_path: Path, program: str, variables: dict[str, str], expected: str
) -> None:
    result = run(program, clean_environment(tmp_path / "home", **variables))
    assert result.returncode == 1, result.stderr
    assert expected in result.stderr.splitlines()[0]
    assert "Traceback" not in result.stderr
    # Refused before anything started: no data directory was made.
    assert not (tmp_path / "home" / ".xene").exists()


@pytest.mark.parametrize("program", ["xene-apiserver", "xene-agent"])
def test_a_missing_config_flag_file_and_unknown_keys_stop_the_server(
    tmp_path: Path, program: str
) -> None:
    env = clean_environment(tmp_path / "home")
    missing = tmp_path / "missing.yaml"
    result = run(program, env, "--config", str(missing))
    assert result.returncode == 1
    assert f"error: --config: config file {missing} does not exist" in result.stderr

    config = tmp_path / "settings.yaml"
    config.write_text("log-levle: debug\n")
    result = run(program, env, "--config", str(config))
    assert result.returncode == 1
    assert f"error: {config}: log_levle: unknown key; did you mean 'log_level'?" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_default_config_file_is_checked_too(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".xene").mkdir(parents=True)
    (home / ".xene" / "agent.yaml").write_text("capacity: 3\nlables: os=linux\n")
    result = run("xene-agent", clean_environment(home))
    assert result.returncode == 1
    assert "agent.yaml: lables: unknown key; did you mean 'labels'?" in result.stderr


def test_the_apiserver_logs_its_settings_and_answers_readyz_with_its_identity(
    etcd_server, tmp_path: Path
) -> None:
    server = make_apiserver(tmp_path, etcd_server.endpoint)
    config = tmp_path / "apiserver.yaml"
    config.write_text("run_history_limit: 7\nagent-token: from-the-file\n")
    server.args += ["--config", str(config), "--identity", "settings-e2e"]
    server.env["XENE_APISERVER_MAX_BODY_BYTES"] = "4096"
    server.env["XENE_APISERVER_API_TOKEN"] = "api-secret"
    server.start()
    try:
        response = httpx.get(server.url + "/readyz", timeout=5)
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "identity": "settings-e2e"}
        big = httpx.post(
            server.url + "/api/v1/apply",
            content=b"x" * 5000,
            headers={"Authorization": "Bearer api-secret"},
            timeout=5,
        )
        assert big.status_code == 413  # XENE_APISERVER_MAX_BODY_BYTES took effect
    finally:
        server.stop()
    logs = server.logs()
    assert f"config file: {config} (loaded)" in logs
    assert f"run_history_limit=7  ({config})" in logs
    assert "max_body_bytes=4096  (XENE_APISERVER_MAX_BODY_BYTES)" in logs
    assert "http_address=127.0.0.1:" in logs and "(--http-address)" in logs
    assert "api_token=****  (XENE_APISERVER_API_TOKEN)" in logs
    assert "agent_token=****" in logs
    assert "api-secret" not in logs and "from-the-file" not in logs
