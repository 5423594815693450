"""Input DStreams: where each batch's data comes from.

An input stream answers two questions, at two moments:

* ``_plan(time)``, on the generator thread when the clock reaches a batch
  time: what this batch reads (its *spec*: offset ranges, file names,
  received lines, or an RDD from a queue). The spec is logged in the
  checkpoint before the batch runs (write-ahead), so a batch run again after
  a crash reads exactly the same input. ``_checkpointable`` says whether a
  spec can be logged (a queue of RDDs cannot, as in Spark).
* ``_rdd_for(time, spec)``, when the batch's RDDs are built: the RDD of that
  input. Never asks anything new of the source.

``_compute(time)`` uses the planned spec of that time and nothing else: a
time with no planned spec (older than what the checkpoint keeps) is an error,
never a fresh read.

Kinds here: ``QueueInputDStream`` (``queueStream``), ``FileInputDStream``
(``textFileStream``, ``binaryRecordsStream``: files that appeared in a
directory since the last batch), ``SocketInputDStream`` (``socketTextStream``:
a receiver thread on the driver reads lines from a TCP server; a batch takes
the lines received since the last one, and they are logged with it). Topic
streams are in ``topic.py``.
"""

from __future__ import annotations

import collections
import logging
import os
import socket
import threading
from typing import Any

from ember.engine.api.rdd import RDD
from ember.streaming.dstream import DStream
from ember.streaming.listener import (ReceiverInfo, StreamInputInfo,
                                      StreamingListenerReceiverError,
                                      StreamingListenerReceiverStarted,
                                      StreamingListenerReceiverStopped)

log = logging.getLogger("ember.streaming")

_MISSING = object()


class InputDStream(DStream):
    _checkpointable = True
    _kind = "input"

    def __init__(self, ssc: Any):
        super().__init__(ssc, ssc._batch_ms, [])
        self._specs: dict[int, Any] = {}
        self._input_id = ssc._graph.add_input(self)

    _RUNTIME = DStream._RUNTIME + ("_specs",)

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        self._specs = {}

    # --- the generator's side ------------------------------------------------------

    def _start(self) -> None:
        """Called once when the context starts fresh (not when recovered)."""

    def _recovered(self) -> None:
        """Called once when the context starts from a checkpoint, specs restored."""

    def _stop(self) -> None:
        """Called once when the context stops."""

    def _plan(self, time: int) -> Any:
        raise NotImplementedError

    def _input_info(self, time: int, spec: Any) -> StreamInputInfo | None:
        return None

    def _planned(self, time: int, spec: Any) -> None:
        with self._ssc._graph.lock:
            self._specs[time] = spec

    def _forget_specs(self, before: int) -> None:
        with self._ssc._graph.lock:
            for time in [t for t in self._specs if t < before]:
                del self._specs[time]

    # --- building the batch ----------------------------------------------------------

    def _rdd_for(self, time: int, spec: Any) -> RDD:
        raise NotImplementedError

    def _compute(self, time: int) -> RDD | None:
        spec = self._specs.get(time, _MISSING)
        if spec is _MISSING and time > max(self._specs, default=time - 1):
            return None  # not planned yet: a batch time still to come
        if spec is _MISSING:
            raise RuntimeError(f"{self!r}: no input was planned for batch time {time} (the "
                               f"checkpoint keeps the input of batches from "
                               f"{min(self._specs, default='none')} on)")
        return self._rdd_for(time, spec)

    def _describe(self) -> str:
        return f"{self._kind} [{self._input_id}]"


class QueueInputDStream(InputDStream):
    """Each batch takes the next RDD of a queue (or all of them at once)."""

    _checkpointable = False
    _kind = "queueStream"

    def __init__(self, ssc: Any, rdds: list[RDD], one_at_a_time: bool, default: RDD | None):
        super().__init__(ssc)
        self._queue = collections.deque(rdds)
        self._one_at_a_time = one_at_a_time
        self._default = default
        self._queue_lock = threading.Lock()

    def __getstate__(self):
        raise ValueError("queueStream doesn't support checkpointing. Please don't use "
                         "queueStream when checkpointing is enabled.")

    def _plan(self, time: int) -> Any:
        with self._queue_lock:
            if not self._queue:
                return None
            if self._one_at_a_time:
                return self._queue.popleft()
            taken = list(self._queue)
            self._queue.clear()
        return _union(self._sc, taken)

    def _rdd_for(self, time: int, spec: Any) -> RDD:
        if spec is not None:
            return spec
        return self._default if self._default is not None else self._sc.emptyRDD()


def _union(sc: Any, rdds: list[RDD]) -> RDD:
    return rdds[0] if len(rdds) == 1 else sc.union(rdds)


class FileInputDStream(InputDStream):
    """New files of a directory: text lines, or fixed-length binary records.

    A file is new once: the files present when the stream starts are left
    (Spark's ``newFilesOnly``), and so are names starting with ``.`` or
    ``_`` (files being written: move finished files in). A spec is the list
    of files a batch takes, with the newest modification time seen so far,
    so a restarted driver knows which files it already took.
    """

    _kind = "fileStream"

    def __init__(self, ssc: Any, directory: str, record_length: int | None = None):
        super().__init__(ssc)
        self._directory = os.path.abspath(directory)
        self._record_length = record_length
        self._seen: set[str] = set()
        self._threshold = -1

    _RUNTIME = InputDStream._RUNTIME + ("_seen",)

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        self._seen = set()

    def _listing(self) -> dict[str, int]:
        found = {}
        try:
            names = os.listdir(self._directory)
        except FileNotFoundError:
            return found
        for name in names:
            if name.startswith((".", "_")):
                continue
            path = os.path.join(self._directory, name)
            try:
                info = os.stat(path)
            except FileNotFoundError:
                continue
            if os.path.isfile(path):
                found[path] = info.st_mtime_ns
        return found

    def _start(self) -> None:
        listing = self._listing()
        self._seen = set(listing)
        self._threshold = max(listing.values(), default=-1)

    def _recovered(self) -> None:
        for spec in self._specs.values():
            self._seen.update(spec["files"])
            self._threshold = max(self._threshold, spec["mtime"])
        self._seen.update(path for path, mtime in self._listing().items()
                          if mtime < self._threshold)

    def _plan(self, time: int) -> Any:
        listing = self._listing()
        new = sorted(path for path in listing if path not in self._seen)
        self._seen.update(new)
        self._threshold = max([self._threshold, *(listing[p] for p in new)])
        return {"files": new, "mtime": self._threshold}

    def _input_info(self, time: int, spec: Any) -> StreamInputInfo:
        return StreamInputInfo(self._input_id, 0, {"files": list(spec["files"])},
                               "\n".join(spec["files"]))

    def _rdd_for(self, time: int, spec: Any) -> RDD:
        files = spec["files"]
        if not files:
            return self._sc.emptyRDD()
        if self._record_length is None:
            return self._sc.textFile(",".join(files))
        return _union(self._sc, [self._sc.binaryRecords(path, self._record_length)
                                 for path in files])


class SocketInputDStream(InputDStream):
    """Lines of text from a TCP server, read by a receiver thread on the driver."""

    _kind = "socketTextStream"
    RECONNECT_DELAY = 2.0  # seconds before a receiver connects again (Spark's restart delay)

    def __init__(self, ssc: Any, host: str, port: int):
        super().__init__(ssc)
        self._host, self._port = host, int(port)
        self._init_runtime()

    _RUNTIME = InputDStream._RUNTIME + ("_buffer", "_buffer_lock", "_thread", "_halt", "_sock")

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        self._init_runtime()

    def _init_runtime(self) -> None:
        self._buffer: list[str] = []
        self._buffer_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._halt = threading.Event()
        self._sock: socket.socket | None = None

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._receive, daemon=True,
                                        name=f"ember-streaming-receiver-{self._input_id}")
        self._thread.start()

    _recovered = _start

    def _stop(self) -> None:
        self._halt.set()
        sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(5)

    def _info(self, active: bool, error: str = "") -> ReceiverInfo:
        return ReceiverInfo(self._input_id, f"SocketReceiver-{self._input_id}", active, "driver",
                            error, error)

    def _receive(self) -> None:
        bus = self._ssc._bus
        bus.post(StreamingListenerReceiverStarted(self._info(True)))
        while not self._halt.is_set():
            try:
                with socket.create_connection((self._host, self._port), timeout=5) as sock:
                    sock.settimeout(None)
                    self._sock = sock
                    pending = b""
                    while not self._halt.is_set():
                        chunk = sock.recv(65536)
                        if not chunk:
                            break
                        pending += chunk
                        *lines, pending = pending.split(b"\n")
                        if lines:
                            with self._buffer_lock:
                                self._buffer.extend(line.decode("utf-8") for line in lines)
                    if pending:
                        with self._buffer_lock:
                            self._buffer.append(pending.decode("utf-8"))
            except OSError as error:
                if self._halt.is_set():
                    break
                log.warning("socketTextStream %s:%s: %s; connecting again in %g s", self._host,
                            self._port, error, self.RECONNECT_DELAY)
                bus.post(StreamingListenerReceiverError(self._info(True, str(error))))
            finally:
                self._sock = None
            self._halt.wait(self.RECONNECT_DELAY)
        bus.post(StreamingListenerReceiverStopped(self._info(False)))

    def _plan(self, time: int) -> Any:
        with self._buffer_lock:
            lines, self._buffer = self._buffer, []
        return lines

    def _input_info(self, time: int, spec: Any) -> StreamInputInfo:
        return StreamInputInfo(self._input_id, len(spec), {}, f"{len(spec)} lines received")

    def _rdd_for(self, time: int, spec: Any) -> RDD:
        return self._sc.parallelize(spec) if spec else self._sc.emptyRDD()
