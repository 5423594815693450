"""Cancelling jobs really stops their tasks (B13, Ctrl-C), and the Context
stays usable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from ember import InheritableThread, JobCancelledError
from faults import Background, announce, launches, markers, pid_of_marker, worker_pids
from tests.waiting import wait_for

pytestmark = pytest.mark.fault


def sleeper(directory):
    """A task that sleeps a minute, leaving a marker when it starts and one
    if it ever wakes up (a killed task never does)."""
    def sleep_long(x):
        announce(directory, f"sleeping{x}")
        time.sleep(60)
        announce(directory, f"woke{x}")
        return x
    return sleep_long


def test_cancel_job_group_kills_running_tasks_and_frees_their_slots(cluster, tmp_path):
    sc = cluster(2)
    pids = worker_pids(sc)

    def in_group():
        sc.setJobGroup("reports", "nightly reports")
        return sc.parallelize(range(2), 2).map(sleeper(str(tmp_path))).collect()

    job = Background(in_group)
    wait_for(lambda: len(markers(tmp_path, "sleeping*")) == 2,
             timeout=20, interval=0.01, what="both tasks to start")
    sc.cancelJobGroup("reports")
    with pytest.raises(JobCancelledError, match="job group 'reports' cancelled"):
        job.result(timeout=10)
    assert sc.parallelize(range(10), 2).sum() == 45
    assert not markers(tmp_path, "woke*"), "the next job waited for the killed tasks' slots"
    assert worker_pids(sc) == pids, "killing a task did not cost its worker"


def test_cancel_jobs_with_tag_and_all_jobs(cluster, tmp_path):
    sc = cluster(2)

    def tagged():
        sc.addJobTag("etl")
        return sc.parallelize([1], 1).map(sleeper(str(tmp_path))).collect()

    job = Background(tagged)
    wait_for(lambda: markers(tmp_path, "sleeping*"), timeout=20, interval=0.01)
    sc.cancelJobsWithTag("other")  # does not match
    time.sleep(0.2)
    sc.cancelJobsWithTag("etl")
    with pytest.raises(JobCancelledError, match="'etl'"):
        job.result(timeout=10)
    job = Background(lambda: sc.parallelize([2], 1).map(sleeper(str(tmp_path))).collect())
    wait_for(lambda: len(markers(tmp_path, "sleeping*")) == 2, timeout=20, interval=0.01)
    sc.cancelAllJobs()
    with pytest.raises(JobCancelledError):
        job.result(timeout=10)
    assert sc.parallelize([1, 2]).count() == 2


def test_inheritable_thread_carries_the_job_group(cluster, tmp_path):
    sc = cluster(2)
    sc.setJobGroup("parent-group", "from the parent thread")
    seen = []
    thread = InheritableThread(lambda: seen.append(sc.getLocalProperty("spark.jobGroup.id")))
    thread.start()
    thread.join()
    plain = threading.Thread(target=lambda: seen.append(sc.getLocalProperty("spark.jobGroup.id")))
    plain.start()
    plain.join()
    assert seen == ["parent-group", None]


def test_task_that_ignores_the_kill_costs_its_worker_after_the_kill_timeout(cluster, tmp_path):
    sc = cluster(2, **{"spark.python.task.killTimeout": "1s"})

    def deaf(x):
        import subprocess

        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})  # the kill cannot get in
        child = subprocess.Popen(["sleep", "600"])
        announce(str(tmp_path), f"deaf{child.pid}")
        time.sleep(60)

    job = Background(lambda: sc.parallelize([1], 1).map(deaf).collect())
    cancel_and_see_the_worker_end_with_its_child(sc, job, tmp_path, "deaf")


def test_a_task_holding_the_interpreter_is_ended_with_its_worker_and_its_subprocess(
        cluster, tmp_path):
    """Neither the kill (a signal, an asynchronous exception) nor the worker's
    own timer can run while a task holds the interpreter's lock in a C call:
    the driver ends the worker from outside, with the processes the task
    started, and the Context goes on."""
    sc = cluster(2, **{"spark.python.task.killTimeout": "1s"})

    def hold_the_interpreter(x):
        import ctypes
        import subprocess

        # The child announces itself (and this worker) a second later, when
        # this task is surely inside the C call: a kill arriving before it
        # would stop the task the ordinary way.
        subprocess.Popen(["sh", "-c", f"sleep 1; touch {tmp_path}/child$$-{os.getpid()}; "
                                      f"exec sleep 600"])
        ctypes.PyDLL(None).sleep(600)  # libc sleep without releasing the GIL

    job = Background(lambda: sc.parallelize([1], 1).map(hold_the_interpreter).collect())
    cancel_and_see_the_worker_end_with_its_child(sc, job, tmp_path, "child")


def test_a_kill_that_reaches_a_finished_task_costs_its_worker_nothing(cluster):
    """The scheduler can kill a task whose result is already on its way to it
    (queued behind the event that ends its job); the worker, done with the
    task, has nothing to answer, and must not be taken for stuck."""
    sc = cluster(2, **{"spark.python.task.killTimeout": "1s"})
    assert sc.parallelize([1], 1).map(lambda x: x + 1).collect() == [2]
    worker_id = launches(sc)[-1].worker_id
    finished_tid = sc._backend._reported[-1]
    pids = worker_pids(sc)
    sc._backend.kill(worker_id, finished_tid)
    time.sleep(1.0 + 1.0 + 1.5)  # the kill timeout, its margin and the monitor's period, passed
    assert worker_pids(sc) == pids
    assert sc.parallelize(range(4), 2).sum() == 6


def cancel_and_see_the_worker_end_with_its_child(sc, job, directory, prefix):
    """The task announced ``<prefix><child pid>-<worker pid>``: cancel its
    job; its worker ends, the child with it, a replacement joins, and the
    Context goes on."""
    marker = wait_for(lambda: markers(directory, f"{prefix}*"),
                      timeout=20, interval=0.01, what="the task to start its child")[0]
    child = int(os.path.basename(marker).split("-")[0][len(prefix):])
    victim = pid_of_marker(marker)
    sc.cancelAllJobs()
    with pytest.raises(JobCancelledError):
        job.result(timeout=10)
    wait_for(lambda: victim not in worker_pids(sc).values(), timeout=20,
             interval=0.01, what="the stuck worker to end")
    wait_for(lambda: not _running(child),
             timeout=10, interval=0.01, what="the task's subprocess to end with it")
    wait_for(lambda: len(sc._backend.registered()) == 2, timeout=20, interval=0.01, what="its replacement")
    assert sc.parallelize(range(4), 2).sum() == 6


def _running(pid):
    try:
        import psutil

        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def as_in_a_terminal():
    """In the child: Ctrl-C's default, as for a program started from a
    terminal. A shell's background job (CI's runner may be one) starts with
    SIGINT ignored, and Python then installs no KeyboardInterrupt handler."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


# A driver whose job of two minute-long tasks is interrupted, then runs
# another job on the same Context; ``{arrange}`` runs once its Context is up.
CTRL_C_DRIVER = """
import faulthandler, signal, threading, time, ember
faulthandler.register(signal.SIGUSR1)  # the test asks for the stacks if stuck
sc = ember.Context("local[2]")
{arrange}
try:
    sc.parallelize(range(2), 2).foreach(lambda x: time.sleep(60))
except KeyboardInterrupt:
    print("interrupted", flush=True)
print("next job", sc.parallelize(range(100), 4).sum(), flush=True)
sc.stop()
"""


def run_interrupted_driver(tmp_path, arrange: str, interrupt=None) -> None:
    """Run CTRL_C_DRIVER (``interrupt(driver)`` from the test, if given) and
    check it was interrupted and then ran its next job without waiting for
    the killed tasks; if it does not finish, fail with its threads' stacks."""
    script = tmp_path / "driver.py"
    script.write_text(CTRL_C_DRIVER.format(arrange=arrange))
    driver = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, preexec_fn=as_in_a_terminal)
    try:
        if interrupt is not None:
            interrupt(driver)
        try:
            out, err = driver.communicate(timeout=40)  # well under the tasks' minute
        except subprocess.TimeoutExpired:
            driver.send_signal(signal.SIGUSR1)
            time.sleep(1.0)
            driver.kill()
            out, err = driver.communicate()
            raise AssertionError(f"the driver did not finish after Ctrl-C; printed {out!r}; "
                                 f"its threads:\n{err[-6000:]}")
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    assert out.splitlines() == ["interrupted", "next job 4950"], err[-3000:]
    assert driver.returncode == 0, err[-3000:]


def test_ctrl_c_in_the_driver_cancels_the_job_and_the_context_stays_usable(tmp_path):
    """The tasks sleep a minute; the interrupted job's tasks are killed, so
    the next job runs on the same Context without waiting for them."""
    def ctrl_c(driver):
        assert driver.stdout.readline().strip() == "ready"
        time.sleep(1.0)  # the tasks are sleeping
        driver.send_signal(signal.SIGINT)
    run_interrupted_driver(tmp_path, 'print("ready", flush=True)', ctrl_c)


def test_ctrl_c_delivered_to_another_thread_of_the_driver_still_cancels_the_job(tmp_path):
    """The kernel may hand a process's SIGINT to any thread that does not
    block it; a main thread waiting for its job must still get the
    KeyboardInterrupt (here the signal is sent to another thread on purpose)."""
    run_interrupted_driver(tmp_path, textwrap.dedent("""
        bystander = threading.Thread(target=time.sleep, args=(120,), daemon=True)
        bystander.start()

        def interrupt_the_bystander():
            time.sleep(1.0)  # the tasks are sleeping
            signal.pthread_kill(bystander.ident, signal.SIGINT)
        threading.Thread(target=interrupt_the_bystander, daemon=True).start()
    """))

