"""Driver scripts as users write them: no main guard, functions and classes
defined in the script, helper modules next to it."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def run_script(directory, source, *args, timeout=120):
    script = directory / "job.py"
    script.write_text(textwrap.dedent(source))
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=directory)


def test_script_without_main_guard_uses_its_own_functions_classes_and_helper_modules(tmp_path):
    (tmp_path / "helpers.py").write_text("def tokenize(line):\n    return line.lower().split()\n")
    done = run_script(tmp_path, """
        import ember
        from helpers import tokenize

        class Tally:
            def __init__(self, word, count):
                self.word, self.count = word, count
            def __repr__(self):
                return f"{self.word}={self.count}"

        def pair(word):
            return (word, 1)

        sc = ember.Context("local[2]")
        lines = ["The cat", "the Dog", "THE end"]
        counts = sc.parallelize(lines, 2).flatMap(tokenize).map(pair).reduceByKey(lambda a, b: a + b)
        tallies = counts.map(lambda kv: Tally(*kv)).collect()
        print(sorted(tallies, key=lambda t: (-t.count, t.word)))
        sc.stop()
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[the=3, cat=1, dog=1, end=1]"


def test_failing_script_shows_the_users_line_and_exits_non_zero(tmp_path):
    done = run_script(tmp_path, """
        import ember
        with ember.Context("local[2]") as sc:
            sc.parallelize([1, 0], 2).map(lambda x: 10 // x).collect()
    """)
    assert done.returncode != 0
    assert "ZeroDivisionError" in done.stderr
    assert 'job.py", line 4' in done.stderr  # the worker's traceback points at the user's line
    assert "failed 4 times" in done.stderr
