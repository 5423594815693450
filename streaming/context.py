"""StreamingContext: the entry point of ember.streaming, PySpark's API.

Lifecycle (``getState()``): INITIALIZED (DStreams and outputs are declared),
ACTIVE (after ``start()``: the scheduler generates and runs batches), STOPPED.
As in Spark: declaring DStreams after start or after stop, starting a stopped
context, or starting a second context while one is active raise
``StreamingStateError`` (Spark's IllegalStateException, with its message);
starting an active one again only warns. One StreamingContext is active per
process (``getActive``).

The clock: ``StreamingContext(sc, batchDuration, clock=...)`` takes any
``ember.engine.clock.Clock``; tests pass a ``ManualClock`` and advance it
one batch at a time (Spark's ManualClock).

Checkpoints (``checkpoint(directory)``): the RDDs of state and windows are
saved there (it is also the Context's checkpoint directory), and before each
batch runs, a checkpoint file records its input (see ``checkpoint.py``).
``getOrCreate(directory, setupFunc)`` resumes from the newest whole
checkpoint: the Context is made from its settings when none is active, the
graph and user functions are unpickled, and the batches that did not
complete run again with their logged input; with no checkpoint,
``setupFunc()`` makes the context and ``checkpoint(directory)`` is set on it.

Exactly-once output, with a topic stream: ``saveAsTextFiles`` commits one
directory per batch time once (a rerun of the batch finds it committed); a
``foreachRDD`` storing a batch's results and the offsets it read in one
transaction, keyed by batch time, is exactly-once too (``ember.streaming``'s
docstring shows it). State and windows are restored from their saved RDDs
and the logged input since.

``awaitTermination`` raises the exception that stopped the stream. A Ctrl-C
(KeyboardInterrupt) while waiting stops the context gracefully (the batches
already due finish) and then propagates; a second Ctrl-C stops it at once.
"""

from __future__ import annotations

import logging
import threading
import uuid
import weakref
from typing import Any, Callable, Mapping

from ember.driver.conf import Conf
from ember.driver.context import Context
from ember.driver.ui_sections import register_section
from ember.engine.api.callsite import user_callsite
from ember.engine.api.rdd import RDD
from ember.engine.api.storage import StorageLevel
from ember.engine.clock import wait_interruptibly
from ember.engine.clock import SYSTEM_CLOCK, Clock
from ember.engine.errors import DriverOnlyError, StreamingStateError
from ember.streaming.checkpoint import Checkpoint, CheckpointDir
from ember.streaming.dstream import DStream
from ember.streaming.graph import DStreamGraph
from ember.streaming.listener import ListenerBus, StreamingListenerStreamingStarted
from ember.streaming.status import StreamingStatus, chart_svg, render_section
from ember.streaming.util import duration_ms

log = logging.getLogger("ember.streaming")

INITIALIZED, ACTIVE, STOPPED = "INITIALIZED", "ACTIVE", "STOPPED"

# The StreamingContext of each Context, for the status page's section.
_by_context: "weakref.WeakKeyDictionary[Any, weakref.ref]" = weakref.WeakKeyDictionary()


def _status_section(context: Any) -> dict | None:
    ref = _by_context.get(context)
    ssc = ref() if ref is not None else None
    return ssc._status.snapshot() if ssc is not None else None


register_section("streaming", "Streaming", _status_section, render_section)


class StreamingContext:
    """Runs DStreams as micro-batches on a Context (PySpark's ``StreamingContext``).

    >>> ssc = StreamingContext(sc, 1)
    >>> ssc.queueStream([[1, 2], [3]]).map(lambda x: x * 10).foreachRDD(lambda rdd: None)
    >>> ssc.getState()
    'INITIALIZED'
    """

    _activeContext: "StreamingContext | None" = None
    _active_lock = threading.RLock()

    def __init__(self, sparkContext: Context, batchDuration: float | None = None,
                 jssc: Any = None, *, clock: Clock | None = None):
        if not isinstance(sparkContext, Context):
            raise TypeError(f"StreamingContext: expected a Context (SparkContext), got "
                            f"{type(sparkContext).__name__}")
        sparkContext._check_running()
        if batchDuration is None:
            raise ValueError("StreamingContext: batchDuration (seconds) is required")
        self._sc = sparkContext
        self._batch_ms = duration_ms(batchDuration, "batchDuration")
        self._clock = clock or SYSTEM_CLOCK
        self._state = INITIALIZED
        self._graph = DStreamGraph(self._batch_ms)
        self._bus = ListenerBus()
        self._status = StreamingStatus(self, sparkContext._conf.value("spark.ui.showConsoleProgress"))
        self._scheduler = None
        self._checkpoint_dir: CheckpointDir | None = None
        self._recovered: Checkpoint | None = None
        self._app_id = uuid.uuid4().hex
        self._callsite = user_callsite(2)
        self._lock = threading.RLock()
        _by_context[sparkContext] = weakref.ref(self)
        self._terminated = threading.Event()

    # --- PySpark's accessors ------------------------------------------------------------

    @property
    def sparkContext(self) -> Context:
        """The Context this StreamingContext runs on."""
        return self._sc

    def getState(self) -> str:
        """INITIALIZED, ACTIVE or STOPPED."""
        return self._state

    def __repr__(self) -> str:
        return (f"<StreamingContext batchDuration={self._batch_ms / 1000:g}s "
                f"state={self._state} master={self._sc.master}>")

    def __getstate__(self):
        raise DriverOnlyError(
            "A function of a DStream captures the StreamingContext. It exists only on the "
            "driver: use it in the driver program, not inside transformations, output "
            "operations or checkpointed functions.")

    def _check_can_add(self, what: str = "Adding new inputs, transformations, and output "
                                          "operations") -> None:
        if self._state == ACTIVE:
            raise StreamingStateError(f"{what} after starting a context is not supported")
        if self._state == STOPPED:
            raise StreamingStateError(f"{what} after stopping a context is not supported")

    def _scheduler_halted(self) -> bool:
        return self._scheduler is not None and self._scheduler.halted()

    # --- making input streams --------------------------------------------------------

    def queueStream(self, rdds: list, oneAtATime: bool = True, default: Any = None) -> DStream:
        """A stream taking one RDD of ``rdds`` per batch (all at once with
        ``oneAtATime=False``); lists are parallelized. Once the queue is empty,
        batches get ``default`` or an empty RDD. Not checkpointable."""
        from ember.streaming.inputs import QueueInputDStream

        if default is not None and not isinstance(default, RDD):
            default = self._sc.parallelize(default)
        rdds = [r if isinstance(r, RDD) else self._sc.parallelize(r) for r in (rdds or [])]
        return QueueInputDStream(self, rdds, oneAtATime, default)

    def textFileStream(self, directory: str) -> DStream:
        """The lines of the files that appear in ``directory`` (moved in whole;
        names starting with '.' are ignored), UTF-8."""
        from ember.streaming.inputs import FileInputDStream

        return FileInputDStream(self, directory)

    def binaryRecordsStream(self, directory: str, recordLength: int) -> DStream:
        """The fixed-length records of the files that appear in ``directory``."""
        from ember.streaming.inputs import FileInputDStream

        if isinstance(recordLength, bool) or not isinstance(recordLength, int) or recordLength <= 0:
            raise ValueError(f"binaryRecordsStream: recordLength must be a positive int, got "
                             f"{recordLength!r}")
        return FileInputDStream(self, directory, recordLength)

    def socketTextStream(self, hostname: str, port: int,
                         storageLevel: StorageLevel = StorageLevel.MEMORY_AND_DISK_2) -> DStream:
        """Lines (UTF-8, newline-separated) read from a TCP server by a receiver
        on the driver; ``storageLevel`` is accepted for PySpark's signature."""
        from ember.streaming.inputs import SocketInputDStream

        return SocketInputDStream(self, hostname, port)

    def topicStream(self, store: Any, topics: Any, start: Any = "latest",
                    group_id: str | None = None, *, keyDecoder: Callable | None = None,
                    valueDecoder: Callable | None = None, messageHandler: Callable | None = None,
                    secret: Any = None, kafka_params: Mapping[str, Any] | None = None) -> DStream:
        """A direct stream over log-store topics: each batch is a topic RDD of
        the records from the last batch's end to the latest durable offsets
        (limited by ``spark.streaming.kafka.maxRatePerPartition`` and
        backpressure), with ``offsetRanges()``.

        ``store``: a LogStore handle, a broker address with ``secret``, or
        ``"kafka://HOST:PORT[,HOST:PORT]"`` for any Kafka cluster
        (``kafka_params={...}`` then passes client settings: TLS, SASL).
        ``start``: "latest" (default), "earliest", or {TopicPartition: offset};
        a ``group_id`` with committed offsets starts there, and each completed
        batch commits the group's offsets. Elements are (key, value) decoded
        as UTF-8, or what the decoders or ``messageHandler`` make of them.
        """
        from ember.ingest.client.store import LogStore
        from ember.ingest.secret_file import coerce_secret
        from ember.streaming.topic import (KafkaClusterSource, LogStoreSource, TopicInputDStream,
                                           make_decoder)

        if kafka_params is not None and not (isinstance(store, str)
                                             and store.startswith("kafka://")):
            raise ValueError(f"topicStream: kafka_params are for a Kafka cluster "
                             f"('kafka://HOST:PORT'), not {store!r}")
        if isinstance(store, str) and store.startswith("kafka://"):  # any Kafka cluster
            source = KafkaClusterSource({**(kafka_params or {}), "bootstrap.servers": store})
        elif isinstance(store, LogStore):
            source = LogStoreSource(store.address, store.secret)
            self._sc._log_stores[store.address] = store
        elif isinstance(store, str):
            if secret is None:
                raise ValueError(f"topicStream: reading from the broker at {store!r} needs its "
                                 f"secret (secret=...), or pass the LogStore handle")
            source = LogStoreSource(store, coerce_secret(secret, None))
        elif hasattr(store, "offsets") and hasattr(store, "rdd"):
            source = store  # another TopicSource
        else:
            raise TypeError(f"topicStream: store must be a LogStore, a broker address or a "
                            f"TopicSource, got {type(store).__name__}")
        return TopicInputDStream(self, source, topics, start, group_id,
                                 make_decoder(keyDecoder, valueDecoder, messageHandler))

    def union(self, *dstreams: DStream) -> DStream:
        """The union of DStreams of the same slide duration."""
        from ember.streaming.dstreams import UnionDStream

        if not dstreams:
            raise ValueError("should have at least one DStream to union")
        if len(dstreams) == 1:
            return dstreams[0]
        for stream in dstreams:
            if not isinstance(stream, DStream) or stream._ssc is not self:
                raise ValueError("union: every DStream must belong to this StreamingContext")
        if len({s._slide_ms for s in dstreams}) > 1:
            raise ValueError("All DStreams should have same slide duration")
        return UnionDStream(self, list(dstreams))

    def transform(self, dstreams: list[DStream], transformFunc: Callable) -> DStream:
        """``transformFunc(rdds)`` (the DStreams' RDDs of each batch, in order)."""
        from ember.streaming.dstreams import TransformedDStream

        dstreams = list(dstreams)
        if not dstreams:
            raise ValueError("transform: needs at least one DStream")
        return TransformedDStream(self, dstreams, lambda t, *rdds: transformFunc(list(rdds)),
                                  empty_for_missing=True)

    def addStreamingListener(self, streamingListener: Any) -> None:
        """Receive this context's StreamingListener events."""
        self._bus.add(streamingListener)

    def remember(self, duration: float) -> None:
        """Keep every DStream's RDDs for at least ``duration`` seconds (for
        ``slice`` and queries outside the stream)."""
        self._check_can_add("Setting the remember duration")
        self._graph.remember_ms = duration_ms(duration, "remember duration")

    def checkpoint(self, directory: str) -> None:
        """Checkpoint the stream in ``directory``: saved state RDDs, and a
        write-ahead checkpoint before every batch (see ``getOrCreate``)."""
        if not isinstance(directory, str) or not directory:
            raise ValueError(f"checkpoint: directory must be a non-empty path, got {directory!r}")
        self._checkpoint_dir = CheckpointDir(directory)
        self._sc.setCheckpointDir(self._checkpoint_dir.path)

    # --- running ------------------------------------------------------------------------

    def start(self) -> None:
        """Start generating and running batches."""
        from ember.streaming.scheduler import JobScheduler

        with StreamingContext._active_lock, self._lock:
            if self._state == ACTIVE:
                log.warning("StreamingContext has already been started")
                return
            if self._state == STOPPED:
                raise StreamingStateError("StreamingContext has already been stopped")
            other = StreamingContext._activeContext
            if other is not None and other is not self and other._state == ACTIVE:
                raise StreamingStateError(
                    f"Only one StreamingContext may be started in this process. Currently "
                    f"running StreamingContext was started at {other._callsite}")
            if not self._graph.outputs:
                raise ValueError("No output operations registered, so nothing to execute")
            self._sc._check_running()
            graph_bytes = None
            if self._checkpoint_dir is not None:
                for stream in self._graph.inputs:
                    if not stream._checkpointable:
                        raise ValueError("queueStream doesn't support checkpointing. Please "
                                         "don't use queueStream when checkpointing is enabled.")
            scheduler = JobScheduler(self)
            if self._recovered is None and self._checkpoint_dir is not None:
                self._checkpoint_dir.claim(self._app_id, self._sc.appName)
            # the graph is started (zero time, remember durations, checks) before it is pickled
            self._scheduler = scheduler
            if self._recovered is None:
                zero = scheduler.now() // self._batch_ms * self._batch_ms
            else:
                zero = self._recovered.zero
            self._graph.start(zero)
            if self._checkpoint_dir is not None:
                graph_bytes = self._pickle_graph()
            self._bus.start()
            self._state = ACTIVE
            StreamingContext._activeContext = self
            try:
                scheduler.start(self._recovered, graph_bytes, self._checkpoint_dir)
            except BaseException:
                self._state = STOPPED
                StreamingContext._activeContext = None
                scheduler.stop(graceful=False, timeout=5)
                raise
            now = scheduler.now()
            self._status.streaming_started(now)
            self._bus.post(StreamingListenerStreamingStarted(now))

    def _pickle_graph(self) -> bytes:
        try:
            return self._graph.dumps()
        except DriverOnlyError as error:
            raise type(error)(
                f"{error} It appears that you are attempting to reference SparkContext from a "
                f"function of a checkpointed DStream (transform, foreachRDD, ...): the "
                f"function is pickled into the checkpoint, and the Context cannot be. Use "
                f"rdd.context inside the function instead.") from None

    def awaitTermination(self, timeout: float | None = None) -> None:
        """Wait until the context stops (or ``timeout`` seconds pass); raise
        the exception that stopped the stream, if one did."""
        self._await(timeout)

    def awaitTerminationOrTimeout(self, timeout: float) -> bool:
        """Wait at most ``timeout`` seconds; True if the context stopped (raises
        the exception that stopped the stream, if one did)."""
        return self._await(timeout)

    def _await(self, timeout: float | None) -> bool:
        try:
            stopped = wait_interruptibly(self._terminated, timeout)
        except KeyboardInterrupt:
            self._interrupted()
            raise
        scheduler = self._scheduler
        if scheduler is not None and scheduler.error is not None:
            raise scheduler.error
        return stopped

    def _interrupted(self) -> None:
        import sys

        print("streaming: interrupted: stopping gracefully (finishing the batches already due; "
              "press Ctrl-C again to stop at once)", file=sys.stderr, flush=True)
        try:
            self.stop(stopSparkContext=True, stopGraceFully=True)
        except KeyboardInterrupt:
            self.stop(stopSparkContext=True, stopGraceFully=False)

    def stop(self, stopSparkContext: bool = True, stopGraceFully: bool = False) -> None:
        """Stop generating batches (with ``stopGraceFully``, after the batches
        already due have run), and the Context too with ``stopSparkContext``."""
        with self._lock:
            state, self._state = self._state, STOPPED
            scheduler = self._scheduler
        if state == ACTIVE and scheduler is not None:
            timeout = max(60.0, 10 * self._batch_ms / 1000)
            try:
                scheduler.stop(graceful=stopGraceFully, timeout=timeout)
            finally:
                for stream in self._graph.inputs:
                    try:
                        stream._stop()
                    except Exception:  # noqa: BLE001 - stopping the others matters more
                        log.exception("stopping %r failed", stream)
                self._bus.stop()
                self._status.finish()
        elif state == STOPPED:
            log.debug("StreamingContext has already been stopped")
        with StreamingContext._active_lock:
            if StreamingContext._activeContext is self:
                StreamingContext._activeContext = None
        self._terminated.set()
        if stopSparkContext:
            self._sc.stop()

    # --- one active context, and recovery ------------------------------------------------

    @classmethod
    def getActive(cls) -> "StreamingContext | None":
        """The StreamingContext started and not stopped, or None."""
        with cls._active_lock:
            active = cls._activeContext
            if active is not None and active._state != ACTIVE:
                cls._activeContext = active = None
            return active

    @classmethod
    def getActiveOrCreate(cls, checkpointPath: str | None,
                          setupFunc: Callable[[], "StreamingContext"]) -> "StreamingContext":
        """The active StreamingContext, else ``getOrCreate(checkpointPath,
        setupFunc)`` (or ``setupFunc()`` when ``checkpointPath`` is None)."""
        if not callable(setupFunc):
            raise TypeError("setupFunc should be callable.")
        active = cls.getActive()
        if active is not None:
            return active
        if checkpointPath is not None:
            return cls.getOrCreate(checkpointPath, setupFunc)
        return setupFunc()

    @classmethod
    def getOrCreate(cls, checkpointPath: str, setupFunc: Callable[[], "StreamingContext"], *,
                    clock: Clock | None = None) -> "StreamingContext":
        """Resume from the newest whole checkpoint in ``checkpointPath``, or
        make a new context with ``setupFunc()`` and checkpoint it there."""
        if not callable(setupFunc):
            raise TypeError("setupFunc should be callable.")
        directory = CheckpointDir(checkpointPath)
        checkpoint = directory.latest()
        if checkpoint is None:
            ssc = setupFunc()
            if not isinstance(ssc, StreamingContext):
                raise TypeError(f"setupFunc must return a StreamingContext, got "
                                f"{type(ssc).__name__}")
            ssc.checkpoint(checkpointPath)
            return ssc
        return cls._recover(directory, checkpoint, clock)

    @classmethod
    def _recover(cls, directory: CheckpointDir, checkpoint: Checkpoint,
                 clock: Clock | None) -> "StreamingContext":
        sc = Context._active_spark_context
        if sc is None:
            conf = Conf()
            saved = dict(checkpoint.conf)
            for key in ("spark.master", "spark.driver.port"):
                if conf.contains(key):  # where this run is told to run wins
                    saved.pop(key, None)
            for key, value in saved.items():
                if not conf.contains(key):
                    conf.set(key, value)
            sc = Context(conf=conf)
        ssc = cls.__new__(cls)
        ssc._sc = sc
        ssc._batch_ms = checkpoint.batch_ms
        ssc._clock = clock or SYSTEM_CLOCK
        ssc._state = INITIALIZED
        ssc._bus = ListenerBus()
        ssc._status = StreamingStatus(ssc, sc._conf.value("spark.ui.showConsoleProgress"))
        ssc._scheduler = None
        ssc._checkpoint_dir = directory
        ssc._app_id = checkpoint.app_id
        ssc._callsite = user_callsite(3)
        ssc._lock = threading.RLock()
        ssc._recovered = checkpoint
        sc.setCheckpointDir(directory.path)
        graph = DStreamGraph.loads(checkpoint.graph, ssc)
        graph.restore(checkpoint.inputs, checkpoint.state)
        _by_context[sc] = weakref.ref(ssc)
        ssc._terminated = threading.Event()
        log.info("recovered the streaming application %s from %s (batch time %s, completed "
                 "through %s, %d batches to run again)", checkpoint.app_id, directory.path,
                 checkpoint.time, checkpoint.completed, len(checkpoint.pending))
        return ssc

    # --- displays ----------------------------------------------------------------------

    def _describe_inputs(self) -> list[dict]:
        return [{"name": stream._describe(), "kind": stream._kind}
                for stream in self._graph.inputs]

    def _describe_outputs(self) -> list[str]:
        return [output.description() for output in self._graph.outputs]

    def _repr_html_(self) -> str:
        """A notebook's display: state, interval, inputs, outputs, recent
        batches and the delay chart, and a link to the status page."""
        import html

        data = self._status.snapshot()
        url = self._sc.uiWebUrl
        link = (f"<a href='{html.escape(url)}' target='_blank'>{html.escape(url)}</a>"
                if url else "off")
        rows = [("state", data["state"]), ("batch interval", f"{self._batch_ms / 1000:g} s"),
                ("completed batches", data["completedBatches"]),
                ("records", f"{data['totalRecords']:,}"),
                ("inputs", "; ".join(i["name"] for i in data["inputs"])),
                ("outputs", "; ".join(data["outputs"]))]
        table = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
                        f"<td>{html.escape(str(v))}</td></tr>" for k, v in rows)
        return (f"<div><p><b>StreamingContext</b> (status page: {link})</p>"
                f"<table>{table}</table>{chart_svg(data['batches'])}</div>")
