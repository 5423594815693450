"""RemoteCluster: the workers of an ``ember://HOST:PORT`` Context.

The driver starts no worker: workers are started by hand on any host with
``ember worker --driver HOST:PORT --secret-file F`` and join (register) and
leave while the Context runs. This module owns what differs from a local
cluster:

* **Joining and leaving.** A worker that registers gets tasks at once (the
  scheduler hears ``ExecutorAdded``); a worker that dies, exits or falls
  silent past ``spark.network.timeout`` is lost (``ExecutorLost``): its
  tasks and map outputs move to the others. Nothing is ever respawned: who
  started a worker restarts it.
* **Waiting for workers.** A job submitted while no worker is registered
  waits for one; every ``warn_interval`` seconds (15) a warning says so, as
  Spark's "Initial job has not accepted any resources" does.
* **Stopping.** ``stop()`` tells every registered worker to exit
  (``Shutdown``): a hand-started worker has no lifeline to learn that its
  driver stopped. One that does not hear it (cut off) fences itself once the
  driver has been silent past the heartbeat timeout.

It must not know how workers are started, nor what a task is.

Thread-safety: ``worker_registered``/``worker_lost`` are called by the
backend's threads and only log; the warning thread reads the backend and asks
the scheduler through ``has_jobs``; ``start``/``stop`` run on the Context's
thread.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

log = logging.getLogger("ember.cluster")


class RemoteCluster:
    def __init__(self, backend: Any, has_jobs: Callable[[], bool], address: str,
                 warn_interval: float = 15.0):
        self._backend = backend
        self._has_jobs = has_jobs
        self.address = address  # HOST:PORT as workers are told to reach the driver
        self.warn_interval = warn_interval
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._warn_while_waiting, daemon=True,
                                        name="ember-wait-for-workers")

    def start(self) -> "RemoteCluster":
        self._thread.start()
        return self

    # --- the backend's listener --------------------------------------------------

    def worker_registered(self, worker_id: str) -> None:
        info = self._backend.registered().get(worker_id)
        if info is not None:
            log.info("worker %s joined from %s with %d slots and %d MiB (shuffle service %s)",
                     worker_id, info.host, info.cores, info.memory // 2 ** 20, info.shuffle_address)

    def worker_lost(self, worker_id: str, reason: str) -> None:
        left = len(self._backend.registered())
        log.warning("worker %s lost: %s; its tasks move to the %d other worker%s (workers on other "
                    "hosts are not replaced)", worker_id, reason, left, "" if left == 1 else "s")

    # --- waiting for workers -----------------------------------------------------

    def total_cores(self) -> int:
        return sum(info.cores for info in self._backend.registered().values())

    def wait_for_workers(self, count: int, timeout: float) -> None:
        """Block until ``count`` workers are registered; TimeoutError naming
        how many came otherwise."""
        deadline = time.monotonic() + timeout
        while len(self._backend.registered()) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{len(self._backend.registered())} of the {count} workers asked for "
                    f"(ember.driver.minWorkers) registered within {timeout:.0f} s; start them "
                    f"with: ember worker --driver {self.address} --secret-file F")
            time.sleep(0.05)

    def _warn_while_waiting(self) -> None:
        starved_since = None  # when jobs began waiting with no worker registered
        while not self._stopping.wait(min(0.25, self.warn_interval)):
            if self._backend.registered() or not self._jobs_waiting():
                starved_since = None
                continue
            now = time.monotonic()
            if starved_since is None:
                starved_since = now
            elif now - starved_since >= self.warn_interval:
                starved_since = now
                log.warning("Initial job has not accepted any resources: no worker is registered "
                            "with this driver; start workers with: ember worker --driver %s "
                            "--secret-file F", self.address)

    def _jobs_waiting(self) -> bool:
        try:
            return self._has_jobs()
        except Exception:  # noqa: BLE001 - the scheduler is stopping
            return False

    # --- the end -------------------------------------------------------------------

    def stop(self) -> None:
        """Tell every registered worker to exit (the driver is stopping)."""
        self._stopping.set()
        told = self._backend.shutdown_workers()
        if told:
            log.info("told %d worker%s to stop", told, "" if told == 1 else "s")

    def pids(self) -> dict[str, int]:
        """Workers on other hosts: no process of this host to name."""
        return {}

    def exited(self) -> dict[str, str]:
        return {}
