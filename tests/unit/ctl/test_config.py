"""Where xenectl finds its server: flags over environment over the config file over defaults."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml

from xene.api.errors import Invalid
from xene.ctl.config import DEFAULT_SERVER, load_ctl_settings, normalize_server


def write_config(path: Path, **values: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(values))


def test_defaults_to_the_local_server_without_token() -> None:
    settings = load_ctl_settings()
    assert settings.server == DEFAULT_SERVER == "http://127.0.0.1:8080"
    assert settings.token_value is None


def test_flag_beats_environment_beats_config_file(
    isolated_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(isolated_environment, server="http://file:1", token="file-token")
    assert load_ctl_settings().server == "http://file:1"
    assert load_ctl_settings().token_value == "file-token"

    monkeypatch.setenv("XENE_SERVER", "http://env:2")
    monkeypatch.setenv("XENE_TOKEN", "env-token")
    assert load_ctl_settings().server == "http://env:2"
    assert load_ctl_settings().token_value == "env-token"

    flagged = load_ctl_settings(server="http://flag:3", token="flag-token")
    assert flagged.server == "http://flag:3"
    assert flagged.token_value == "flag-token"


def test_config_path_can_be_moved_with_xenectl_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere.yaml"
    write_config(elsewhere, server="10.1.2.3:9000")
    monkeypatch.setenv("XENECTL_CONFIG", str(elsewhere))
    assert load_ctl_settings().server == "http://10.1.2.3:9000"


def test_xene_config_is_refused_with_the_new_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # XENE_CONFIG named the apiserver's file too; reading neither silently would mislead.
    monkeypatch.setenv("XENE_CONFIG", str(tmp_path / "config"))
    with pytest.raises(Invalid, match=r"^XENE_CONFIG: no longer read.*use XENECTL_CONFIG"):
        load_ctl_settings()


def test_an_unknown_key_in_the_config_file_is_refused(isolated_environment: Path) -> None:
    write_config(isolated_environment, sever="http://10.0.0.1:8080")
    with pytest.raises(Invalid, match=r"sever: unknown key; did you mean 'server'\?"):
        load_ctl_settings()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("localhost:9", "http://localhost:9"),
        ("https://xene.example.com/", "https://xene.example.com"),
        ("  http://[::1]:8080  ", "http://[::1]:8080"),
    ],
)
def test_server_address_accepts_host_port_and_urls(given: str, expected: str) -> None:
    assert normalize_server(given) == expected


@pytest.mark.parametrize("bad", ["", "ftp://host:21", "http://", "host:notaport", "http://h/?q=1"])
def test_bad_server_addresses_are_refused_with_the_value_named(bad: str) -> None:
    with pytest.raises(ValueError, match=r"address|host|port|query|empty"):
        normalize_server(bad)


def test_a_bad_server_in_the_config_file_names_where_it_may_come_from(
    isolated_environment: Path,
) -> None:
    write_config(isolated_environment, server="ftp://nope")
    with pytest.raises(Invalid) as caught:
        load_ctl_settings()
    message = str(caught.value)
    assert "ftp://nope" in message
    assert str(isolated_environment) in message
    assert "Value error" not in message


def test_a_config_file_that_is_not_a_mapping_is_refused(isolated_environment: Path) -> None:
    isolated_environment.parent.mkdir(parents=True)
    isolated_environment.write_text("- just\n- a list\n")
    with pytest.raises(Invalid, match="must be a YAML mapping"):
        load_ctl_settings()


def test_set_server_writes_a_private_file_and_keeps_the_token(
    xenectl, isolated_environment: Path
) -> None:
    write_config(isolated_environment, token="secret-token-1234")
    result = xenectl("config", "set-server", "10.0.0.5:8080")
    assert result.exit_code == 0, result.output
    assert "http://10.0.0.5:8080" in result.stdout
    stored = yaml.safe_load(isolated_environment.read_text())
    assert stored == {"token": "secret-token-1234", "server": "http://10.0.0.5:8080"}
    assert stat.S_IMODE(isolated_environment.stat().st_mode) == 0o600
    assert load_ctl_settings().server == "http://10.0.0.5:8080"


def test_set_server_refuses_a_bad_address_and_writes_nothing(
    xenectl, isolated_environment: Path
) -> None:
    result = xenectl("config", "set-server", "ftp://x")
    assert result.exit_code == 1
    assert "ftp://x" in result.stderr
    assert "Traceback" not in result.output
    assert not isolated_environment.exists()


def test_set_token_creates_the_file(xenectl, isolated_environment: Path) -> None:
    result = xenectl("config", "set-token", input="s3cret-token-abcd\n")
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(isolated_environment.read_text()) == {"token": "s3cret-token-abcd"}
    assert "s3cret" not in result.stdout


def test_view_masks_the_token_and_says_where_each_setting_comes_from(
    xenectl, isolated_environment: Path
) -> None:
    write_config(isolated_environment, server="http://file:1", token="very-secret-token-wxyz")
    result = xenectl("config", "view", env={"XENE_SERVER": "http://env:2"})
    assert result.exit_code == 0, result.output
    assert "very-secret" not in result.stdout
    assert "token: ****wxyz" in result.stdout
    assert "server: http://env:2  (from XENE_SERVER)" in result.stdout
    assert f"(from {isolated_environment})" in result.stdout


def test_view_with_flags(xenectl) -> None:
    result = xenectl("--server", "h:1", "config", "view")
    assert "server: http://h:1  (from --server flag)" in result.stdout
    assert "token: <none>  (from default)" in result.stdout
