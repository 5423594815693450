"""GroupCommit: the broker's one flusher thread, so that concurrent produce
requests share fsyncs.

Request threads append batches to partition logs (no fsync: ``append`` only
writes) and report the logs they touched with :meth:`appended`. The flusher
takes every log touched since its last round, calls ``PartitionLog.flush``
on each (one fsync per dirty file, however many batches it holds; the logs
of a round are flushed concurrently, by up to ``FLUSH_THREADS`` threads,
because the filesystem's journal commits concurrent fsyncs together: four
partitions' fsyncs took 20 ms one after the other and 2-3 ms at once on the
development machine's disk) and then
answers every waiter whose batches are now below their logs' high
watermarks. While it fsyncs, new appends pile up for the next round: the
more producers, the more batches one fsync acknowledges.

Acknowledged means durable: a waiter's callback gets ``None`` only once every
log it waits on has a high watermark past the waiter's last offset (the
high watermark is the end of fsynced data). If a flush fails the log goes
offline (``PartitionLog`` never retries an fsync) and the waiter gets the
error instead: a failed fsync is never followed by an ack.

What it must not know: requests, sockets, replies (callbacks do that).

Thread-safety: thread-safe; callbacks run on the flusher thread (or on the
caller's, when already durable) and must be quick.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from typing import Callable, Iterable

from ember.engine.errors import BrokerUnavailableError, KafkaStorageError
from ember.ingest.server import broker_faults
from ember.ingest.log.partition_log import PartitionLog

log = logging.getLogger(__name__)

Callback = Callable[[BaseException | None], None]
FLUSH_THREADS = 8


class _Waiter:
    __slots__ = ("targets", "callback")

    def __init__(self, targets: list[tuple[PartitionLog, int]], callback: Callback):
        self.targets = targets
        self.callback = callback

    def outcome(self, failed: dict) -> tuple[bool, BaseException | None]:
        """(decided, error): decided once durable or once a log failed."""
        for partition_log, last_offset in self.targets:
            error = failed.get(partition_log)
            if error is None and partition_log.offline is not None:
                error = KafkaStorageError(f"{partition_log.name} is offline: "
                                          f"{partition_log.offline}")
            if error is not None:
                return True, error
        return all(p.high_watermark > last for p, last in self.targets), None


class GroupCommit:
    def __init__(self, name: str = "ember-broker-flusher"):
        self._cond = threading.Condition()
        self._dirty: set[PartitionLog] = set()
        self._waiters: list[_Waiter] = []
        self._stopping = False
        self.rounds = 0  # flush rounds done: a measure of how much was shared
        # Called with the logs of each round once it is answered (fetches that
        # long-poll wake on it); set by the replica manager.
        self.on_flushed: Callable[[set], None] | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._pool = concurrent.futures.ThreadPoolExecutor(FLUSH_THREADS,
                                                           thread_name_prefix=name)

    def start(self) -> "GroupCommit":
        self._thread.start()
        return self

    def appended(self, logs: Iterable[PartitionLog]) -> None:
        """Logs that hold appended, not yet fsynced data."""
        with self._cond:
            self._dirty.update(logs)
            self._cond.notify()

    def when_durable(self, targets: list[tuple[PartitionLog, int]], callback: Callback) -> None:
        """Call ``callback(None)`` once each ``(log, last_offset)`` is fsynced,
        or ``callback(error)`` if a log fails first."""
        waiter = _Waiter(targets, callback)
        with self._cond:
            decided, error = waiter.outcome({})
            if not decided:
                if self._stopping and not self._thread.is_alive():
                    decided, error = True, BrokerUnavailableError("the broker is shutting down")
                else:
                    self._waiters.append(waiter)
                    self._dirty.update(p for p, _ in targets)
                    self._cond.notify()
        if decided:
            callback(error)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._dirty and not self._stopping:
                    self._cond.wait()
                if not self._dirty and self._stopping:
                    break
                logs, self._dirty = self._dirty, set()
            if broker_faults.hit("flush.slow_disk"):
                time.sleep(0.1)
            failed = {}
            if len(logs) == 1:
                outcomes = [_flush(next(iter(logs)))]
            else:
                outcomes = list(self._pool.map(_flush, logs))
            for partition_log, error in zip(logs, outcomes):
                if error is not None:
                    failed[partition_log] = error
            self.rounds += 1
            self._answer(failed)
            if self.on_flushed is not None:
                self.on_flushed(logs)
        self._answer({}, final=True)

    def _answer(self, failed: dict, final: bool = False) -> None:
        done = []
        with self._cond:
            waiting = []
            for waiter in self._waiters:
                decided, error = waiter.outcome(failed)
                if not decided and final:
                    decided, error = True, BrokerUnavailableError(
                        "the broker shut down before the batch was fsynced")
                (done if decided else waiting).append((waiter, error))
            self._waiters = [waiter for waiter, _ in waiting]
        for waiter, error in done:
            try:
                waiter.callback(error)
            except Exception:  # noqa: BLE001 - one bad callback must not stop the flusher
                log.exception("error while acknowledging a produce request")

    def stop(self, timeout: float = 10.0) -> None:
        """Flush what is dirty, answer every waiter, and end the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._pool.shutdown(wait=False)


def _flush(partition_log: PartitionLog) -> BaseException | None:
    """fsync one log; the error that took it offline, or None."""
    try:
        partition_log.flush()
    except (KafkaStorageError, OSError) as error:
        return error
    except Exception as error:  # noqa: BLE001 - e.g. a log closed by topic deletion
        return KafkaStorageError(f"{partition_log.name}: {error}")
    return None
