"""How a Context, an RDD and a LogStore show themselves in a terminal
(``repr``, PySpark's where PySpark has one) and in a notebook (``_repr_html_``)."""

from __future__ import annotations

import re

from ember.ingest import LogStore


def test_a_context_repr_is_pysparks_and_its_html_shows_workers_cores_and_the_status_page(sc):
    assert repr(sc) == "<SparkContext master=local[2] appName=ember-tests>"
    page = sc._repr_html_()
    assert "local[2]" in page and "ember-tests" in page
    assert re.search(r"<td>w-0</td><td>[^<]*</td><td>\d+</td><td>1</td><td>\d</td><td>ALIVE</td>", page)
    assert re.search(r"<td>w-1</td>.*?<td>ALIVE</td>", page)
    assert f"href='{sc.uiWebUrl}'" in page
    assert "Active jobs</b>: 0" in page


def test_an_rdd_repr_names_kind_id_and_call_site_and_its_html_draws_the_lineage_by_stage(sc):
    pairs = sc.parallelize([("a", 1), ("b", 2)], 2).setName("<pairs>")
    counted = pairs.reduceByKey(lambda a, b: a + b).mapValues(str).cache()
    assert re.fullmatch(r"PipelinedRDD\[\d+\] at mapValues at .*/test_reprs\.py:\d+", repr(counted))
    assert repr(pairs).startswith("<pairs> ParallelCollectionRDD[")
    page = counted._repr_html_()
    assert "&lt;pairs&gt; ParallelCollectionRDD" in page and "<pairs>" not in page
    assert "<th style='text-align:left'>partitions</th><td>2</td>" in page
    assert "Memory Serialized 1x Replicated" in page
    # The lineage: the cached RDD and its shuffle read in one list, then the
    # stage boundary, and the map side (down to the named input) nested below it.
    top, _, below = page.partition("<b>shuffle</b>: stage boundary, 2 map partitions")
    assert "ShuffledRDD" in top and "ParallelCollectionRDD" not in top.split("Lineage", 1)[1]
    assert "<ul>" in below and "&lt;pairs&gt; ParallelCollectionRDD" in below
    assert counted.toDebugString().count(b"+-") == 1


def test_a_log_store_html_lists_its_topics_and_says_when_it_stopped(tmp_path):
    store = LogStore.start(tmp_path / "log")
    try:
        store.create_topic("clicks", partitions=3)
        assert repr(store) == f"LogStore(address={store.address!r}, pid={store.pid})"
        page = store._repr_html_()
        assert "<td>clicks</td><td>3</td>" in page and "running" in page
        assert store.address in page
        assert store.secret.hex() not in page
    finally:
        store.stop()
    assert "stopped" in store._repr_html_()
