"""xene-agent settings: flags, XENE_AGENT_* variables, labels and names checked."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from xene.agent.settings import ENVIRONMENT, AgentSettings
from xene.api.errors import Invalid
from xene.apiserver.settings import ApiServerSettings
from xene.settings import ConfigFile, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No XENE_* variable of the machine running the tests leaks in."""
    for name in list(os.environ):
        if name.startswith("XENE"):
            monkeypatch.delenv(name)


def load(flags: dict, config: ConfigFile | None = None) -> AgentSettings:
    return load_settings(AgentSettings, flags, config).settings


def test_environment_uses_the_agent_prefix_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XENE_AGENT_SERVER", "10.0.0.1:9090,10.0.0.2:9090")
    monkeypatch.setenv("XENE_AGENT_LABELS", "os=linux, arch=arm64")
    monkeypatch.setenv("XENE_AGENT_CAPACITY", "3")
    monkeypatch.setenv("XENE_AGENT_EXECUTORS", "process")
    monkeypatch.setenv("XENE_SERVER", "http://127.0.0.1:8080")  # xenectl's, must not leak in
    monkeypatch.setenv("XENE_TOKEN", "api-token")
    monkeypatch.setenv("XENE_CAPACITY", "5")  # not the agent's name for it
    settings = load({"name": "n1"})
    assert settings.server == ["10.0.0.1:9090", "10.0.0.2:9090"]
    assert settings.labels == {"os": "linux", "arch": "arm64"}
    assert settings.capacity == 3
    assert settings.executors == ["process"]
    assert settings.token.get_secret_value() == ""


def test_flags_win_over_the_environment_which_wins_over_the_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text("capacity: 2\nlabels: {zone: c}\nwarm-pool-size: 4\nparallelism: 3\n")
    monkeypatch.setenv("XENE_AGENT_CAPACITY", "3")
    monkeypatch.setenv("XENE_AGENT_LABELS", "zone=a")
    monkeypatch.setenv("XENE_AGENT_WARM_POOL_SIZE", "5")
    resolved = load_settings(
        AgentSettings, {"capacity": 7, "labels": "zone=b", "token": "t"}, ConfigFile(config)
    )
    settings = resolved.settings
    assert settings.capacity == 7 and settings.labels == {"zone": "b"}
    assert settings.token.get_secret_value() == "t"
    assert settings.warm_pool_size == 5 and settings.parallelism == 3
    assert resolved.origins["capacity"] == "--capacity"
    assert resolved.origins["warm_pool_size"] == "XENE_AGENT_WARM_POOL_SIZE"
    assert resolved.origins["parallelism"] == str(config)
    assert "name" not in resolved.origins  # the default


@pytest.mark.parametrize(
    ("flags", "field", "words"),
    [
        ({"labels": "os"}, "--labels", "'os' is not key=value"),
        ({"labels": "bad key=x"}, "--labels", "label key 'bad key' is not valid"),
        ({"labels": "os=not valid"}, "--labels", "label value 'not valid'"),
        ({"name": "Upper_Case"}, "--name", "'Upper_Case' is not a valid agent name"),
        ({"capacity": 0}, "--capacity", "greater than or equal to 1"),
        ({"server": "nohost"}, "--server", "'nohost' is not HOST:PORT"),
    ],
)
def test_bad_settings_name_the_flag_and_the_problem(flags, field, words) -> None:
    with pytest.raises(Invalid) as caught:
        load(flags)
    problems = {str(problem) for problem in caught.value.errors}
    assert any(p.startswith(field) and words in p for p in problems), problems


def test_a_bad_value_names_the_variable_or_file_it_came_from(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XENE_AGENT_CAPACITY", "0")
    with pytest.raises(Invalid, match=r"^XENE_AGENT_CAPACITY: .*greater than or equal to 1"):
        load({})
    monkeypatch.delenv("XENE_AGENT_CAPACITY")
    config = tmp_path / "agent.yaml"
    config.write_text("labels: {'bad key': x}\n")
    with pytest.raises(Invalid, match=rf"^{config}: labels: label key 'bad key'"):
        load({}, ConfigFile(config))


def test_each_agent_name_gets_its_own_state_directory_unless_one_is_given() -> None:
    settings = load({"name": "builder-1"})
    assert settings.data_dir.name == "agent-builder-1" and settings.data_dir.is_absolute()
    given = load({"name": "b", "data_dir": "/srv/xene"})
    assert str(given.data_dir) == "/srv/xene"


def test_the_executor_is_docker_or_process(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load({"name": "a"}).executor == "docker"
    monkeypatch.setenv("XENE_AGENT_EXECUTOR", "process")
    assert load({"name": "a"}).executor == "process"
    with pytest.raises(Invalid, match="executor"):
        load({"name": "a", "executor": "kubernetes"})


def test_warm_pool_is_small_by_default_and_set_by_flag_or_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    default = load({"name": "n"})
    assert default.warm_pool_size == 1 and default.warm_pool_images == []
    monkeypatch.setenv("XENE_AGENT_WARM_POOL_SIZE", "3")
    monkeypatch.setenv("XENE_AGENT_WARM_POOL_IMAGES", "busybox:latest, a:1")
    from_env = load({"name": "n"})
    assert from_env.warm_pool_size == 3
    assert from_env.warm_pool_images == ["busybox:latest", "a:1"]
    off = load({"name": "n", "warm_pool_size": 0})
    assert off.warm_pool_size == 0


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        ({"warm_pool_size": -1}, "--warm-pool-size: Input should be greater than or equal to 0"),
        ({"warm_pool_images": ["bad image"]}, "'bad image' is not an image name"),
    ],
)
def test_bad_warm_pool_settings_name_the_flag(flags, words) -> None:
    with pytest.raises(Invalid) as caught:
        load(flags)
    assert any(words in str(problem) for problem in caught.value.errors), caught.value.errors


def test_a_misspelt_agent_variable_is_refused_with_the_closest_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XENE_AGENT_CAPACTY", "3")
    monkeypatch.setenv("XENE_AGENT_WARM_POOL", "2")
    with pytest.raises(Invalid) as caught:
        load({})
    assert [str(problem) for problem in caught.value.errors] == [
        "XENE_AGENT_CAPACTY: not a setting of xene-agent; did you mean XENE_AGENT_CAPACITY?",
        "XENE_AGENT_WARM_POOL: not a setting of xene-agent; "
        "did you mean XENE_AGENT_WARM_POOL_SIZE?",
    ]


def test_the_apiservers_variables_that_share_the_agent_prefix_are_not_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One shell may configure both programs: the apiserver's older XENE_AGENT_TOKENS_FILE and
    # XENE_AGENT_LEASE_TTL_SECONDS are no typos of the agent's settings.
    monkeypatch.setenv("XENE_AGENT_CONFIG", "/dev/null")
    monkeypatch.setenv("XENE_AGENT_TOKENS_FILE", "/etc/xene/tokens.yaml")
    monkeypatch.setenv("XENE_AGENT_LEASE_TTL_SECONDS", "20")
    monkeypatch.setenv("XENE_AGENT_TOKEN", "shared")  # the agents' token, for both programs
    assert load({}).token.get_secret_value() == "shared"


def test_the_list_of_apiserver_names_under_the_agent_prefix_is_complete() -> None:
    apiserver_names = {"XENE_" + name.upper() for name in ApiServerSettings.model_fields}
    sharing = {
        name
        for name in apiserver_names
        if name.startswith(ENVIRONMENT.prefix)
        and name.removeprefix(ENVIRONMENT.prefix).lower() not in AgentSettings.model_fields
    }
    assert sharing <= ENVIRONMENT.not_settings


def test_unknown_keys_in_the_config_file_are_refused_with_the_closest_key(tmp_path: Path) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text("capacity: 3\nlables: {os: linux}\nwarm_pool_sise: 2\n")
    with pytest.raises(Invalid) as caught:
        load({}, ConfigFile(config))
    assert sorted(str(problem) for problem in caught.value.errors) == [
        f"{config}: lables: unknown key; did you mean 'labels'?",
        f"{config}: warm_pool_sise: unknown key; did you mean 'warm_pool_size'?",
    ]


def test_a_config_file_named_explicitly_must_exist(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(Invalid, match=rf"^--config: config file {missing} does not exist$"):
        load({}, ConfigFile(missing, "--config"))
    with pytest.raises(Invalid, match=r"^XENE_AGENT_CONFIG: config file .* does not exist$"):
        load({}, ConfigFile(missing, "XENE_AGENT_CONFIG"))
    # The default location may be absent: the settings are the defaults then.
    resolved = load_settings(AgentSettings, {"name": "n"}, ConfigFile(missing))
    assert not resolved.config_loaded
    assert "does not exist" in resolved.describe().splitlines()[0]
