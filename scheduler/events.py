"""The typed events of the DAGScheduler's loop. Any thread may post one;
only the loop thread handles them (and so only it changes scheduling state).
Events are frozen: a handler never mutates what another thread built."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class JobSubmitted:
    job: Any  # ActiveJob, built by the submitting thread


@dataclass(frozen=True)
class JobCancelled:
    job_id: int
    reason: str


@dataclass(frozen=True)
class JobsCancelled:
    """Cancel the active jobs of a job group, or carrying a tag, or (neither
    given) every active job."""

    reason: str
    group: str | None = None
    tag: str | None = None


@dataclass(frozen=True)
class CompletionEvent:
    worker_id: str
    tid: int
    outcome: Any  # TaskSuccess | ExceptionFailure | FetchFailure | TaskKilled
    payload: bytes | None = None
    duration: float = 0.0
    metrics: Any = None  # the attempt's TaskMetrics, measured on the worker
    # The driver refused the message carrying the outcome (ResultTooLargeError):
    # the task's jobs fail with it; a retry would be as large.
    refused: BaseException | None = None


@dataclass(frozen=True)
class ExecutorAdded:
    worker_id: str
    host: str
    cores: int
    address: str


@dataclass(frozen=True)
class ExecutorLost:
    worker_id: str
    reason: str


@dataclass(frozen=True)
class ClusterFailed:
    """No worker can be started any more: jobs fail rather than wait forever."""

    reason: str


@dataclass(frozen=True)
class ShuffleReleased:
    """The driver dropped a ShuffleDependency: its outputs can go."""

    shuffle_id: int


@dataclass(frozen=True)
class RddUnpersisted:
    rdd_id: int


@dataclass(frozen=True)
class ResubmitFailedStages:
    pass


@dataclass(frozen=True)
class AskCommit:
    """A task attempt asks to publish its output (see OutputCommit in the
    DAGScheduler)."""

    worker_id: str
    tid: int
    stage_id: int
    partition: int


@dataclass(frozen=True)
class BarrierSync:
    """A barrier task called barrier()/allGather() (``request`` is the
    worker's BarrierRequest)."""

    worker_id: str
    request: Any


@dataclass(frozen=True)
class CheckSpeculation:
    """Time to look for stragglers (spark.speculation.interval)."""


@dataclass(frozen=True)
class Revive:
    """Offer free slots again (a locality wait expired)."""


@dataclass(frozen=True)
class RunOnLoop:
    """Run ``call`` on the loop thread (state queries, cleanup requests)."""

    call: Callable[[], Any]


@dataclass(frozen=True)
class StopLoop:
    pass
