"""Make docs/status-page-stage.png: the status page of a word count's map
stage, as headless Chromium shows it (the browser the tests drive).

    python docs/status_page_screenshot.py

Needs the ``test`` extra (Playwright) and Debian's chromium. The picture is
reduced to a 64-colour palette so that it stays small.
"""

from __future__ import annotations

import os
import sys
import tempfile
from operator import add

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "ui"))

import ember  # noqa: E402
from ui_browser import Browser  # noqa: E402

OUT = os.path.join(ROOT, "docs", "status-page-stage.png")


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        text = os.path.join(scratch, "book.txt")
        with open(text, "w") as handle:
            for i in range(60_000):
                handle.write(f"the quick brown fox {i % 500} jumps over the lazy dog {i % 37}\n")
        conf = ember.Conf().set("spark.ui.showConsoleProgress", "false")
        with ember.Context("local[2]", appName="wordcount", conf=conf) as sc:
            sc.setJobDescription("count words of book.txt")
            lines = sc.textFile(text, 8).setName("lines").cache()
            words = lines.flatMap(str.split).map(lambda word: (word, 1))
            counts = words.reduceByKey(add, 4)
            counts.count()
            tracker = sc.statusTracker()
            job = tracker.getJobInfo(max(tracker.getJobIdsForGroup()))
            browser = Browser().start(width=1280, height=900)
            try:
                tab = browser.open()
                tab.load(f"{sc.uiWebUrl}/stage/{min(job.stageIds)}")
                tab.screenshot(OUT)
                assert not tab.errors, tab.errors
            finally:
                browser.stop()
    from PIL import Image  # matplotlib's dependency, in the test extra

    Image.open(OUT).convert("RGB").quantize(colors=64).save(OUT, optimize=True)
    print(OUT, os.path.getsize(OUT), "bytes")


if __name__ == "__main__":
    main()
