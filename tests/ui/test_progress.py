"""Progress bars of a running action, as a driver program shows them on a
terminal; none when turned off or when stderr is not a terminal; Ctrl-C
typed on that terminal cancels the running job and leaves the Context usable;
a log store's crash recovery reports itself."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import textwrap

import pytest

from ui_terminal import Terminal

# Four tasks of 0.6 s on two workers: the stage runs for over a second, so it
# is still running when the first bar is drawn (half a second in).
SLOW_JOB = """
import sys, time, ember
conf = ember.Conf(){settings}
sc = ember.Context("local[2]", conf=conf)
rdd = sc.parallelize(range(4), 4).map(lambda x: (time.sleep(0.6), (x % 2, x))[1])
result = sorted(rdd.reduceByKey(lambda a, b: a + b).collect())
print("ACTION RETURNED", file=sys.stderr, flush=True)
print("result", result, flush=True)
sc.stop()
"""

BAR = re.compile(r"Stage (\d+):\s+(\d+)%\|[^|]*\| (\d+)/(\d+) \[[^\]]*tasks/s")


def write_script(tmp_path, settings: str = "") -> str:
    path = tmp_path / "driver.py"
    path.write_text(SLOW_JOB.format(settings=settings))
    return str(path)


def last_bars(text: str) -> dict[int, tuple[int, int, int]]:
    """The last drawing of each stage's bar: (percent, done, total)."""
    bars = {}
    for match in BAR.finditer(text):
        stage, percent, done, total = map(int, match.groups())
        bars[stage] = (percent, done, total)
    return bars


def test_a_terminal_shows_a_bar_per_stage_that_reaches_100_percent_before_the_action_returns(tmp_path):
    with Terminal(write_script(tmp_path), str(tmp_path)) as terminal:
        output = terminal.finish()
    assert terminal.returncode == 0, output
    assert "result [(0, 2), (1, 4)]" in output
    before, _, after = output.partition("ACTION RETURNED")
    bars = last_bars(before)
    assert bars, f"no progress bar was drawn:\n{output}"
    assert 0 in bars, "the slow map stage (stage 0) must have had a bar"
    for stage, (percent, done, total) in bars.items():
        assert (percent, done) == (100, total), f"stage {stage} ended at {done}/{total}"
    assert bars[0][2] == 4
    assert not BAR.search(after), "a bar was drawn after the action returned"


def test_show_console_progress_false_draws_no_bar_on_a_terminal(tmp_path):
    script = write_script(tmp_path, '.set("spark.ui.showConsoleProgress", "false")')
    with Terminal(script, str(tmp_path)) as terminal:
        output = terminal.finish()
    assert terminal.returncode == 0, output
    assert "result [(0, 2), (1, 4)]" in output
    assert "tasks/s" not in output and not BAR.search(output)


def test_no_bar_when_stderr_is_not_a_terminal(tmp_path):
    script = write_script(tmp_path)
    done = subprocess.run([sys.executable, script], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "result [(0, 2), (1, 4)]" in done.stdout
    assert "ACTION RETURNED" in done.stderr
    assert "tasks/s" not in done.stderr and "\r" not in done.stderr, done.stderr


@pytest.mark.fault
def test_ctrl_c_on_the_terminal_cancels_the_job_and_the_next_job_runs(tmp_path):
    script = tmp_path / "driver.py"
    script.write_text(textwrap.dedent(f"""
        import os, time, ember
        sc = ember.Context("local[2]")
        tracker = sc.statusTracker()

        def sleepy(x):
            open(os.path.join({str(tmp_path)!r}, f"started-{{x}}"), "w").close()
            time.sleep(120)

        try:
            sc.parallelize(range(2), 2).foreach(sleepy)
            print("NOT INTERRUPTED", flush=True)
        except KeyboardInterrupt:
            print("KeyboardInterrupt reached the program", flush=True)
        job = max(tracker.getJobIdsForGroup())
        print("first job", tracker.getJobInfo(job).status, flush=True)
        print("second job", sc.parallelize(range(100), 4).sum(), flush=True)
        sc.stop()
    """))
    with Terminal(str(script), str(tmp_path)) as terminal:
        terminal.wait_until(lambda: all((tmp_path / f"started-{x}").exists() for x in range(2)),
                            "both tasks starting", timeout=60)
        terminal.interrupt()
        output = terminal.finish()
    assert terminal.returncode == 0, output
    # (the terminal echoes the Ctrl-C as "^C")
    lines = [line.replace("^C", "").strip() for line in output.replace("\r", "\n").splitlines()
             if line.strip() and not BAR.search(line)]
    assert "KeyboardInterrupt reached the program" in lines
    assert "NOT INTERRUPTED" not in output
    assert "first job FAILED" in lines
    # Both workers were busy with 120 s tasks: the second job ran because the
    # first job's tasks were killed, not because they finished.
    assert "second job 4950" in lines


def test_a_log_store_recovering_after_a_crash_reports_it_at_info(tmp_path, caplog):
    from ember.ingest.log.log_manager import CLEAN_SHUTDOWN_FILE, LogManager

    with LogManager(tmp_path / "log") as manager:
        manager.create_topic("clicks", partitions=3)
    (tmp_path / "log" / CLEAN_SHUTDOWN_FILE).unlink()  # as if it had crashed
    with caplog.at_level(logging.INFO, logger="ember.ingest"):
        LogManager(tmp_path / "log").close()
    assert any(r.levelno == logging.INFO and "recovering 3 partitions of 1 topics" in r.getMessage()
               for r in caplog.records), caplog.text
