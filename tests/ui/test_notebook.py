"""In a Jupyter kernel: a task's print shows in the cell that ran it (as
stderr, the driver's stdout being the program's), the
Context displays as HTML, and the kernel's interrupt (what the notebook's
stop button sends) cancels a running job and leaves the Context usable."""

from __future__ import annotations

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

LONG_CELL_TIMEOUT = 4  # seconds; then the client interrupts the kernel, as a user would


@pytest.mark.slow
def test_task_output_shows_in_its_cell_and_an_interrupt_cancels_the_job(tmp_path):
    cells = [
        "import os, time, ember\nsc = ember.Context('local[2]')",
        "sc.parallelize(range(4), 2).foreach(lambda x: print('from task', x))",
        "sc",
        "sc.parallelize(range(2), 2).foreach(lambda x: time.sleep(120))",
        "tracker = sc.statusTracker()\n"
        "print('interrupted job', tracker.getJobInfo(max(tracker.getJobIdsForGroup())).status)\n"
        "print('next job', sc.parallelize(range(100), 4).sum())",
        "sc.stop()",
    ]
    book = nbformat.v4.new_notebook()
    book.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    book.cells[3].metadata["tags"] = ["raises-exception"]
    client = nbclient.NotebookClient(
        book, kernel_name="python3", interrupt_on_timeout=True,
        timeout_func=lambda cell: LONG_CELL_TIMEOUT if cell is book.cells[3] else 120,
        resources={"metadata": {"path": str(tmp_path)}})
    try:
        client.execute()
    finally:
        if client.km is not None and client.km.has_kernel:
            client.km.shutdown_kernel(now=True)

    def text(cell, stream="stdout"):
        return "".join(o.get("text", "") for o in cell.outputs
                       if o.output_type == "stream" and o.name == stream)

    assert text(book.cells[1]) == "", "the cell's stdout is the driver's own"
    printed = text(book.cells[1], "stderr").splitlines()
    assert sorted(line.rsplit(" ", 1)[1] for line in printed) == ["0", "1", "2", "3"]
    assert all(line.startswith("[w-") and "from task" in line for line in printed)

    [shown] = [o for o in book.cells[2].outputs if o.output_type == "execute_result"]
    assert "text/html" in shown.data and "ALIVE" in shown.data["text/html"]

    errors = [o for o in book.cells[3].outputs if o.output_type == "error"]
    assert [e.ename for e in errors] == ["KeyboardInterrupt"]
    assert text(book.cells[4]).splitlines() == ["interrupted job FAILED", "next job 4950"]
