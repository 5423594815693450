"""The main job (python -m ember) counts words exactly."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

from ember import demo


def test_demo_counts_the_generated_text_exactly(tmp_path, capsys):
    path = tmp_path / "corpus.txt"
    demo.generate_text(str(path), 0.5)
    with open(path) as handle:
        oracle = Counter(word for line in handle for word in line.split())
    expected = sorted(oracle.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    best = demo.run("local[2]", megabytes=0.5, top=5)
    assert best == expected
    output = capsys.readouterr().out
    assert "counted" in output and expected[0][0] in output


def test_command_line_help_and_bad_arguments():
    done = subprocess.run([sys.executable, "-m", "ember", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "example: ember demo" in done.stdout
    done = subprocess.run([sys.executable, "-m", "ember", "demo", "--master", "local[0]", "--size", "0.1"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "ember: error: ValueError: Invalid master URL 'local[0]': the number of workers must be at least 1; "
        "accepted forms: local, local[N], local[*], local[N,F], local[*,F], ember://HOST:PORT"]
