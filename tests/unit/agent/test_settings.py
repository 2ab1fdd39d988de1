"""xene-agent settings: flags, XENE_AGENT_* variables, labels and names checked."""

from __future__ import annotations

import pytest

from xene.agent.settings import AgentSettings, agent_environment
from xene.api.errors import Invalid
from xene.settings import load_settings


def test_environment_uses_the_agent_prefix_only() -> None:
    environ = {
        "XENE_AGENT_SERVER": "10.0.0.1:9090,10.0.0.2:9090",
        "XENE_AGENT_LABELS": "os=linux, arch=arm64",
        "XENE_AGENT_CAPACITY": "3",
        "XENE_SERVER": "http://127.0.0.1:8080",  # xenectl's, must not leak in
        "XENE_TOKEN": "api-token",
    }
    settings = load_settings(AgentSettings, {"name": "n1"}, environ=agent_environment(environ))
    assert settings.server == ["10.0.0.1:9090", "10.0.0.2:9090"]
    assert settings.labels == {"os": "linux", "arch": "arm64"}
    assert settings.capacity == 3
    assert settings.token.get_secret_value() == ""


def test_flags_win_over_the_environment() -> None:
    settings = load_settings(
        AgentSettings,
        {"capacity": 7, "labels": "zone=b", "token": "t"},
        environ={"XENE_CAPACITY": "3", "XENE_LABELS": "zone=a"},
    )
    assert settings.capacity == 7 and settings.labels == {"zone": "b"}
    assert settings.token.get_secret_value() == "t"


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
        load_settings(AgentSettings, flags, environ={})
    problems = {str(problem) for problem in caught.value.errors}
    assert any(p.startswith(field) and words in p for p in problems), problems


def test_each_agent_name_gets_its_own_state_directory_unless_one_is_given() -> None:
    settings = load_settings(AgentSettings, {"name": "builder-1"}, environ={})
    assert settings.data_dir.name == "agent-builder-1" and settings.data_dir.is_absolute()
    given = load_settings(AgentSettings, {"name": "b", "data_dir": "/srv/xene"}, environ={})
    assert str(given.data_dir) == "/srv/xene"


def test_the_executor_is_docker_or_process() -> None:
    assert load_settings(AgentSettings, {"name": "a"}, environ={}).executor == "docker"
    environ = agent_environment({"XENE_AGENT_EXECUTOR": "process"})
    assert load_settings(AgentSettings, {"name": "a"}, environ=environ).executor == "process"
    with pytest.raises(Invalid, match="executor"):
        load_settings(AgentSettings, {"name": "a", "executor": "kubernetes"}, environ={})


def test_warm_pool_is_small_by_default_and_set_by_flag_or_variable() -> None:
    default = load_settings(AgentSettings, {"name": "n"}, environ={})
    assert default.warm_pool_size == 1 and default.warm_pool_images == []
    environ = agent_environment(
        {"XENE_AGENT_WARM_POOL_SIZE": "3", "XENE_AGENT_WARM_POOL_IMAGES": "busybox:latest, a:1"}
    )
    from_env = load_settings(AgentSettings, {"name": "n"}, environ=environ)
    assert from_env.warm_pool_size == 3
    assert from_env.warm_pool_images == ["busybox:latest", "a:1"]
    off = load_settings(AgentSettings, {"name": "n", "warm_pool_size": 0}, environ=environ)
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
        load_settings(AgentSettings, flags, environ={})
    assert any(words in str(problem) for problem in caught.value.errors), caught.value.errors
