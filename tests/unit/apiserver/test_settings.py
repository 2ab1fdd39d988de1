"""xene-apiserver settings: XENE_APISERVER_* and the older XENE_* names, the file, refusals."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from xene.api.errors import Invalid
from xene.apiserver.settings import ApiServerSettings
from xene.settings import ConfigFile, ResolvedSettings, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No XENE_* variable of the machine running the tests leaks in."""
    for name in list(os.environ):
        if name.startswith("XENE"):
            monkeypatch.delenv(name)


def resolve(flags: dict | None = None, config: ConfigFile | None = None) -> ResolvedSettings:
    return load_settings(ApiServerSettings, flags or {}, config)


def problems(flags: dict | None = None, config: ConfigFile | None = None) -> list[str]:
    with pytest.raises(Invalid) as caught:
        resolve(flags, config)
    return [str(problem) for problem in caught.value.errors]


def test_prefixed_variables_win_over_the_older_names_and_flags_over_both(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XENE_HTTP_ADDRESS", "127.0.0.1:1001")
    monkeypatch.setenv("XENE_AGENT_TOKEN", "older-name")
    monkeypatch.setenv("XENE_APISERVER_GRPC_ADDRESS", "127.0.0.1:2002")
    monkeypatch.setenv("XENE_GRPC_ADDRESS", "127.0.0.1:3003")
    monkeypatch.setenv("XENE_APISERVER_ETCD_PREFIX", "/from-env")
    monkeypatch.setenv("XENE_APISERVER_ETCD_ENDPOINTS", "10.0.0.1:2379, 10.0.0.2:2379")
    resolved = resolve({"etcd_prefix": "/from-flag"})
    settings = resolved.settings
    assert settings.http_address == "127.0.0.1:1001"
    assert settings.agent_token.get_secret_value() == "older-name"
    assert settings.grpc_address == "127.0.0.1:2002"
    assert settings.etcd_prefix == "/from-flag"
    assert settings.etcd_endpoints == ["10.0.0.1:2379", "10.0.0.2:2379"]
    assert resolved.origins["http_address"] == "XENE_HTTP_ADDRESS"
    assert resolved.origins["grpc_address"] == "XENE_APISERVER_GRPC_ADDRESS"
    assert resolved.origins["etcd_prefix"] == "--etcd-prefix"


def test_the_file_comes_after_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "apiserver.yaml"
    config.write_text(
        "http-address: 127.0.0.1:1111\n"
        "grpc_address: 127.0.0.1:2222\n"
        "notifiers:\n  - url: http://127.0.0.1:9/hook\n    events: [RunFailed]\n"
    )
    monkeypatch.setenv("XENE_APISERVER_HTTP_ADDRESS", "127.0.0.1:3333")
    resolved = resolve({}, ConfigFile(config))
    assert resolved.settings.http_address == "127.0.0.1:3333"
    assert resolved.settings.grpc_address == "127.0.0.1:2222"
    assert resolved.settings.notifiers[0].events == ["RunFailed"]
    assert resolved.config_loaded
    assert resolved.origins["grpc_address"] == str(config)


def test_notifier_urls_come_comma_separated_from_a_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XENE_APISERVER_NOTIFIERS", "http://127.0.0.1:9/a, http://127.0.0.1:9/b")
    urls = [notifier.url for notifier in resolve().settings.notifiers]
    assert urls == ["http://127.0.0.1:9/a", "http://127.0.0.1:9/b"]


def test_an_unknown_prefixed_variable_is_refused_with_the_closest_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XENE_APISERVER_GRPC_ADDR", "127.0.0.1:1")
    monkeypatch.setenv("XENE_APISERVER_ETCD_ENDPOINT", "127.0.0.1:2379")
    assert problems() == [
        "XENE_APISERVER_ETCD_ENDPOINT: not a setting of xene-apiserver; "
        "did you mean XENE_APISERVER_ETCD_ENDPOINTS?",
        "XENE_APISERVER_GRPC_ADDR: not a setting of xene-apiserver; "
        "did you mean XENE_APISERVER_GRPC_ADDRESS?",
    ]


def test_a_near_miss_of_an_older_name_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XENE_HTTP_ADRESS", "127.0.0.1:1")
    assert problems() == [
        "XENE_HTTP_ADRESS: not a setting of xene-apiserver; "
        "did you mean XENE_APISERVER_HTTP_ADDRESS?"
    ]


@pytest.mark.parametrize(
    "variable",
    [
        "XENE_AGENT_SERVER",  # the agent's
        "XENE_AGENT_CAPACITY",
        "XENE_SERVER",  # xenectl's
        "XENE_TOKEN",
        "XENE_REPORTS_DIR",
        "XENE_WEBHOOK_SECRET_HELLO_ON_PUSH",  # a webhook trigger's secret
        "XENE_QUICKSTART_HTTP_PORT",  # the quickstart's
        "XENE_APISERVER_CONFIG",  # the --config variable
        "XENE_HOOK_SECRET",  # a notifier's secret_env: nothing like a setting
        "XENE_RUN_ID",
    ],
)
def test_other_programs_variables_are_not_taken_for_typos(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "/dev/null")
    assert resolve().settings.http_address == "127.0.0.1:8080"


def test_xene_config_is_retired_with_the_new_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XENE_CONFIG", "/etc/xene/apiserver.yaml")
    (problem,) = problems()
    assert problem.startswith("XENE_CONFIG: no longer read")
    assert "XENE_APISERVER_CONFIG" in problem and "XENECTL_CONFIG" in problem


def test_unknown_keys_in_the_file_are_refused_at_every_level(tmp_path: Path) -> None:
    config = tmp_path / "apiserver.yaml"
    config.write_text(
        "htp-address: 127.0.0.1:1\n"
        "notifiers:\n  - url: http://127.0.0.1:9/hook\n    secret_evn: HOOK_SECRET\n"
    )
    assert sorted(problems({}, ConfigFile(config))) == [
        f"{config}: htp_address: unknown key; did you mean 'http_address'?",
        f"{config}: notifiers.0.secret_evn: unknown key; did you mean 'secret_env'?",
    ]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("http_address: [unclosed\n", "not valid YAML"),
        ("- a\n- b\n", "a config file must be a YAML mapping"),
    ],
)
def test_a_file_that_is_no_mapping_is_refused(tmp_path: Path, text: str, words: str) -> None:
    config = tmp_path / "apiserver.yaml"
    config.write_text(text)
    (problem,) = problems({}, ConfigFile(config))
    assert problem.startswith(f"{config}: {words}")


def test_a_bad_value_in_the_file_names_the_file_and_key(tmp_path: Path) -> None:
    config = tmp_path / "apiserver.yaml"
    config.write_text("agent_lease_ttl_seconds: 1\n")
    assert problems({}, ConfigFile(config)) == [
        f"{config}: agent_lease_ttl_seconds: Input should be greater than or equal to 2"
    ]


def test_an_explicit_config_file_must_exist(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    assert problems({}, ConfigFile(missing, "XENE_APISERVER_CONFIG")) == [
        f"XENE_APISERVER_CONFIG: config file {missing} does not exist"
    ]
    assert problems({}, ConfigFile(tmp_path, "--config")) == [
        f"--config: config file {tmp_path} is not a file"
    ]


def test_the_description_names_the_file_and_each_origin_and_masks_secrets(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "apiserver.yaml"
    config.write_text("agent_token: file-secret\n")
    monkeypatch.setenv("XENE_APISERVER_API_TOKEN", "env-secret")
    text = resolve({"grpc_address": "127.0.0.1:7"}, ConfigFile(config)).describe()
    lines = text.splitlines()
    assert lines[0] == f"config file: {config} (loaded); settings:"
    assert "  api_token=****  (XENE_APISERVER_API_TOKEN)" in lines
    assert f"  agent_token=****  ({config})" in lines
    assert "  grpc_address=127.0.0.1:7  (--grpc-address)" in lines
    assert "  http_address=127.0.0.1:8080  (default)" in lines
    assert "file-secret" not in text and "env-secret" not in text
