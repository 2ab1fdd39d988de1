"""Labels: what a valid key and value are (Kubernetes' syntax), and which labels a mapping
selector matches.

The one home of these rules: validation checks `metadata.labels`, annotations' keys and
`agentSelector` with them, the agent its `--labels`, the scheduler and the store's list filter
match with `selector_matches`. `xene.api.selectors` parses `labelSelector` / `xenectl -l`
expressions (`!=`, `in`, `notin`, `key`, `!key`) with these key and value rules.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from xene.api.meta import DNS1123_SUBDOMAIN

MAX_NAME_LENGTH = 63
MAX_PREFIX_LENGTH = 253
_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")

Selector = Mapping[str, str]
"""Labels that must all be present with these values; an empty selector matches everything."""


def label_key_problem(key: str) -> str | None:
    """Why `key` is not a label key (`name` or `prefix/name`, as in Kubernetes), or None."""
    advice = _key_advice(key)
    return f"'{key}' is not a valid key: {advice}" if advice else None


def label_value_problem(value: str) -> str | None:
    """Why `value` is not a label value (empty is allowed), or None."""
    advice = _value_advice(value)
    return f"'{value}' is not a valid label value: {advice}" if advice else None


def label_problem(key: str, value: str) -> str | None:
    """Why `key=value` is not a valid label, naming which half is wrong, or None."""
    advice = _key_advice(key)
    if advice:
        return f"label key '{key}' is not valid: {advice}"
    advice = _value_advice(value)
    if advice:
        return f"label value '{value}' of '{key}' is not valid: {advice}"
    return None


def _key_advice(key: str) -> str | None:
    prefix, slash, name = key.rpartition("/")
    if slash and (
        not prefix or len(prefix) > MAX_PREFIX_LENGTH or not DNS1123_SUBDOMAIN.match(prefix)
    ):
        return "the prefix before '/' must be a DNS subdomain such as example.com"
    if not name or len(name) > MAX_NAME_LENGTH or not _NAME.match(name):
        return (
            "use at most 63 letters, digits, '-', '_' and '.', starting and ending with a "
            "letter or digit, with an optional 'prefix/'"
        )
    return None


def _value_advice(value: str) -> str | None:
    if value and (len(value) > MAX_NAME_LENGTH or not _NAME.match(value)):
        return (
            "use at most 63 letters, digits, '-', '_' and '.', starting and ending with a "
            "letter or digit"
        )
    return None


def parse_labels(text: str) -> dict[str, str]:
    """`k=v,k2=v2` as a mapping (blank items skipped); raises ValueError naming the bad item."""
    labels: dict[str, str] = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"'{item}' is not key=value")
        labels[key.strip()] = value.strip()
    return labels


def selector_matches(selector: Selector | None, labels: Mapping[str, str]) -> bool:
    """Every key of the selector is a label with the same value (an empty selector matches)."""
    return not selector or all(labels.get(key) == value for key, value in selector.items())


def format_selector(selector: Selector) -> str:
    """A selector as users write it in YAML flow style: `{os: linux, arch: arm64}`."""
    return "{" + ", ".join(f"{key}: {value}" for key, value in sorted(selector.items())) + "}"
