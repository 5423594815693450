"""The StreamingContext's lifecycle and PySpark's errors for misuse,
listener events, file and socket inputs, stopping (graceful or not), and
what the status page and a notebook show."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import urllib.request

import pytest

from ember.engine.errors import DriverOnlyError, StreamingStateError
from ember.streaming import StreamingContext


# --- misuse, with PySpark's errors ----------------------------------------------------

def test_start_twice_warns_and_start_after_stop_raises(stream, caplog):
    manual = stream()
    manual.ssc.queueStream([[1]]).foreachRDD(lambda rdd: None)
    manual.ssc.start()
    with caplog.at_level(logging.WARNING, logger="ember.streaming"):
        manual.ssc.start()
    assert "StreamingContext has already been started" in caplog.text
    manual.ssc.stop(stopSparkContext=False)
    with pytest.raises(StreamingStateError, match="StreamingContext has already been stopped"):
        manual.ssc.start()
    assert manual.ssc.getState() == "STOPPED"


def test_new_operations_after_start_or_stop_raise(stream):
    manual = stream()
    source = manual.ssc.queueStream([[1]])
    source.foreachRDD(lambda rdd: None)
    manual.ssc.start()
    with pytest.raises(StreamingStateError, match="after starting a context is not supported"):
        source.map(lambda x: x)
    with pytest.raises(StreamingStateError, match="after starting a context is not supported"):
        manual.ssc.queueStream([[2]])
    manual.ssc.stop(stopSparkContext=False)
    with pytest.raises(StreamingStateError, match="after stopping a context is not supported"):
        source.foreachRDD(lambda rdd: None)


def test_only_one_streaming_context_may_be_active(stream):
    first, second = stream(), stream()
    for manual in (first, second):
        manual.ssc.queueStream([[1]]).foreachRDD(lambda rdd: None)
    first.ssc.start()
    assert StreamingContext.getActive() is first.ssc
    with pytest.raises(StreamingStateError, match="Only one StreamingContext may be started"):
        second.ssc.start()
    first.ssc.stop(stopSparkContext=False)
    assert StreamingContext.getActive() is None
    second.ssc.start()
    assert StreamingContext.getActiveOrCreate(None, lambda: None) is second.ssc


def test_get_active_or_create_calls_setup_only_without_an_active_context(stream, sc):
    called = []

    def setup():
        called.append(1)
        made = StreamingContext(sc, 1)
        made.queueStream([[1]]).foreachRDD(lambda rdd: None)
        return made

    made = StreamingContext.getActiveOrCreate(None, setup)
    assert called == [1] and made.getState() == "INITIALIZED"
    made.stop(stopSparkContext=False)
    with pytest.raises(TypeError, match="setupFunc should be callable"):
        StreamingContext.getActiveOrCreate(None, "not a function")


def test_a_context_needs_an_output_operation(stream):
    manual = stream()
    manual.ssc.queueStream([[1]]).map(lambda x: x)
    with pytest.raises(ValueError, match="No output operations registered"):
        manual.ssc.start()


def test_stateful_streams_need_a_checkpoint_directory(stream):
    manual = stream()
    manual.ssc.queueStream([[("a", 1)]]).updateStateByKey(lambda vs, s: 1).pprint()
    with pytest.raises(ValueError, match="The checkpoint directory has not been set"):
        manual.ssc.start()


def test_queue_streams_cannot_be_checkpointed(stream, tmp_path):
    manual = stream()
    manual.ssc.checkpoint(str(tmp_path / "ckpt"))
    manual.ssc.queueStream([[1]]).pprint()
    with pytest.raises(ValueError, match="queueStream doesn't support checkpointing"):
        manual.ssc.start()


def test_a_checkpointed_function_capturing_the_context_is_refused_at_start(stream, tmp_path):
    manual = stream()
    manual.ssc.checkpoint(str(tmp_path / "ckpt"))
    sc = manual.ssc.sparkContext
    (tmp_path / "in").mkdir()
    manual.ssc.textFileStream(str(tmp_path / "in")).foreachRDD(
        lambda rdd: sc.parallelize(range(3)).count())
    with pytest.raises(DriverOnlyError, match="attempting to reference SparkContext"):
        manual.ssc.start()


@pytest.mark.parametrize("window,slide", [(0.1, 0.1), (1, 0.1), (1.5, None), (2, 0.75)])
def test_windows_must_be_multiples_of_the_batch_interval(stream, window, slide):
    source = stream(batch=0.5).ssc.queueStream([[("a", 1)]])
    message = "Duration must be multiple of the parent dstream's slide"
    if window == 1.5:
        source.window(window, slide)  # fine: three batches
        return
    with pytest.raises(ValueError, match=message):
        source.reduceByKeyAndWindow(None, None, window, slide)
    with pytest.raises(ValueError, match=message):
        source.window(window, slide)


def test_functions_must_take_the_arguments_pyspark_passes(stream):
    source = stream().ssc.queueStream([[1]])
    with pytest.raises(TypeError, match="one or two arguments"):
        source.transform(lambda a, b, c: a)
    with pytest.raises(TypeError, match="two or three arguments"):
        source.transformWith(lambda a: a, source)
    with pytest.raises(TypeError, match="one or two arguments"):
        source.foreachRDD(lambda: None)


# --- running and stopping ------------------------------------------------------------

def test_await_termination_or_timeout_tells_whether_it_stopped(stream):
    manual = stream()
    manual.ssc.queueStream([[1]]).foreachRDD(lambda rdd: None)
    manual.ssc.start()
    assert manual.ssc.awaitTerminationOrTimeout(0.01) is False
    manual.ssc.stop(stopSparkContext=False)
    assert manual.ssc.awaitTerminationOrTimeout(0.01) is True


def test_stopping_only_the_streaming_context_leaves_the_context_usable(stream, sc):
    manual = stream()
    manual.ssc.queueStream([[1]]).foreachRDD(lambda rdd: None)
    manual.run(1)
    manual.ssc.stop(stopSparkContext=False)
    manual.ssc.stop(stopSparkContext=False)  # twice is fine
    assert sc.parallelize(range(5), 5).glom().count() == 5


def test_graceful_stop_runs_the_batches_already_due(stream):
    manual = stream()
    seen = []
    manual.ssc.queueStream([[i] for i in range(10)]).foreachRDD(lambda rdd: seen.append(rdd.collect()))
    manual.ssc.start()
    manual.clock.advance(3)  # three batch times are due at once
    manual.ssc.stop(stopSparkContext=False, stopGraceFully=True)
    assert seen == [[0], [1], [2]]


def test_stop_at_once_leaves_queued_batches(stream):
    manual = stream()
    release, seen = threading.Event(), []

    def hold(rdd):
        seen.append(rdd.collect())
        release.wait(30)

    manual.ssc.queueStream([[i] for i in range(10)]).foreachRDD(hold)
    manual.ssc.start()
    manual.clock.advance(3)
    manual.wait(lambda: len(manual.batches.submitted) == 3 and seen)
    stopper = threading.Thread(target=manual.ssc.stop, kwargs={"stopSparkContext": False})
    stopper.start()
    release.set()
    stopper.join(30)
    assert seen == [[0]]


def test_listener_events_carry_pyspark_batch_infos(stream):
    manual = stream()
    manual.ssc.queueStream([[1], [2], [3], [4]]).map(int).foreachRDD(lambda rdd: rdd.count())
    manual.run(4)
    events = manual.batches
    manual.wait(lambda: len(events.infos) == 4)
    assert len(events.streaming_started) == 1
    assert events.submitted == events.started == events.completed
    zero = manual.ssc._graph.zero
    assert events.completed == [zero + i * 1000 for i in (1, 2, 3, 4)]
    for info in events.infos:
        assert info.schedulingDelay() == 0 and info.processingDelay() >= 0
        assert info.totalDelay() == info.processingDelay()
        assert info.numRecords() == 0  # queueStream reports no input, as in PySpark
        (op,) = info.outputOperationInfos().values()
        assert op.name() == "foreachRDD" and op.failureReason() is None
        assert op.batchTime() == info.batchTime() and op.endTime() >= op.startTime() >= 0


# --- file and socket inputs -------------------------------------------------------------

def test_text_file_stream_reads_each_new_file_once(stream, tmp_path):
    directory = tmp_path / "in"
    directory.mkdir()
    (directory / "old.txt").write_text("before the start\n")
    manual = stream()
    results = manual.collect(manual.ssc.textFileStream(str(directory)).map(int))
    manual.ssc.start()
    for name, numbers in (("a", range(3)), ("b", range(3, 5))):
        (tmp_path / name).write_text("".join(f"{n}\n" for n in numbers))
        os.rename(tmp_path / name, directory / name)  # moved in whole
        (directory / ".partial").write_text("9\n")  # hidden: ignored
        manual.run(1)
    manual.run(1)
    assert results == [[0, 1, 2], [3, 4], []]


def test_binary_records_stream_cuts_fixed_length_records(stream, tmp_path):
    manual = stream()
    results = manual.collect(manual.ssc.binaryRecordsStream(str(tmp_path), 4))
    manual.ssc.start()
    (tmp_path / "r").write_bytes(bytes(range(12)))
    manual.run(1)
    assert results == [[bytes(range(0, 4)), bytes(range(4, 8)), bytes(range(8, 12))]]


def test_socket_text_stream_takes_the_lines_received_since_the_last_batch(stream):
    server = socket.create_server(("127.0.0.1", 0))
    manual = stream()
    source = manual.ssc.socketTextStream("127.0.0.1", server.getsockname()[1])
    results = manual.collect(source)
    manual.ssc.start()
    connection, _ = server.accept()
    try:
        for lines in (["one", "two"], ["three"]):
            connection.sendall("".join(f"{line}\n" for line in lines).encode())
            manual.wait(lambda: len(source._buffer) == len(lines))
            manual.run(1)
        assert results == [["one", "two"], ["three"]]
    finally:
        connection.close()
        server.close()
        manual.ssc.stop(stopSparkContext=False)


# --- seeing it ----------------------------------------------------------------------------

def test_status_page_has_a_streaming_section_with_a_chart(stream, sc):
    manual = stream()
    manual.ssc.queueStream([[1, 2], [3]]).foreachRDD(lambda rdd: rdd.count())
    manual.run(2)
    with urllib.request.urlopen(sc.uiWebUrl + "/", timeout=10) as reply:
        page = reply.read().decode()
    assert "<h2 id='section-streaming'>Streaming</h2>" in page and "ember-streaming-chart" in page
    assert "queueStream [0]" in page
    with urllib.request.urlopen(sc.uiWebUrl + "/api/status", timeout=10) as reply:
        report = json.load(reply)
    assert {"key": "streaming", "title": "Streaming"} in report["sections"]
    section = report["streaming"]
    assert section["state"] == "ACTIVE" and section["completedBatches"] == 2
    assert [b["batchTime"] for b in section["batches"]] == manual.batches.completed


def test_notebook_display_shows_state_batches_and_chart(stream):
    manual = stream()
    manual.ssc.queueStream([[1]]).foreachRDD(lambda rdd: rdd.count())
    assert "INITIALIZED" in manual.ssc._repr_html_()
    manual.run(2)
    shown = manual.ssc._repr_html_()
    assert "ACTIVE" in shown and "<svg" in shown and "foreachRDD at" in shown
    assert repr(manual.ssc).startswith("<StreamingContext batchDuration=1s state=ACTIVE")


def test_concurrent_jobs_lets_the_next_batch_start_while_one_runs(sc, stream):
    sc._conf.set("spark.streaming.concurrentJobs", "2")
    try:
        manual = stream()
        release, started = threading.Event(), []

        def hold(time, rdd):
            started.append(time)
            if len(started) == 1:
                assert release.wait(30)

        manual.ssc.queueStream([[1], [2], [3]]).foreachRDD(hold)
        manual.ssc.start()
        manual.clock.advance(2)
        manual.wait(lambda: len(started) == 2)  # the second ran while the first is held
        release.set()
        manual.wait(lambda: manual.completed_count() == 2)
    finally:
        sc._conf.set("spark.streaming.concurrentJobs", "1")
