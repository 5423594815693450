"""StreamingListener and its events, as PySpark's listeners see them.

PySpark hands a listener Java objects whose fields are read by calling them
(``batchCompleted.batchInfo().batchTime().milliseconds()``); the value types
here answer the same calls, so a PySpark listener runs unchanged. Times are
milliseconds since the epoch; a delay or time not known yet is -1.

``ListenerBus``: events are delivered on one thread
(``ember-streaming-listener``), in the order they were posted, so a slow
listener never delays a batch. An exception raised by a listener is logged
and the listener keeps receiving events (Spark's bus does the same).
``stop()`` delivers what was posted before it, then ends the thread.

Must not know: how batches are scheduled (it is handed finished events).
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

log = logging.getLogger("ember.streaming")


class StreamingListener:
    """Receives the events of a StreamingContext (``ssc.addStreamingListener``).
    Override the methods of the events wanted; the others do nothing."""

    def onStreamingStarted(self, streamingStarted: Any) -> None:
        """The StreamingContext started."""

    def onReceiverStarted(self, receiverStarted: Any) -> None:
        """A receiver (socketTextStream) started."""

    def onReceiverError(self, receiverError: Any) -> None:
        """A receiver reported an error."""

    def onReceiverStopped(self, receiverStopped: Any) -> None:
        """A receiver stopped."""

    def onBatchSubmitted(self, batchSubmitted: Any) -> None:
        """A batch was planned (its input logged) and queued."""

    def onBatchStarted(self, batchStarted: Any) -> None:
        """A batch started running."""

    def onBatchCompleted(self, batchCompleted: Any) -> None:
        """A batch finished (all its output operations)."""

    def onOutputOperationStarted(self, outputOperationStarted: Any) -> None:
        """One output operation of a batch started."""

    def onOutputOperationCompleted(self, outputOperationCompleted: Any) -> None:
        """One output operation of a batch finished (or failed)."""


class Time:
    """A batch time (Spark's ``Time``)."""

    __slots__ = ("_ms",)

    def __init__(self, ms: int):
        self._ms = int(ms)

    def milliseconds(self) -> int:
        return self._ms

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Time) and other._ms == self._ms

    def __hash__(self) -> int:
        return hash(self._ms)

    def __repr__(self) -> str:
        return f"{self._ms} ms"


class StreamInputInfo:
    """What one input stream read for a batch."""

    def __init__(self, input_stream_id: int, num_records: int, metadata: dict | None = None,
                 description: str = ""):
        self._id, self._records = input_stream_id, num_records
        self._metadata, self._description = dict(metadata or {}), description

    def inputStreamId(self) -> int:
        return self._id

    def numRecords(self) -> int:
        return self._records

    def metadata(self) -> dict:
        return dict(self._metadata)

    def metadataDescription(self) -> str:
        return self._description


class OutputOperationInfo:
    """One output operation (foreachRDD, saveAsTextFiles, pprint) of a batch."""

    def __init__(self, batch_time: int, op_id: int, name: str, description: str,
                 start: int = -1, end: int = -1, failure: str | None = None):
        self._batch_time, self._id, self._name = batch_time, op_id, name
        self._description, self._start, self._end, self._failure = description, start, end, failure

    def batchTime(self) -> Time:
        return Time(self._batch_time)

    def id(self) -> int:
        return self._id

    def name(self) -> str:
        return self._name

    def description(self) -> str:
        return self._description

    def startTime(self) -> int:
        return self._start

    def endTime(self) -> int:
        return self._end

    def duration(self) -> int:
        return self._end - self._start if self._start >= 0 and self._end >= 0 else -1

    def failureReason(self) -> str | None:
        return self._failure


class BatchInfo:
    """A batch as listeners see it: a snapshot taken when the event was posted."""

    def __init__(self, batch_time: int, inputs: dict[int, StreamInputInfo], submission: int,
                 start: int = -1, end: int = -1,
                 outputs: dict[int, OutputOperationInfo] | None = None):
        self._time, self._inputs, self._submission = batch_time, dict(inputs), submission
        self._start, self._end = start, end
        self._outputs = dict(outputs or {})

    def batchTime(self) -> Time:
        return Time(self._time)

    def streamIdToInputInfo(self) -> dict[int, StreamInputInfo]:
        return dict(self._inputs)

    def submissionTime(self) -> int:
        return self._submission

    def processingStartTime(self) -> int:
        return self._start

    def processingEndTime(self) -> int:
        return self._end

    def schedulingDelay(self) -> int:
        """Time from submission to the start of processing (-1 before it started)."""
        return self._start - self._submission if self._start >= 0 else -1

    def processingDelay(self) -> int:
        return self._end - self._start if self._end >= 0 and self._start >= 0 else -1

    def totalDelay(self) -> int:
        """Time from the batch time to the end of processing (-1 before it ended)."""
        return self._end - self._time if self._end >= 0 else -1

    def numRecords(self) -> int:
        return sum(info.numRecords() for info in self._inputs.values())

    def outputOperationInfos(self) -> dict[int, OutputOperationInfo]:
        return dict(self._outputs)

    def as_dict(self) -> dict:
        """Plain data for the status page and the status line."""
        return {"batchTime": self._time, "submissionTime": self._submission,
                "processingStartTime": self._start, "processingEndTime": self._end,
                "schedulingDelay": self.schedulingDelay(), "processingDelay": self.processingDelay(),
                "totalDelay": self.totalDelay(), "numRecords": self.numRecords(),
                "failed": any(o.failureReason() for o in self._outputs.values())}

    def __repr__(self) -> str:
        return (f"BatchInfo(batchTime={self._time}, records={self.numRecords()}, "
                f"schedulingDelay={self.schedulingDelay()}, processingDelay={self.processingDelay()})")


class StreamingListenerStreamingStarted:
    def __init__(self, time: int):
        self.time = time


class _BatchEvent:
    def __init__(self, info: BatchInfo):
        self._info = info

    def batchInfo(self) -> BatchInfo:
        return self._info


class StreamingListenerBatchSubmitted(_BatchEvent):
    pass


class StreamingListenerBatchStarted(_BatchEvent):
    pass


class StreamingListenerBatchCompleted(_BatchEvent):
    pass


class _OutputEvent:
    def __init__(self, info: OutputOperationInfo):
        self._info = info

    def outputOperationInfo(self) -> OutputOperationInfo:
        return self._info


class StreamingListenerOutputOperationStarted(_OutputEvent):
    pass


class StreamingListenerOutputOperationCompleted(_OutputEvent):
    pass


class ReceiverInfo:
    def __init__(self, stream_id: int, name: str, active: bool, location: str,
                 last_error: str = "", last_error_message: str = ""):
        self._id, self._name, self._active, self._location = stream_id, name, active, location
        self._error, self._message = last_error, last_error_message

    def streamId(self) -> int:
        return self._id

    def name(self) -> str:
        return self._name

    def active(self) -> bool:
        return self._active

    def location(self) -> str:
        return self._location

    def lastErrorMessage(self) -> str:
        return self._message

    def lastError(self) -> str:
        return self._error


class _ReceiverEvent:
    def __init__(self, info: ReceiverInfo):
        self._info = info

    def receiverInfo(self) -> ReceiverInfo:
        return self._info


class StreamingListenerReceiverStarted(_ReceiverEvent):
    pass


class StreamingListenerReceiverError(_ReceiverEvent):
    pass


class StreamingListenerReceiverStopped(_ReceiverEvent):
    pass


_HANDLERS = {
    StreamingListenerStreamingStarted: "onStreamingStarted",
    StreamingListenerBatchSubmitted: "onBatchSubmitted",
    StreamingListenerBatchStarted: "onBatchStarted",
    StreamingListenerBatchCompleted: "onBatchCompleted",
    StreamingListenerOutputOperationStarted: "onOutputOperationStarted",
    StreamingListenerOutputOperationCompleted: "onOutputOperationCompleted",
    StreamingListenerReceiverStarted: "onReceiverStarted",
    StreamingListenerReceiverError: "onReceiverError",
    StreamingListenerReceiverStopped: "onReceiverStopped",
}


class ListenerBus:
    """Delivers events to listeners on one thread, in order."""

    _STOP = object()

    def __init__(self):
        self._listeners: list[Any] = []
        self._lock = threading.Lock()
        self._queue: "queue.Queue[Any]" = queue.Queue()
        self._thread: threading.Thread | None = None

    def add(self, listener: Any) -> None:
        with self._lock:
            self._listeners.append(listener)

    def start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ember-streaming-listener",
                                                daemon=True)
                self._thread.start()

    def post(self, event: Any) -> None:
        self._queue.put(event)

    def stop(self, timeout: float = 10.0) -> None:
        thread = self._thread
        if thread is not None and thread.is_alive():
            self._queue.put(self._STOP)
            if thread is not threading.current_thread():
                thread.join(timeout)

    def _run(self) -> None:
        while True:
            event = self._queue.get()
            if event is self._STOP:
                return
            name = _HANDLERS[type(event)]
            with self._lock:
                listeners = list(self._listeners)
            for listener in listeners:
                handler = getattr(listener, name, None)
                if handler is None:
                    continue
                try:
                    handler(event)
                except Exception:  # noqa: BLE001 - one listener's bug stops no batch
                    log.exception("streaming listener %r failed on %s", listener, name)
