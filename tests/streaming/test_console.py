"""A streaming application run from a terminal with ``ember submit``: one
status line rewritten per batch (no progress bar per batch), and Ctrl-C
stopping it gracefully: the batch under way finishes, nothing is left
running."""

from __future__ import annotations

import os
import sys
import textwrap

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "ui"))

from ui_terminal import Terminal  # noqa: E402

pytestmark = pytest.mark.slow

APP = """
    import os, sys, time
    from ember import Context
    from ember.streaming import StreamingContext

    sc = Context(appName="console")
    ssc = StreamingContext(sc, 0.3)
    marks = sys.argv[1]

    def slow(time_, rdd):
        with open(os.path.join(marks, "start-%d" % int(time_.timestamp() * 1000)), "w"):
            pass
        rdd.map(lambda x: (x % 3, x)).reduceByKey(lambda a, b: a + b).collect()
        time.sleep(0.5)  # longer than the batch interval: batches queue
        with open(os.path.join(marks, "end-%d" % int(time_.timestamp() * 1000)), "w"):
            pass

    ssc.queueStream([], default=list(range(1000))).foreachRDD(slow)
    ssc.start()
    print("STARTED", flush=True)
    ssc.awaitTermination()
"""


def test_ember_submit_shows_one_status_line_and_ctrl_c_stops_gracefully(tmp_path):
    app, marks = tmp_path / "app.py", tmp_path / "marks"
    marks.mkdir()
    app.write_text(textwrap.dedent(APP))
    launcher = tmp_path / "launch.py"
    launcher.write_text("import sys\nfrom ember.cli import main\n"
                        f"sys.exit(main(['submit', '--master', 'local[2]', {str(app)!r}, "
                        f"{str(marks)!r}]))\n")
    with Terminal(str(launcher), cwd=str(tmp_path)) as terminal:
        terminal.wait_for("STARTED", timeout=60)
        terminal.wait_until(lambda: terminal.output.count("streaming: batch") >= 3,
                            "three batches", timeout=60)
        terminal.interrupt()
        terminal.wait_for("stopping gracefully", timeout=30)
        output = terminal.finish(timeout=60)
    assert terminal.returncode == 130, output
    status = output.split("STARTED", 1)[1]
    assert "\r\x1b[K" in status  # rewritten in place, not a new line per batch
    assert status.count("\n") < status.count("streaming: batch")
    assert "it/s" not in status and "%|" not in status  # no progress bars
    started = {name.split("-", 1)[1] for name in os.listdir(marks) if name.startswith("start")}
    ended = {name.split("-", 1)[1] for name in os.listdir(marks) if name.startswith("end")}
    assert started and started == ended  # every batch that started finished
