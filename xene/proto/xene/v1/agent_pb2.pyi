import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AgentMessage(_message.Message):
    __slots__ = ("hello", "heartbeat", "ack", "goodbye", "pipeline_state", "run_update", "log_chunk", "create_run", "trigger_state")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    ACK_FIELD_NUMBER: _ClassVar[int]
    GOODBYE_FIELD_NUMBER: _ClassVar[int]
    PIPELINE_STATE_FIELD_NUMBER: _ClassVar[int]
    RUN_UPDATE_FIELD_NUMBER: _ClassVar[int]
    LOG_CHUNK_FIELD_NUMBER: _ClassVar[int]
    CREATE_RUN_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_STATE_FIELD_NUMBER: _ClassVar[int]
    hello: Hello
    heartbeat: Heartbeat
    ack: Ack
    goodbye: Goodbye
    pipeline_state: PipelineState
    run_update: RunUpdate
    log_chunk: LogChunk
    create_run: CreateRunRequest
    trigger_state: TriggerState
    def __init__(self, hello: _Optional[_Union[Hello, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., ack: _Optional[_Union[Ack, _Mapping]] = ..., goodbye: _Optional[_Union[Goodbye, _Mapping]] = ..., pipeline_state: _Optional[_Union[PipelineState, _Mapping]] = ..., run_update: _Optional[_Union[RunUpdate, _Mapping]] = ..., log_chunk: _Optional[_Union[LogChunk, _Mapping]] = ..., create_run: _Optional[_Union[CreateRunRequest, _Mapping]] = ..., trigger_state: _Optional[_Union[TriggerState, _Mapping]] = ...) -> None: ...

class Hello(_message.Message):
    __slots__ = ("name", "labels", "capacity", "version", "hostname", "executors", "pipelines", "parallelism", "runs")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    EXECUTORS_FIELD_NUMBER: _ClassVar[int]
    PIPELINES_FIELD_NUMBER: _ClassVar[int]
    PARALLELISM_FIELD_NUMBER: _ClassVar[int]
    RUNS_FIELD_NUMBER: _ClassVar[int]
    name: str
    labels: _containers.ScalarMap[str, str]
    capacity: int
    version: str
    hostname: str
    executors: _containers.RepeatedScalarFieldContainer[str]
    pipelines: _containers.RepeatedCompositeFieldContainer[PipelineRef]
    parallelism: int
    runs: _containers.RepeatedCompositeFieldContainer[RunRef]
    def __init__(self, name: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., capacity: _Optional[int] = ..., version: _Optional[str] = ..., hostname: _Optional[str] = ..., executors: _Optional[_Iterable[str]] = ..., pipelines: _Optional[_Iterable[_Union[PipelineRef, _Mapping]]] = ..., parallelism: _Optional[int] = ..., runs: _Optional[_Iterable[_Union[RunRef, _Mapping]]] = ...) -> None: ...

class RunRef(_message.Message):
    __slots__ = ("run", "attempt")
    RUN_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    run: str
    attempt: int
    def __init__(self, run: _Optional[str] = ..., attempt: _Optional[int] = ...) -> None: ...

class PipelineRef(_message.Message):
    __slots__ = ("name", "generation", "uid")
    NAME_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    UID_FIELD_NUMBER: _ClassVar[int]
    name: str
    generation: int
    uid: str
    def __init__(self, name: _Optional[str] = ..., generation: _Optional[int] = ..., uid: _Optional[str] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("seq", "sent_at")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    seq: int
    sent_at: _timestamp_pb2.Timestamp
    def __init__(self, seq: _Optional[int] = ..., sent_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Ack(_message.Message):
    __slots__ = ("command_id", "error")
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    command_id: str
    error: str
    def __init__(self, command_id: _Optional[str] = ..., error: _Optional[str] = ...) -> None: ...

class Goodbye(_message.Message):
    __slots__ = ("reason",)
    REASON_FIELD_NUMBER: _ClassVar[int]
    reason: str
    def __init__(self, reason: _Optional[str] = ...) -> None: ...

class PipelineState(_message.Message):
    __slots__ = ("name", "generation", "phase", "message")
    NAME_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    name: str
    generation: int
    phase: str
    message: str
    def __init__(self, name: _Optional[str] = ..., generation: _Optional[int] = ..., phase: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class RunUpdate(_message.Message):
    __slots__ = ("run", "attempt", "seq", "status_json", "events_json")
    RUN_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    STATUS_JSON_FIELD_NUMBER: _ClassVar[int]
    EVENTS_JSON_FIELD_NUMBER: _ClassVar[int]
    run: str
    attempt: int
    seq: int
    status_json: bytes
    events_json: bytes
    def __init__(self, run: _Optional[str] = ..., attempt: _Optional[int] = ..., seq: _Optional[int] = ..., status_json: _Optional[bytes] = ..., events_json: _Optional[bytes] = ...) -> None: ...

class LogChunk(_message.Message):
    __slots__ = ("run", "attempt", "seq", "task", "step", "streams", "lines", "times", "truncated")
    RUN_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    STREAMS_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    TIMES_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    run: str
    attempt: int
    seq: int
    task: str
    step: str
    streams: _containers.RepeatedScalarFieldContainer[str]
    lines: _containers.RepeatedScalarFieldContainer[str]
    times: _containers.RepeatedScalarFieldContainer[float]
    truncated: bool
    def __init__(self, run: _Optional[str] = ..., attempt: _Optional[int] = ..., seq: _Optional[int] = ..., task: _Optional[str] = ..., step: _Optional[str] = ..., streams: _Optional[_Iterable[str]] = ..., lines: _Optional[_Iterable[str]] = ..., times: _Optional[_Iterable[float]] = ..., truncated: _Optional[bool] = ...) -> None: ...

class CreateRunRequest(_message.Message):
    __slots__ = ("request_id", "pipeline", "trigger_json", "parameters", "env", "dedup_key", "concurrency_policy")
    class ParametersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PIPELINE_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_JSON_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    DEDUP_KEY_FIELD_NUMBER: _ClassVar[int]
    CONCURRENCY_POLICY_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    pipeline: str
    trigger_json: bytes
    parameters: _containers.ScalarMap[str, str]
    env: _containers.ScalarMap[str, str]
    dedup_key: str
    concurrency_policy: str
    def __init__(self, request_id: _Optional[str] = ..., pipeline: _Optional[str] = ..., trigger_json: _Optional[bytes] = ..., parameters: _Optional[_Mapping[str, str]] = ..., env: _Optional[_Mapping[str, str]] = ..., dedup_key: _Optional[str] = ..., concurrency_policy: _Optional[str] = ...) -> None: ...

class TriggerState(_message.Message):
    __slots__ = ("trigger", "status_json")
    TRIGGER_FIELD_NUMBER: _ClassVar[int]
    STATUS_JSON_FIELD_NUMBER: _ClassVar[int]
    trigger: str
    status_json: bytes
    def __init__(self, trigger: _Optional[str] = ..., status_json: _Optional[bytes] = ...) -> None: ...

class ServerMessage(_message.Message):
    __slots__ = ("welcome", "assignments", "heartbeat_ack", "command", "report_ack", "create_run")
    WELCOME_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENTS_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_ACK_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    REPORT_ACK_FIELD_NUMBER: _ClassVar[int]
    CREATE_RUN_FIELD_NUMBER: _ClassVar[int]
    welcome: Welcome
    assignments: Assignments
    heartbeat_ack: HeartbeatAck
    command: Command
    report_ack: ReportAck
    create_run: CreateRunResponse
    def __init__(self, welcome: _Optional[_Union[Welcome, _Mapping]] = ..., assignments: _Optional[_Union[Assignments, _Mapping]] = ..., heartbeat_ack: _Optional[_Union[HeartbeatAck, _Mapping]] = ..., command: _Optional[_Union[Command, _Mapping]] = ..., report_ack: _Optional[_Union[ReportAck, _Mapping]] = ..., create_run: _Optional[_Union[CreateRunResponse, _Mapping]] = ...) -> None: ...

class ReportAck(_message.Message):
    __slots__ = ("seqs",)
    SEQS_FIELD_NUMBER: _ClassVar[int]
    seqs: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, seqs: _Optional[_Iterable[int]] = ...) -> None: ...

class CreateRunResponse(_message.Message):
    __slots__ = ("request_id", "run", "number", "created", "error", "skipped")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    run: str
    number: int
    created: bool
    error: str
    skipped: str
    def __init__(self, request_id: _Optional[str] = ..., run: _Optional[str] = ..., number: _Optional[int] = ..., created: _Optional[bool] = ..., error: _Optional[str] = ..., skipped: _Optional[str] = ...) -> None: ...

class Welcome(_message.Message):
    __slots__ = ("agent_name", "server", "heartbeat_interval_seconds", "lease_ttl_seconds", "session")
    AGENT_NAME_FIELD_NUMBER: _ClassVar[int]
    SERVER_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    LEASE_TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    agent_name: str
    server: str
    heartbeat_interval_seconds: float
    lease_ttl_seconds: float
    session: str
    def __init__(self, agent_name: _Optional[str] = ..., server: _Optional[str] = ..., heartbeat_interval_seconds: _Optional[float] = ..., lease_ttl_seconds: _Optional[float] = ..., session: _Optional[str] = ...) -> None: ...

class Assignments(_message.Message):
    __slots__ = ("pipelines",)
    PIPELINES_FIELD_NUMBER: _ClassVar[int]
    pipelines: _containers.RepeatedCompositeFieldContainer[Assignment]
    def __init__(self, pipelines: _Optional[_Iterable[_Union[Assignment, _Mapping]]] = ...) -> None: ...

class Assignment(_message.Message):
    __slots__ = ("name", "generation", "uid", "pipeline_json")
    NAME_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    UID_FIELD_NUMBER: _ClassVar[int]
    PIPELINE_JSON_FIELD_NUMBER: _ClassVar[int]
    name: str
    generation: int
    uid: str
    pipeline_json: bytes
    def __init__(self, name: _Optional[str] = ..., generation: _Optional[int] = ..., uid: _Optional[str] = ..., pipeline_json: _Optional[bytes] = ...) -> None: ...

class HeartbeatAck(_message.Message):
    __slots__ = ("seq",)
    SEQ_FIELD_NUMBER: _ClassVar[int]
    seq: int
    def __init__(self, seq: _Optional[int] = ...) -> None: ...

class Command(_message.Message):
    __slots__ = ("id", "start_run", "cancel_run")
    ID_FIELD_NUMBER: _ClassVar[int]
    START_RUN_FIELD_NUMBER: _ClassVar[int]
    CANCEL_RUN_FIELD_NUMBER: _ClassVar[int]
    id: str
    start_run: StartRun
    cancel_run: CancelRun
    def __init__(self, id: _Optional[str] = ..., start_run: _Optional[_Union[StartRun, _Mapping]] = ..., cancel_run: _Optional[_Union[CancelRun, _Mapping]] = ...) -> None: ...

class StartRun(_message.Message):
    __slots__ = ("run", "run_json", "attempt", "pipeline_json", "plan_json")
    RUN_FIELD_NUMBER: _ClassVar[int]
    RUN_JSON_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    PIPELINE_JSON_FIELD_NUMBER: _ClassVar[int]
    PLAN_JSON_FIELD_NUMBER: _ClassVar[int]
    run: str
    run_json: bytes
    attempt: int
    pipeline_json: bytes
    plan_json: bytes
    def __init__(self, run: _Optional[str] = ..., run_json: _Optional[bytes] = ..., attempt: _Optional[int] = ..., pipeline_json: _Optional[bytes] = ..., plan_json: _Optional[bytes] = ...) -> None: ...

class CancelRun(_message.Message):
    __slots__ = ("run", "reason", "attempt")
    RUN_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    run: str
    reason: str
    attempt: int
    def __init__(self, run: _Optional[str] = ..., reason: _Optional[str] = ..., attempt: _Optional[int] = ...) -> None: ...
