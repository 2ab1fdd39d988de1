"""The DAG run engine shared by the agent and `xenectl run --local`.

runner = PipelineRunner(compile_plan(pipeline_spec), executor, run_id="hello.build.3",
                        variables=run_variables(...), observers=[my_observer])
status = await runner.run()          # PipelineRunStatus when the run has ended
await runner.cancel()                # from another task: stop it
"""

from xene.engine.clock import SYSTEM_CLOCK, Clock, SystemClock
from xene.engine.environment import merge_environment, run_variables
from xene.engine.events import (
    LogLine,
    OutputStream,
    RunCancelled,
    RunEvent,
    RunFailed,
    RunObserver,
    RunStarted,
    RunSucceeded,
    StepEvent,
    StepFailed,
    StepStarted,
    StepSucceeded,
    TaskCancelled,
    TaskEvent,
    TaskFailed,
    TaskReady,
    TaskRetrying,
    TaskSkipped,
    TaskStarted,
    TaskSucceeded,
)
from xene.engine.executor import (
    Executor,
    ExecutorError,
    OutputCallback,
    SharedContext,
    TaskContext,
    Workspace,
)
from xene.engine.runner import PipelineRunner, RunOptions

__all__ = [
    "SYSTEM_CLOCK",
    "Clock",
    "Executor",
    "ExecutorError",
    "LogLine",
    "OutputCallback",
    "OutputStream",
    "PipelineRunner",
    "RunCancelled",
    "RunEvent",
    "RunFailed",
    "RunObserver",
    "RunOptions",
    "RunStarted",
    "RunSucceeded",
    "SharedContext",
    "StepEvent",
    "StepFailed",
    "StepStarted",
    "StepSucceeded",
    "SystemClock",
    "TaskCancelled",
    "TaskContext",
    "TaskEvent",
    "TaskFailed",
    "TaskReady",
    "TaskRetrying",
    "TaskSkipped",
    "TaskStarted",
    "TaskSucceeded",
    "Workspace",
    "merge_environment",
    "run_variables",
]
