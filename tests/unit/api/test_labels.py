"""Label and selector rules: one set of rules for metadata, agentSelector, --labels and -l."""

from __future__ import annotations

import pytest

from xene.api.labels import (
    format_selector,
    label_key_problem,
    label_problem,
    label_value_problem,
    parse_labels,
    selector_matches,
)


@pytest.mark.parametrize("key", ["os", "xene.dev/agent", "a_b.c-d", "x" * 63])
def test_valid_keys(key: str) -> None:
    assert label_key_problem(key) is None


@pytest.mark.parametrize(
    ("key", "advice"),
    [
        ("bad key", "use at most 63 letters"),
        ("x" * 64, "use at most 63 letters"),
        ("/name", "the prefix before '/' must be a DNS subdomain"),
        ("Not_DNS/name", "the prefix before '/' must be a DNS subdomain"),
        ("-start", "use at most 63 letters"),
    ],
)
def test_invalid_keys_say_why(key: str, advice: str) -> None:
    assert (label_key_problem(key) or "").startswith(f"'{key}' is not a valid key: {advice}")
    assert (label_problem(key, "v") or "").startswith(f"label key '{key}' is not valid: {advice}")


def test_values_may_be_empty_but_not_malformed() -> None:
    assert label_value_problem("") is None
    assert label_value_problem("linux-1.2") is None
    assert "'not valid' is not a valid label value" in (label_value_problem("not valid") or "")
    assert label_problem("os", "not valid") == (
        "label value 'not valid' of 'os' is not valid: use at most 63 letters, digits, '-', '_' "
        "and '.', starting and ending with a letter or digit"
    )


def test_parse_labels_reads_agent_flags() -> None:
    assert parse_labels("os=linux, arch=arm64,,") == {"os": "linux", "arch": "arm64"}
    with pytest.raises(ValueError, match="'os' is not key=value"):
        parse_labels("os")


def test_mapping_selectors_match_when_every_label_is_there() -> None:
    selector = {"os": "linux", "arch": "arm64"}
    assert selector_matches(selector, {"os": "linux", "arch": "arm64", "zone": "b"})
    assert not selector_matches(selector, {"os": "linux"})
    assert selector_matches({}, {"os": "linux"}) and selector_matches(None, {})
    assert format_selector({"os": "linux", "arch": "arm64"}) == "{arch: arm64, os: linux}"
