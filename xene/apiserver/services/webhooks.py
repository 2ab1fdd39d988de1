"""Webhook deliveries: signature check, payload reading, and the run they start.

The secret of a webhook trigger lives outside etcd: the trigger names an environment variable
of the apiserver (`secretEnv`) or a file it reads (`secretFile`), read on every delivery so a
rotated secret takes effect at once. It is never logged and never stored.

Payload fields reach steps only as `XENE_*` environment variables (run env) and as a file in the
workspace (the body, kept in the run's trigger); nothing from a payload is put into command text.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from xene.api.errors import (
    BadRequest,
    Conflict,
    NotFound,
    TooLarge,
    Unauthenticated,
    Unavailable,
    XeneError,
)
from xene.api.meta import utc_now
from xene.api.pipeline import pipeline_object_name
from xene.api.run import PipelineRun, RunTrigger
from xene.api.trigger import Trigger, trigger_object_name
from xene.apiserver.services.runs import RunService

log = logging.getLogger(__name__)

SIGNATURE_HEADERS = ("x-hub-signature-256", "x-xene-signature-256")
DELIVERY_HEADERS = ("x-github-delivery", "x-xene-delivery", "x-gitlab-event-uuid")
EVENT_HEADERS = ("x-github-event", "x-gitlab-event", "x-xene-event")
# The body a run carries for its steps (in etcd, with the run): bigger non-push bodies are refused.
MAX_PAYLOAD_BYTES = 64 * 1024
MAX_VARIABLE_LENGTH = 1024
_DELIVERY_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_HEX_DIGEST = re.compile(r"^[0-9a-fA-F]{64}$")
_GITLAB_PUSH_EVENTS = ("push hook", "tag push hook")
_GITLAB_PUSH_KINDS = ("push", "tag_push")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == name), None)
    return value.strip() if isinstance(value, str) else None


def signature_of(secret: bytes, body: bytes) -> str:
    """The `sha256=<hex>` signature of `body` with `secret` (what senders put in the header)."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify_signature(secret: bytes, body: bytes, headers: Mapping[str, str]) -> None:
    """Accept the body only if a signature header carries its HMAC-SHA256; else Unauthenticated.

    `X-Hub-Signature-256` (GitHub) and `X-Xene-Signature-256` both hold `sha256=<hex>` (the
    Xene header may also hold the bare hex). Compared in constant time.
    """
    given = [(name, _header(headers, name)) for name in SIGNATURE_HEADERS]
    present = [(name, value) for name, value in given if value]
    if not present:
        raise Unauthenticated(
            "missing signature: send X-Hub-Signature-256 or X-Xene-Signature-256: "
            "sha256=<hex HMAC-SHA256 of the body with the trigger's secret>"
        )
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest().encode()
    valid = False
    for _, value in present:
        assert value is not None
        scheme, sep, digest = value.partition("=")
        if not sep:
            scheme, digest = "sha256", value
        if scheme.lower() != "sha256" or not _HEX_DIGEST.match(digest):
            continue
        # Every present header is compared, so timing does not tell which one matched.
        valid |= hmac.compare_digest(digest.lower().encode(), expected)
    if not valid:
        raise Unauthenticated("wrong signature: the body's HMAC-SHA256 does not match")


def delivery_id(headers: Mapping[str, str]) -> str | None:
    """The sender's id of this delivery (the same on retries); BadRequest when malformed."""
    for name in DELIVERY_HEADERS:
        value = _header(headers, name)
        if value:
            if not _DELIVERY_ID.match(value):
                raise BadRequest(
                    f"header {name} is not a delivery id: use 1 to 128 letters, digits, "
                    "'.', '_', ':' or '-'"
                )
            return value
    return None


def event_name(headers: Mapping[str, str]) -> str | None:
    """The sender's event name (`push`, `Push Hook`, ...), if it sent one."""
    for name in EVENT_HEADERS:
        value = _header(headers, name)
        if value:
            return value
    return None


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str):
        return None
    cleaned = value.replace("\x00", "")[:MAX_VARIABLE_LENGTH]
    return cleaned or None


def _dig(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def _ref_variables(ref: str | None) -> dict[str, str]:
    if ref is None:
        return {}
    variables = {"XENE_REF": ref}
    if ref.startswith("refs/heads/"):
        variables["XENE_BRANCH"] = ref[len("refs/heads/") :]
    elif ref.startswith("refs/tags/"):
        variables["XENE_TAG"] = ref[len("refs/tags/") :]
    return variables


def is_github_push(event: str | None, payload: Any) -> bool:
    """A GitHub push delivery (by its event header, or by its shape without one)."""
    if not isinstance(payload, Mapping):
        return False
    if event is not None:
        return event.lower() == "push" and "ref" in payload
    return all(key in payload for key in ("ref", "after", "repository", "pusher"))


def is_gitlab_push(event: str | None, payload: Any) -> bool:
    """A GitLab push or tag push delivery."""
    if not isinstance(payload, Mapping):
        return False
    if event is not None and event.lower() in _GITLAB_PUSH_EVENTS:
        return True
    return payload.get("object_kind") in _GITLAB_PUSH_KINDS


def push_variables(event: str | None, payload: Any) -> dict[str, str]:
    """`XENE_REF`, `XENE_BRANCH` (or `XENE_TAG`), `XENE_COMMIT`, `XENE_REPOSITORY`,
    `XENE_SENDER` of a GitHub or GitLab push; empty for any other payload."""
    if is_github_push(event, payload):
        ref = _text(_dig(payload, "ref"))
        fields = {
            "XENE_COMMIT": _text(_dig(payload, "after"))
            or _text(_dig(payload, "head_commit", "id")),
            "XENE_REPOSITORY": _text(_dig(payload, "repository", "full_name")),
            "XENE_SENDER": _text(_dig(payload, "sender", "login"))
            or _text(_dig(payload, "pusher", "name")),
        }
    elif is_gitlab_push(event, payload):
        ref = _text(_dig(payload, "ref"))
        fields = {
            "XENE_COMMIT": _text(_dig(payload, "checkout_sha")) or _text(_dig(payload, "after")),
            "XENE_REPOSITORY": _text(_dig(payload, "project", "path_with_namespace")),
            "XENE_SENDER": _text(_dig(payload, "user_username"))
            or _text(_dig(payload, "user_name")),
        }
    else:
        return {}
    variables = _ref_variables(ref)
    variables.update({name: value for name, value in fields.items() if value is not None})
    return variables


def parse_payload(body: bytes) -> Any:
    """The JSON body (None when empty); BadRequest when it is not JSON."""
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(
            f"the webhook body is not JSON ({exc}); send application/json "
            "(on GitHub: Content type application/json)"
        ) from exc


def _payload_text(body: bytes, payload: Any) -> str | None:
    """The body as the run keeps it for its steps: as delivered, if small enough."""
    if payload is None or len(body) > MAX_PAYLOAD_BYTES:
        return None
    try:
        return body.decode()
    except UnicodeDecodeError:  # UTF-16/32 JSON: kept as equivalent UTF-8 JSON
        return json.dumps(payload)


@dataclass(frozen=True)
class WebhookDelivery:
    """What a delivery came to: the run it started (or found, for a retried delivery)."""

    run: PipelineRun | None
    created: bool
    message: str = ""


def read_secret(trigger: Trigger, environ: Mapping[str, str]) -> bytes:
    """The trigger's secret from the apiserver's environment or file; Unavailable if unset."""
    spec = trigger.spec
    name = trigger.metadata.name
    if spec.secretEnv:
        value = environ.get(spec.secretEnv)
        if not value:
            raise Unavailable(
                f"webhook trigger {name}: the apiserver has no environment variable "
                f"{spec.secretEnv} holding its secret"
            )
        return value.encode()
    if spec.secretFile:
        try:
            value_bytes = Path(spec.secretFile).read_bytes().strip()
        except OSError as exc:
            raise Unavailable(
                f"webhook trigger {name}: cannot read its secret file {spec.secretFile}: "
                f"{exc.strerror or exc}"
            ) from None
        if not value_bytes:
            raise Unavailable(f"webhook trigger {name}: its secret file {spec.secretFile} is empty")
        return value_bytes
    raise Unavailable(f"webhook trigger {name} names no secret (secretEnv or secretFile)")


class WebhookService:
    """Turns verified webhook deliveries into runs of the pipelines that use the trigger."""

    def __init__(
        self,
        runs: RunService,
        *,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.runs = runs
        self.store = runs.store
        self.environ = os.environ if environ is None else environ
        self.clock = clock

    async def webhook_trigger(self, workflow: str, trigger: str) -> Trigger:
        """The webhook Trigger object named by the URL; NotFound otherwise."""
        name = trigger_object_name(workflow, trigger)
        try:
            found = await self.store.get(Trigger, name)
        except NotFound:
            raise NotFound(f"workflow '{workflow}' has no trigger '{trigger}'") from None
        if found.spec.type != "webhook":
            raise NotFound(f"trigger '{trigger}' of workflow '{workflow}' is not a webhook trigger")
        return found

    def secret_problem(self, trigger: Trigger) -> str | None:
        """Why this server cannot check deliveries to `trigger` (its secret is missing), or None.

        The secret itself never leaves the server.
        """
        try:
            read_secret(trigger, self.environ)
        except Unavailable as exc:
            return exc.message
        return None

    async def deliver(
        self,
        workflow: str,
        pipeline: str,
        trigger: Trigger,
        body: bytes,
        headers: Mapping[str, str],
    ) -> WebhookDelivery:
        """Verify one delivery and start (or find) its run; nothing is created on any error."""
        verify_signature(read_secret(trigger, self.environ), body, headers)
        pipeline_name = pipeline_object_name(workflow, pipeline)
        if pipeline_name not in trigger.spec.pipelines:
            raise NotFound(
                f"pipeline '{pipeline}' of workflow '{workflow}' does not use trigger "
                f"'{trigger.spec.name}'"
            )
        if trigger.spec.suspend:
            return WebhookDelivery(
                None,
                False,
                f"trigger {trigger.metadata.name} is suspended: no run started "
                f"(xenectl resume {trigger.metadata.name})",
            )
        delivery = delivery_id(headers)
        event = event_name(headers)
        if event is not None and event.lower() == "ping":
            return WebhookDelivery(None, False, "pong: the webhook is set up; no run started")
        payload = parse_payload(body)
        env = push_variables(event, payload)
        if len(body) > MAX_PAYLOAD_BYTES and not env:
            raise TooLarge(
                f"the webhook body is {len(body)} bytes; a run carries at most "
                f"{MAX_PAYLOAD_BYTES} bytes of payload for its steps"
            )
        for name, value in (("XENE_EVENT", event), ("XENE_DELIVERY", delivery)):
            text = _text(value)
            if text is not None:
                env[name] = text
        run_trigger = RunTrigger(
            type="webhook",
            name=trigger.spec.name,
            deliveryId=delivery,
            payload=_payload_text(body, payload),
        )
        created = await self.runs.create_run(
            pipeline_name,
            trigger=run_trigger,
            env=env,
            dedup_key=f"webhook:{trigger.spec.name}:{delivery}" if delivery else None,
            concurrency_policy=trigger.spec.concurrencyPolicy,
        )
        if created.run is None:
            raise Conflict(created.skipped or "no run was created")
        run = created.run
        if created.created:
            log.info(
                "webhook %s: delivery %s started run %s",
                trigger.metadata.name,
                delivery or "(no id)",
                run.metadata.name,
            )
            await self._record_fire(trigger.metadata.name, run.metadata.name)
        else:
            log.info(
                "webhook %s: delivery %s was seen before: run %s",
                trigger.metadata.name,
                delivery,
                run.metadata.name,
            )
        return WebhookDelivery(run, created.created)

    async def _record_fire(self, trigger: str, run: str) -> None:
        now = self.clock()

        def update(stored: Trigger) -> Trigger:
            stored.status.lastFireTime = now
            stored.status.lastRun = run
            return stored

        try:
            await self.store.mutate(Trigger, trigger, update)
        except XeneError as exc:
            log.info("trigger %s: last fire not recorded: %s", trigger, exc)
