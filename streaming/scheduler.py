"""The streaming scheduler: a clock, a generator of batches, and the threads
that run them (Spark's JobGenerator and JobScheduler).

Threads:

* ``ember-streaming-generator``: waits on the context's clock (the injected
  one: tests use a ``ManualClock``) for each batch time ``zero + k *
  interval``. At each: plans every input (``_plan``: the topic offsets to
  read, the new files, ...), writes the checkpoint (write-ahead: the batch's
  input is durable before it runs), tells the listeners, and queues the
  batch. A batch time the generator reaches late (the driver was down, a
  broker outage held it) is generated all the same, in order: no input is
  skipped.
* ``ember-streaming-batch-N`` (``spark.streaming.concurrentJobs``, 1 by
  default): takes queued batches in order; builds the batch's RDDs, runs its
  output operations in the order they were declared (their jobs tagged with
  the batch and drawn without progress bars), then commits the topic
  streams' group offsets, then marks the batch complete: the completed time
  moves over the batches done in order, the state streams' saved RDDs are
  noted, old RDDs and planned input are forgotten, backpressure learns from
  the batch. A slow batch delays the next (its scheduling delay grows);
  batches never overlap with one thread, and none is skipped.

Failures: an exception from a batch (a user function, a failed job, an
input that cannot be planned) stops the stream: nothing more is generated
or run, and ``awaitTermination`` raises it (its type kept, a note naming the
batch time and output operation added to the engine's note naming stage and
partition). The batch stays logged and incomplete: a restart runs it again.

Stopping: graceful (``stop(stopGraceFully=True)``, Ctrl-C in
``awaitTermination``) generates the batches already due, runs every queued
batch, then stops; otherwise running jobs are cancelled and queued batches
left (logged, so a restart runs them). Either way a last checkpoint records
what completed.

Recovery (``getOrCreate`` on a checkpoint): the logged batches that did not
complete are queued first, with their logged input; then the generator goes
on from the last logged batch time.

Failpoints (``EMBER_FAILPOINTS``, for the crash tests): ``streaming.before_log``,
``streaming.after_log``, ``streaming.after_output``,
``streaming.before_offset_commit``.
"""

from __future__ import annotations

import logging
import queue
import shutil
import threading
from typing import TYPE_CHECKING, Any

from ember.engine import failpoints
from ember.engine.errors import JobCancelledError
from ember.driver.progress import quiet
from ember.streaming.checkpoint import Checkpoint, CheckpointDir
from ember.streaming.listener import (BatchInfo, OutputOperationInfo,
                                      StreamingListenerBatchCompleted,
                                      StreamingListenerBatchStarted,
                                      StreamingListenerBatchSubmitted,
                                      StreamingListenerOutputOperationCompleted,
                                      StreamingListenerOutputOperationStarted)
from ember.streaming.util import format_time

if TYPE_CHECKING:
    from ember.streaming.context import StreamingContext

log = logging.getLogger("ember.streaming")


class Batch:
    """One batch time's bookkeeping (driver side)."""

    def __init__(self, time: int, submission: int, inputs: dict):
        self.time = time
        self.submission = submission
        self.start = -1
        self.end = -1
        self.inputs = inputs
        self.outputs: dict[int, OutputOperationInfo] = {}

    def info(self) -> BatchInfo:
        return BatchInfo(self.time, self.inputs, self.submission, self.start, self.end,
                         self.outputs)


class JobScheduler:
    def __init__(self, ssc: "StreamingContext"):
        self.ssc = ssc
        self.graph = ssc._graph
        self.clock = ssc._clock
        self.batch_ms = ssc._batch_ms
        self._lock = threading.Lock()
        self._queue: "queue.Queue[int | None]" = queue.Queue()
        self._batches: dict[int, Batch] = {}  # planned and not complete
        self._done: set[int] = set()
        self.completed = -1  # every batch up to this time is complete
        self.last_planned: int | None = None
        self._gen_stop = threading.Event()  # the generator stops (after the due batches if graceful)
        self._halt = threading.Event()  # nothing more runs
        self._graceful_end: int | None = None
        self.terminated = ssc._terminated  # set when the stream ends: stopped, or failed
        self.error: BaseException | None = None
        self._generator: threading.Thread | None = None
        self._executors: list[threading.Thread] = []
        self._group = f"ember-streaming-{id(ssc):x}"
        self._graph_bytes: bytes | None = None
        self._checkpoints: CheckpointDir | None = None

    def now(self) -> int:
        return int(round(self.clock.time() * 1000))

    # --- starting ---------------------------------------------------------------------

    def start(self, recovered: Checkpoint | None, graph_bytes: bytes | None,
              checkpoints: CheckpointDir | None) -> None:
        self._graph_bytes, self._checkpoints = graph_bytes, checkpoints
        if recovered is None:
            for stream in self.graph.inputs:
                stream._start()
            first = self.graph.zero + self.batch_ms
            pending: list[int] = []
        else:
            self.completed = recovered.completed
            self._done = set()
            for stream in self.graph.inputs:
                stream._recovered()
            planned = [t for specs in recovered.inputs.values() for t in specs]
            self.last_planned = max(planned, default=recovered.zero)
            first = self.last_planned + self.batch_ms
            pending = sorted(recovered.pending)
            if pending:
                log.info("recovered %d batches that did not complete (%s): running them again "
                         "with their logged input", len(pending),
                         ", ".join(format_time(t) for t in pending))
        for time in pending:
            batch = Batch(time, self.now(), self._input_infos(time))
            with self._lock:
                self._batches[time] = batch
            self._submitted(batch)
        threads = self.ssc._sc._conf.value("spark.streaming.concurrentJobs")
        self._executors = [threading.Thread(target=self._run_batches, daemon=True,
                                            name=f"ember-streaming-batch-{i}")
                           for i in range(threads)]
        for thread in self._executors:
            thread.start()
        self._generator = threading.Thread(target=self._generate_batches, args=(first,),
                                           daemon=True, name="ember-streaming-generator")
        self._generator.start()

    def _input_infos(self, time: int) -> dict:
        infos = {}
        for stream in self.graph.inputs:
            spec = stream._specs.get(time)
            info = stream._input_info(time, spec) if time in stream._specs else None
            if info is not None:
                infos[stream._input_id] = info
        return infos

    # --- the generator ----------------------------------------------------------------

    def _generate_batches(self, time: int) -> None:
        while True:
            if self._gen_stop.is_set():
                if self._graceful_end is None or time > self._graceful_end:
                    return
            elif not self.clock.wait_until(time / 1000.0, self._gen_stop):
                continue
            try:
                self._generate(time)
            except BaseException as error:  # noqa: BLE001 - reported, the stream stops
                if not self._halt.is_set():
                    error.add_note(f"while planning the streaming batch of time {time} "
                                   f"({format_time(time)})")
                    self.report_error(error)
                return
            time += self.batch_ms

    def _generate(self, time: int) -> None:
        failpoints.point("streaming.before_log")
        specs = [(stream, stream._plan(time)) for stream in self.graph.inputs]
        for stream, spec in specs:
            stream._planned(time, spec)
        batch = Batch(time, self.now(), self._input_infos(time))
        with self._lock:
            self._batches[time] = batch
            self.last_planned = time
        self.write_checkpoint(time)
        failpoints.point("streaming.after_log")
        self._submitted(batch)

    def _submitted(self, batch: Batch) -> None:
        info = batch.info()
        self.ssc._status.submitted(info.as_dict())
        self.ssc._bus.post(StreamingListenerBatchSubmitted(info))
        self._queue.put(batch.time)

    def write_checkpoint(self, time: int) -> None:
        if self._checkpoints is None:
            return
        with self.graph.lock, self._lock:
            checkpoint = Checkpoint(
                app_id=self.ssc._app_id, app_name=self.ssc._sc.appName, time=time,
                completed=self.completed, batch_ms=self.batch_ms, zero=self.graph.zero,
                conf=self.ssc._sc._conf.getAll(), graph=self._graph_bytes,
                inputs=self.graph.input_specs(), state=self.graph.state_entries(),
                pending=sorted(self._batches))
        self._checkpoints.write(checkpoint)

    # --- running batches ----------------------------------------------------------------

    def _run_batches(self) -> None:
        while True:
            time = self._queue.get()
            if time is None or self._halt.is_set():
                return
            self._run_batch(time)

    def _run_batch(self, time: int) -> None:
        sc = self.ssc._sc
        batch = self._batches[time]
        batch.start = self.now()
        info = batch.info()
        self.ssc._status.started(info.as_dict())
        self.ssc._bus.post(StreamingListenerBatchStarted(info))
        sc.setJobGroup(self._group, f"streaming batch {format_time(time)}")
        try:
            with quiet():
                try:
                    jobs = self.graph.generate_jobs(time)
                except BaseException as error:
                    error.add_note(f"while building the RDDs of the streaming batch of time "
                                   f"{time} ({format_time(time)})")
                    raise
                for op_id, job in enumerate(jobs):
                    self._run_output(batch, op_id, job)
                    failpoints.point("streaming.after_output")
            failpoints.point("streaming.before_offset_commit")
            for stream in self.graph.inputs:
                commit = getattr(stream, "_commit", None)
                if commit is not None:
                    commit(time)
        except JobCancelledError:
            if self._halt.is_set():
                log.info("streaming batch %s was cancelled by stop(); it runs again after a "
                         "restart", format_time(time))
                return
            raise
        except BaseException as error:  # noqa: BLE001 - reported, the stream stops
            if self._halt.is_set() and isinstance(error, JobCancelledError):
                return
            self.report_error(error)
            return
        finally:
            sc.setJobGroup(self._group, "")
        self._complete(batch)

    def _run_output(self, batch: Batch, op_id: int, job: Any) -> None:
        output = job.output
        sc = self.ssc._sc
        operation = OutputOperationInfo(batch.time, op_id, output.op_name, output.description(),
                                        self.now())
        batch.outputs[op_id] = operation
        self.ssc._bus.post(StreamingListenerOutputOperationStarted(operation))
        sc.setJobDescription(f"Streaming job from [output operation {op_id}, "
                             f"{output.description()}] for batch time {format_time(batch.time)}")
        try:
            job.run()
        except BaseException as error:
            done = OutputOperationInfo(batch.time, op_id, output.op_name, output.description(),
                                       operation.startTime(), self.now(),
                                       f"{type(error).__name__}: {error}")
            batch.outputs[op_id] = done
            self.ssc._bus.post(StreamingListenerOutputOperationCompleted(done))
            if not isinstance(error, JobCancelledError):
                error.add_note(f"in the streaming batch of time {batch.time} "
                               f"({format_time(batch.time)}), output operation {op_id} "
                               f"({output.description()})")
            raise
        done = OutputOperationInfo(batch.time, op_id, output.op_name, output.description(),
                                   operation.startTime(), self.now())
        batch.outputs[op_id] = done
        self.ssc._bus.post(StreamingListenerOutputOperationCompleted(done))

    def _complete(self, batch: Batch) -> None:
        batch.end = self.now()
        time = batch.time
        with self._lock:
            self._done.add(time)
            self._batches.pop(time, None)
            if self.completed < 0:
                self.completed = self.graph.zero
            while self.completed + self.batch_ms in self._done:
                self.completed += self.batch_ms
                self._done.discard(self.completed)
            completed = self.completed
        dropped = self.graph.record_checkpoints()
        self.graph.clear_metadata(time)
        horizon = self.graph.horizon(completed)
        for stream in self.graph.inputs:
            stream._forget_specs(horizon)
        for path in dropped:
            shutil.rmtree(path, ignore_errors=True)
        info = batch.info()
        for stream in self.graph.inputs:
            learn = getattr(stream, "_batch_completed", None)
            if learn is not None and stream._input_id in batch.inputs:
                learn(time, batch.inputs[stream._input_id].numRecords(), info.processingDelay(),
                      info.schedulingDelay())
        self.ssc._status.completed(info.as_dict())
        self.ssc._bus.post(StreamingListenerBatchCompleted(info))

    # --- failing and stopping ------------------------------------------------------------

    def report_error(self, error: BaseException) -> None:
        with self._lock:
            if self.error is None:
                self.error = error
        log.error("the stream stopped: %s: %s", type(error).__name__, error)
        self._gen_stop.set()
        self._halt.set()
        for _ in self._executors:
            self._queue.put(None)
        self.terminated.set()

    def halted(self) -> bool:
        return self._halt.is_set()

    def stop(self, graceful: bool, timeout: float) -> None:
        if graceful and not self._halt.is_set():
            self._graceful_end = self.now()
            self._gen_stop.set()
            if self._generator is not None:
                self._generator.join(timeout)
            for _ in self._executors:
                self._queue.put(None)
            for thread in self._executors:
                thread.join(timeout)
        else:
            self._gen_stop.set()
            self._halt.set()
            self.ssc._sc.cancelJobGroup(self._group)
            for _ in self._executors:
                self._queue.put(None)
            if self._generator is not None:
                self._generator.join(timeout)
            for thread in self._executors:
                thread.join(timeout)
        self._halt.set()
        if self.last_planned is not None and self.error is None:
            try:
                self.write_checkpoint(self.last_planned)
            except Exception:  # noqa: BLE001 - the last one is an optimisation
                log.exception("could not write the final streaming checkpoint")
        self.terminated.set()
