"""What a task prints, and what a worker logs, reaches the driver."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time

from tests.waiting import wait_for


def test_a_task_print_reaches_the_driver_stderr_tagged_with_worker_and_task_before_the_action_returns(
        sc, capsys):
    def shout(x):
        print("value", x)
        print("warning about", x, file=sys.stderr)

    sc.parallelize(range(4), 2).foreach(shout)
    captured = capsys.readouterr()  # at once: a task's output arrives before its result
    assert captured.out == "", "the driver's stdout is the program's alone, as in PySpark"
    err = captured.err.splitlines()
    printed = [line for line in err if "value" in line]
    assert len(printed) == 4, captured.err
    for x in range(4):
        partition = x // 2
        [line] = [line for line in printed if line.endswith(f"value {x}")]
        assert line.startswith("[w-"), line
        assert f": task {partition}.0 in stage " in line, line
    warned = [line for line in err if "warning about" in line]
    assert sorted(line.rsplit(" ", 1)[1] for line in warned) == ["0", "1", "2", "3"]
    assert all(line.startswith("[w-") for line in warned)


def test_the_lines_of_a_chatty_task_arrive_whole_and_in_order(sc, capsys):
    # 88 KB over a quarter of a second: sent in batches while the task runs
    # (some over the size limit), the rest with its result.
    def chatty(iterator):
        for x in iterator:
            print(f"line {x:05d}", end="")
            print()
            if x % 1000 == 999:
                time.sleep(0.03)
        print("no newline at the end", end="")
        yield 0

    sc.parallelize(range(8000), 1).mapPartitions(chatty).collect()
    out = [line for line in capsys.readouterr().err.splitlines() if line.startswith("[w-")]
    assert [line.split("] ", 1)[1] for line in out] == (
        [f"line {x:05d}" for x in range(8000)] + ["no newline at the end"])


def test_output_of_a_running_task_is_shown_while_it_still_runs(sc, capsys, tmp_path):
    gate = str(tmp_path / "go")

    def talk_then_wait(x):
        print("started", x, flush=True)
        while not os.path.exists(gate):
            time.sleep(0.01)
        print("finished", x)

    job = threading.Thread(target=lambda: sc.parallelize([7], 1).foreach(talk_then_wait))
    job.start()
    try:
        seen = []
        wait_for(lambda: seen.append(capsys.readouterr().err) or "started 7" in "".join(seen),
                 interval=0.02, what="the first line of a task that is still running")
        assert "finished" not in "".join(seen)
    finally:
        open(gate, "w").close()
        job.join(timeout=60)
    assert "finished 7" in capsys.readouterr().err


def test_a_warning_logged_in_a_task_reaches_the_driver_ember_logger(sc, caplog):
    def log_some(x):
        logging.getLogger("inventory").warning("disk almost full: %d%%", 97)
        logging.getLogger("inventory").info("not forwarded: below WARNING")
        return x

    with caplog.at_level(logging.INFO, logger="ember"):
        sc.parallelize([1], 1).map(log_some).collect()
    records = [r for r in caplog.records if r.name == "ember.worker"]
    assert len(records) == 1, [r.getMessage() for r in caplog.records]
    [record] = records
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith("[w-")
    assert record.getMessage().endswith("inventory: disk almost full: 97%")
    assert "not forwarded" not in caplog.text


def test_submit_redirected_to_a_file_holds_only_what_the_driver_printed(tmp_path):
    import subprocess

    script = tmp_path / "job.py"
    script.write_text(
        "import ember\n"
        "sc = ember.SparkContext(appName='printing')\n"
        "sc.parallelize(range(3), 3).foreach(print)\n"
        "print('driver says', sc.parallelize(range(3)).sum())\n"
        "sc.stop()\n")
    out = tmp_path / "out.txt"
    with open(out, "w") as stdout:
        done = subprocess.run([sys.executable, "-m", "ember", "submit", "--master", "local[2]",
                               str(script)], stdout=stdout, stderr=subprocess.PIPE, text=True,
                              timeout=120, cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert out.read_text() == "driver says 3\n"
    printed = [line for line in done.stderr.splitlines() if line.startswith("[w-")]
    assert sorted(line.rsplit(" ", 1)[1] for line in printed) == ["0", "1", "2"]
