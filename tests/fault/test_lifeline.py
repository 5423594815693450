"""Workers never outlive their driver (RELIABILITY.md E16): SIGKILL of the
driver, idle or mid-job, ends every worker within 5 seconds, and they remove
their files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

pytestmark = pytest.mark.fault

DRIVER = textwrap.dedent("""
    import sys, time, ember
    sc = ember.Context("local[3]")
    print(sc._work_root, *sc._cluster.pids().values(), flush=True)
    if sys.argv[1] == "busy":
        sc.parallelize(range(6), 6).foreach(lambda x: time.sleep(60))
    else:
        time.sleep(60)
""")


def alive(pids):
    return [pid for pid in pids if psutil.pid_exists(pid)
            and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]


@pytest.mark.parametrize("mode", ["idle", "busy"])
def test_workers_exit_within_five_seconds_of_driver_sigkill(tmp_path, mode):
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    driver = subprocess.Popen([sys.executable, str(script), mode], stdout=subprocess.PIPE, text=True)
    try:
        work_root, *pids = driver.stdout.readline().split()
        pids = [int(pid) for pid in pids]
        assert len(pids) == 3 and not set(pids) - set(alive(pids))
        if mode == "busy":
            time.sleep(0.5)  # tasks are running
        os.kill(driver.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        while alive(pids) and time.monotonic() - killed_at < 5:
            time.sleep(0.02)
        assert not alive(pids), f"workers outlived their driver: {alive(pids)}"
        deadline = time.monotonic() + 5
        while os.path.exists(work_root) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not os.path.exists(work_root), "workers left their files behind"
    finally:
        driver.kill()
        driver.wait()
        driver.stdout.close()
