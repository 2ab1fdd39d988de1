"""Webhook signatures and payloads, without a server."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from xene.api.errors import BadRequest, Unauthenticated, Unavailable
from xene.api.meta import ObjectMeta
from xene.api.trigger import Trigger, TriggerObjectSpec
from xene.apiserver.services.webhooks import (
    delivery_id,
    event_name,
    parse_payload,
    push_variables,
    read_secret,
    signature_of,
    verify_signature,
)

HERE = Path(__file__).parent
SECRET = b"It's a Secret to Everybody"
BODY = b"Hello, World!"
# GitHub's documented example signature for SECRET and BODY.
GITHUB_EXAMPLE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def fixture(name: str) -> Any:
    return json.loads((HERE / name).read_text())


def test_signature_matches_githubs_documented_example() -> None:
    assert signature_of(SECRET, BODY) == GITHUB_EXAMPLE


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Hub-Signature-256": GITHUB_EXAMPLE},
        {"x-hub-signature-256": GITHUB_EXAMPLE.upper().replace("SHA256=", "sha256=")},
        {"X-Xene-Signature-256": GITHUB_EXAMPLE},
        {"X-Xene-Signature-256": GITHUB_EXAMPLE.removeprefix("sha256=")},
        {"X-Hub-Signature-256": "sha256=" + "0" * 64, "X-Xene-Signature-256": GITHUB_EXAMPLE},
    ],
)
def test_good_signatures_are_accepted(headers: dict[str, str]) -> None:
    verify_signature(SECRET, BODY, headers)


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "missing signature"),
        ({"X-Hub-Signature-256": ""}, "missing signature"),
        ({"X-Hub-Signature": "sha1=" + "0" * 40}, "missing signature"),
        ({"X-Hub-Signature-256": "sha256=" + "0" * 64}, "wrong signature"),
        ({"X-Xene-Signature-256": "sha1=" + GITHUB_EXAMPLE[7:]}, "wrong signature"),
        ({"X-Xene-Signature-256": "sha256=nothex"}, "wrong signature"),
        ({"X-Hub-Signature-256": signature_of(b"another secret", BODY)}, "wrong signature"),
    ],
)
def test_missing_or_wrong_signatures_are_refused(headers: dict[str, str], message: str) -> None:
    with pytest.raises(Unauthenticated, match=message):
        verify_signature(SECRET, BODY, headers)


def test_a_changed_body_fails_the_signature() -> None:
    with pytest.raises(Unauthenticated):
        verify_signature(SECRET, BODY + b" ", {"X-Hub-Signature-256": GITHUB_EXAMPLE})


def test_github_push_variables() -> None:
    variables = push_variables("push", fixture("github_push.json"))
    assert variables == {
        "XENE_REF": "refs/heads/main",
        "XENE_BRANCH": "main",
        "XENE_COMMIT": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
        "XENE_REPOSITORY": "octo-org/hello-world",
        "XENE_SENDER": "octocat",
    }


def test_github_push_is_recognised_without_its_event_header() -> None:
    assert push_variables(None, fixture("github_push.json"))["XENE_BRANCH"] == "main"


def test_gitlab_push_variables() -> None:
    variables = push_variables("Push Hook", fixture("gitlab_push.json"))
    assert variables == {
        "XENE_REF": "refs/heads/feature/login",
        "XENE_BRANCH": "feature/login",
        "XENE_COMMIT": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
        "XENE_REPOSITORY": "mike/diaspora",
        "XENE_SENDER": "jsmith",
    }
    assert push_variables(None, fixture("gitlab_push.json")) == variables


def test_tag_push_sets_the_tag_not_a_branch() -> None:
    payload = {**fixture("gitlab_push.json"), "object_kind": "tag_push", "ref": "refs/tags/v1.2"}
    variables = push_variables("Tag Push Hook", payload)
    assert variables["XENE_TAG"] == "v1.2" and "XENE_BRANCH" not in variables


@pytest.mark.parametrize(
    ("event", "payload"),
    [
        ("issues", {"action": "opened", "issue": {"title": "x"}}),
        (None, {"anything": ["goes"]}),
        (None, [1, 2, 3]),
        ("push", None),
    ],
)
def test_other_payloads_give_no_push_variables(event: str | None, payload: Any) -> None:
    assert push_variables(event, payload) == {}


def test_odd_field_types_are_dropped_or_capped() -> None:
    payload = {**fixture("github_push.json"), "after": ["not", "text"], "ref": "r" * 5000}
    payload["sender"] = {"login": "a\x00b"}
    variables = push_variables("push", payload)
    assert variables["XENE_COMMIT"] == "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"  # head_commit
    assert len(variables["XENE_REF"]) == 1024
    assert variables["XENE_SENDER"] == "ab"


def test_delivery_and_event_headers() -> None:
    assert delivery_id({"X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958"}) == (
        "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    )
    assert delivery_id({"X-Xene-Delivery": "build-42"}) == "build-42"
    assert delivery_id({"X-Gitlab-Event-UUID": "a1b2"}) == "a1b2"
    assert delivery_id({}) is None
    with pytest.raises(BadRequest, match="x-xene-delivery"):
        delivery_id({"X-Xene-Delivery": "../../etc"})
    assert event_name({"X-GitHub-Event": "push"}) == "push"
    assert event_name({"X-Gitlab-Event": "Push Hook"}) == "Push Hook"


def test_payload_must_be_json() -> None:
    assert parse_payload(b"") is None
    assert parse_payload(b'{"a": 1}') == {"a": 1}
    with pytest.raises(BadRequest, match="not JSON"):
        parse_payload(b"payload=%7B%7D")


def _trigger(**secret: str) -> Trigger:
    return Trigger(
        metadata=ObjectMeta(name="hello.on-push"),
        spec=TriggerObjectSpec(name="on-push", type="webhook", workflow="hello", **secret),
    )


def test_secret_from_environment_or_file(tmp_path: Path) -> None:
    assert read_secret(_trigger(secretEnv="HOOK_SECRET"), {"HOOK_SECRET": "s3"}) == b"s3"
    path = tmp_path / "secret"
    path.write_text("from-a-file\n")
    assert read_secret(_trigger(secretFile=str(path)), {}) == b"from-a-file"


def test_unset_secret_names_where_it_was_looked_for_but_not_a_value(tmp_path: Path) -> None:
    with pytest.raises(Unavailable, match="HOOK_SECRET"):
        read_secret(_trigger(secretEnv="HOOK_SECRET"), {})
    with pytest.raises(Unavailable, match="cannot read its secret file"):
        read_secret(_trigger(secretFile=str(tmp_path / "missing")), {})


def test_signature_helper_is_plain_hmac() -> None:
    expected = hmac.new(b"k", b"body", hashlib.sha256).hexdigest()
    assert signature_of(b"k", b"body") == f"sha256={expected}"
