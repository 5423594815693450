"""The ``ember`` command line, driven as users drive it: as a subprocess.

Every command explains itself with an example; usage errors are one line and
exit code 2, runtime errors one line and exit code 1, never a traceback;
``submit`` runs a script as ``__main__`` with the master and settings as the
defaults of its Context; the log store clients round-trip records through a
broker started with ``ember logstore serve``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

EMBER = [sys.executable, "-m", "ember"]


def ember(*args: str, stdin: str | None = None, timeout: float = 120, env: dict | None = None):
    return subprocess.run([*EMBER, *args], input=stdin, capture_output=True, text=True,
                          timeout=timeout, env=env)


def one_error_line(done) -> str:
    lines = done.stderr.strip().splitlines()
    assert "Traceback" not in done.stderr, done.stderr
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("ember: error: "), done.stderr
    return lines[0]


HELP = [[], ["demo"], ["wordcount"], ["submit"], ["logstore"], ["logstore", "serve"],
        ["logstore", "topics"], ["logstore", "produce"], ["logstore", "consume"],
        ["logstore", "offsets"]]


@pytest.mark.parametrize("command", HELP, ids=lambda c: " ".join(c) or "ember")
def test_every_command_explains_itself_with_an_example(command):
    done = ember(*command, "--help")
    assert done.returncode == 0, done.stderr
    example = done.stdout.split("example", 1)[1]
    assert ("ember " + " ".join(command)).strip() in example


def test_the_console_script_is_the_same_command():
    script = os.path.join(os.path.dirname(sys.executable), "ember")
    if not os.path.exists(script):
        pytest.skip("the ember console script is not installed next to this Python")
    done = subprocess.run([script, "submit", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout == ember("submit", "--help").stdout


def test_demo_with_few_records_prints_the_traffic_table():
    done = ember("demo", "--records", "3000")
    assert done.returncode == 0, done.stderr
    assert "produced 3,000 access-log records" in done.stdout
    assert "busiest pages" in done.stdout


def test_demo_options_without_the_command_run_the_demo():
    done = ember("--records", "3000")
    assert done.returncode == 0, done.stderr
    assert "produced 3,000 access-log records" in done.stdout


# --- submit ------------------------------------------------------------------------

SCRIPT = textwrap.dedent("""\
    import json, sys
    import ember
    import shapes  # from --py-files, importable before any Context exists

    assert __name__ == "__main__"
    with ember.Context() as sc:  # no master: ember submit's --master applies
        squares = sc.parallelize(range(5), 2).map(lambda x: shapes.square(x)).collect()
        print(json.dumps({"argv": sys.argv, "master": sc.master, "app": sc.appName,
                          "maxFailures": sc.getConf().get("spark.task.maxFailures"),
                          "squares": squares}))
    """)


def test_submit_runs_the_script_as_main_with_master_conf_args_and_py_files(tmp_path):
    script = tmp_path / "job.py"
    script.write_text(SCRIPT)
    helpers = tmp_path / "lib"
    helpers.mkdir()
    (helpers / "shapes.py").write_text("def square(x):\n    return x * x\n")
    done = ember("submit", "--master", "local[1]", "--name", "nightly",
                 "--conf", "spark.task.maxFailures=2", "--py-files", str(helpers / "shapes.py"),
                 str(script), "input.txt", "--top", "3")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"argv": [str(script), "input.txt", "--top", "3"], "master": "local[1]",
                      "app": "nightly", "maxFailures": "2", "squares": [0, 1, 4, 9, 16]}


def test_submit_settings_are_defaults_that_the_script_overrides(tmp_path):
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent("""\
        import ember
        conf = ember.Conf().set("spark.task.maxFailures", "7")
        print(conf.get("spark.master"), conf.get("spark.task.maxFailures"),
              conf.get("spark.locality.wait"))
        """))
    done = ember("submit", "--master", "local[3]", "--conf", "spark.task.maxFailures=2",
                 "--conf", "spark.locality.wait=0s", str(script))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["local[3]", "7", "0s"]


def test_submit_exit_status_and_traceback_are_the_scripts(tmp_path):
    failing = tmp_path / "failing.py"
    failing.write_text("def load():\n    raise KeyError('no such table')\n\nload()\n")
    done = ember("submit", str(failing))
    assert done.returncode == 1
    assert done.stderr.startswith("Traceback"), done.stderr
    assert f'File "{failing}", line 4' in done.stderr and "KeyError: 'no such table'" in done.stderr
    assert "runpy" not in done.stderr and "cli.py" not in done.stderr
    exiting = tmp_path / "exiting.py"
    exiting.write_text("import sys\nsys.exit(3)\n")
    assert ember("submit", str(exiting)).returncode == 3


@pytest.mark.parametrize("args, expected", [
    (["submit", "--conf", "spark.task.maxFailures=x", "job.py"],
     "spark.task.maxFailures = 'x' is invalid: expected an integer"),
    (["submit", "--conf", "spark.task.maxFailures", "job.py"], "expected KEY=VALUE"),
    (["submit", "--conf", "ember.task.maxWorkerDeth=2", "job.py"],
     "did you mean 'ember.task.maxWorkerDeaths'"),
    (["submit", "--master", "local[0]", "job.py"], "Invalid master URL 'local[0]'"),
    (["submit", "--py-files", "missing.py", "job.py"], "--py-files: missing.py is not a file"),
    (["submit", "absent.py"], "script absent.py does not exist"),
    (["logstore", "consume", "--topic", "t"], "the following arguments are required: --broker"),
    (["wordcount", "--size", "big"], "argument --size: invalid float value: 'big'"),
])
def test_a_bad_argument_is_one_line_and_exit_code_2(tmp_path, args, expected):
    (tmp_path / "job.py").write_text("print('ran')\n")
    done = subprocess.run([*EMBER, *args], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert expected in one_error_line(done)


# --- the log store from the shell ---------------------------------------------------

@pytest.fixture
def broker(tmp_path):
    """``ember logstore serve`` in the background; stopped by PID at teardown."""
    secret_file = tmp_path / "secret"
    process = subprocess.Popen([*EMBER, "logstore", "serve", "--dir", str(tmp_path / "log"),
                                "--secret-file", str(secret_file)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()  # blocks until the broker reports, or exits
        address = next((word for word in line.split() if word.startswith("tcp://")), None)
        assert address, f"the broker did not print its address: {line!r} {process.stderr.read()!r}"
        yield ["--broker", address.removeprefix("tcp://"), "--secret-file", str(secret_file)]
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()
    assert process.returncode == 0
    assert (tmp_path / "log" / "clean-shutdown").exists()


def offsets_table(done) -> list[list[str]]:
    assert done.returncode == 0, done.stderr
    return [line.split() for line in done.stdout.strip().splitlines()]


def test_records_round_trip_through_a_broker_from_the_shell(broker):
    created = ember("logstore", "topics", *broker, "--create", "clicks", "--partitions", "2")
    assert created.returncode == 0 and "Created topic clicks" in created.stdout, created.stderr
    assert ember("logstore", "topics", *broker).stdout.split() == ["clicks"]
    lines = [f"u{i}:page-{i}" for i in range(20)]
    produced = ember("logstore", "produce", *broker, "--topic", "clicks", "--key-separator", ":",
                     stdin="\n".join(lines) + "\n")
    assert produced.returncode == 0, produced.stderr
    assert "Produced 20 records to clicks." in produced.stderr

    table = offsets_table(ember("logstore", "offsets", *broker, "--topic", "clicks"))
    assert table[0] == ["TOPIC", "PARTITION", "LOG-START-OFFSET", "LOG-END-OFFSET"]
    assert sum(int(row[3]) for row in table[1:]) == 20 and len(table) == 3

    # A group reads 12, commits them, and the next member of the group gets the other 8.
    first = ember("logstore", "consume", *broker, "--topic", "clicks", "--from-beginning",
                  "--group", "audit", "--max-messages", "12", "--print-key",
                  "--key-separator", ":")
    assert first.returncode == 0, first.stderr
    assert "Processed a total of 12 messages." in first.stderr
    table = offsets_table(ember("logstore", "offsets", *broker, "--group", "audit"))
    assert table[0][-2:] == ["COMMITTED-OFFSET", "LAG"]
    assert sum(int(row[5]) for row in table[1:]) == 8
    rest = ember("logstore", "consume", *broker, "--topic", "clicks", "--group", "audit",
                 "--timeout", "1", "--print-key", "--key-separator", ":")
    assert rest.returncode == 0, rest.stderr
    seen = first.stdout.splitlines() + rest.stdout.splitlines()
    assert sorted(seen) == sorted(lines)  # every record once, with its key, across the group
    # Without a group, from the beginning: everything again, nothing committed.
    again = ember("logstore", "consume", *broker, "--topic", "clicks", "--from-beginning",
                  "--timeout", "1")
    assert sorted(again.stdout.splitlines()) == sorted(line.split(":")[1] for line in lines)


def test_a_client_with_the_wrong_secret_is_one_error_line_and_exit_code_1(broker, tmp_path):
    wrong = tmp_path / "wrong-secret"
    wrong.write_text("00" * 32 + "\n")
    os.chmod(wrong, 0o600)
    args = list(broker)
    args[args.index("--secret-file") + 1] = str(wrong)
    done = ember("logstore", "topics", *args, timeout=60)
    assert done.returncode == 1
    assert "AuthenticationError" in one_error_line(done)
    unknown = ember("logstore", "consume", *broker, "--topic", "nope", "--timeout", "1")
    assert unknown.returncode == 1
    assert one_error_line(unknown) == "ember: error: UnknownTopicOrPartitionError: unknown topic 'nope'"


def test_topics_alter_adds_partitions_and_refuses_what_would_not_grow(broker):
    assert ember("logstore", "topics", *broker, "--create", "clicks", "--partitions", "2"
                 ).returncode == 0
    grown = ember("logstore", "topics", *broker, "--alter", "clicks", "--partitions", "4")
    assert grown.returncode == 0, grown.stderr
    assert "Topic clicks now has 4 partitions." in grown.stdout
    described = ember("logstore", "topics", *broker, "--describe", "clicks")
    assert "Topic: clicks\tPartitions: 4" in described.stdout, described.stderr
    shrink = ember("logstore", "topics", *broker, "--alter", "clicks", "--partitions", "3")
    assert shrink.returncode == 1
    assert one_error_line(shrink) == (
        "ember: error: InvalidPartitionsError: topic 'clicks' currently has 4 partitions, "
        "which is higher than the requested 3: partitions can only be added")
    unknown = ember("logstore", "topics", *broker, "--alter", "nope", "--partitions", "3")
    assert unknown.returncode == 1 and "UnknownTopicOrPartitionError" in one_error_line(unknown)
    no_count = ember("logstore", "topics", *broker, "--alter", "clicks")
    assert no_count.returncode == 2 and "--partitions N is needed" in no_count.stderr
    replicated = ember("logstore", "topics", *broker, "--create", "r", "--replication-factor", "3")
    assert replicated.returncode == 1
    assert one_error_line(replicated) == (
        "ember: error: InvalidReplicationFactorError: topic 'r': replication factor 3: this "
        "store is one broker, so only 1 (start a cluster for more replicas)")
    misplaced = ember("logstore", "topics", *broker, "--alter", "clicks", "--partitions", "5",
                      "--replication-factor", "1")
    assert misplaced.returncode == 2 and "--replication-factor goes with --create" in \
        misplaced.stderr
    assert ember("logstore", "topics", *broker).stdout.split() == ["clicks"]


def test_submit_defaults_reach_any_conf_through_the_environment(monkeypatch):
    from ember import Conf
    from ember.engine.errors import ConfigError

    monkeypatch.setenv("EMBER_MASTER", "local[3]")
    monkeypatch.setenv("EMBER_CONF", '{"spark.task.maxFailures": "2", "spark.app.name": "n"}')
    conf = Conf()
    assert (conf.get("spark.master"), conf.get("spark.task.maxFailures"),
            conf.get("spark.app.name")) == ("local[3]", "2", "n")
    assert Conf(loadDefaults=False).get("spark.master") is None
    monkeypatch.setenv("EMBER_CONF", "{not json")
    with pytest.raises(ConfigError, match="EMBER_CONF is not valid JSON"):
        Conf()
    monkeypatch.setenv("EMBER_CONF", '["spark.task.maxFailures"]')
    with pytest.raises(ConfigError, match="EMBER_CONF must hold a JSON object of settings, got list"):
        Conf()
    monkeypatch.setenv("EMBER_CONF", '{"spark.task.maxFailures": "x"}')
    with pytest.raises(ConfigError, match="spark.task.maxFailures = 'x' is invalid"):
        Conf()
