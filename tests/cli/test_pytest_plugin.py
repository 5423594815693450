"""The pytest plugin ``ember.testing``, run on a user's small test file by
pytest's own ``pytester`` in a separate process (the plugin's Context must
not meet this session's)."""

from __future__ import annotations

import textwrap

import pytest

pytest_plugins = ["pytester"]

USER_TESTS = textwrap.dedent("""\
    import os
    from operator import add

    SEEN = {}

    def test_word_count(sc):
        words = sc.parallelize(["a b", "b c", "c"]).flatMap(str.split)
        assert sorted(words.map(lambda w: (w, 1)).reduceByKey(add).collect()) == \\
            [("a", 1), ("b", 2), ("c", 2)]
        SEEN["sc"] = sc

    def test_the_context_is_shared_by_the_session(sc):
        assert sc is SEEN["sc"]
        print("MASTER", sc.master, sc.defaultParallelism,
              sc.getConf().get("spark.task.maxFailures"))

    def test_log_store_round_trip(log_store, tmp_path):
        assert log_store.directory.startswith(str(tmp_path))
        log_store.create_topic("events", partitions=2)
        producer = log_store.producer()
        for i in range(10):
            producer.send("events", value=b"%d" % i)
        producer.flush()
        consumer = log_store.consumer("events", group_id="g", auto_offset_reset="earliest",
                                      consumer_timeout_ms=2000)
        assert sorted(int(r.value) for r in consumer) == list(range(10))
        print("BROKER", log_store.pid)
    """)


def run(pytester, *args):
    pytester.makepyfile(test_user=USER_TESTS)
    return pytester.runpytest_subprocess("-p", "ember.testing", "-s", "-p", "no:cacheprovider",
                                         *args, timeout=120)


def printed(result, tag: str) -> list[str]:
    line = next(line for line in result.outlines if tag in line)
    return line.split(tag, 1)[1].split()


@pytest.mark.slow
def test_fixtures_sc_and_log_store_work_in_a_users_tests(pytester):
    result = run(pytester)
    result.assert_outcomes(passed=3)
    assert printed(result, "MASTER") == ["local[2]", "2", "None"]


@pytest.mark.slow
def test_ini_options_set_the_master_and_settings_and_the_command_line_wins(pytester):
    pytester.makeini(textwrap.dedent("""\
        [pytest]
        ember_master = local[1]
        ember_conf =
            spark.task.maxFailures = 2
        """))
    result = run(pytester)
    result.assert_outcomes(passed=3)
    assert printed(result, "MASTER") == ["local[1]", "1", "2"]
    result = run(pytester, "--ember-master", "local[3]")
    result.assert_outcomes(passed=3)
    assert printed(result, "MASTER") == ["local[3]", "3", "2"]


def test_a_bad_ember_conf_line_is_a_usage_error(pytester):
    pytester.makeini("[pytest]\nember_conf =\n    spark.task.maxFailures\n")
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "passed" not in result.stdout.str()  # stopped before any test ran
    assert "ember_conf: 'spark.task.maxFailures' is not KEY=VALUE" in result.stderr.str() + \
        result.stdout.str()
