"""An ember://HOST:PORT driver with workers started by hand, on loopback (no
root needed): the secret file, joining and leaving, what reaches a worker that
shares no disk with its driver, refusals, and what a worker does when its
driver goes away."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import ember
from ember.engine.errors import SecretFileError
from multihost_helpers import finish


def remote_conf(secret_file: str, **settings) -> ember.Conf:
    conf = (ember.Conf().set("ember.secretFile", secret_file)
            .set("spark.network.timeout", "4s").set("spark.executor.heartbeatInterval", "500ms"))
    for key, value in settings.items():
        conf.set(key, value)
    return conf


def driver_address(sc) -> str:
    return f"127.0.0.1:{sc.getConf().get('spark.driver.port')}"


@pytest.fixture
def remote(processes, secret_file):
    """An ember://127.0.0.1:0 Context (stopped before the workers are reaped)."""
    made = []

    def start(**settings):
        made.append(ember.Context("ember://127.0.0.1:0", conf=remote_conf(secret_file, **settings)))
        return made[-1]

    yield start
    for sc in made:
        sc.stop()


def test_an_ember_master_without_a_secret_file_is_a_value_error_naming_the_settings(monkeypatch):
    monkeypatch.delenv("EMBER_SECRET_FILE", raising=False)
    with pytest.raises(ValueError, match="ember.secretFile.*EMBER_SECRET_FILE"):
        ember.Context("ember://127.0.0.1:0")
    assert ember.Context._active_spark_context is None


def test_a_secret_file_readable_by_others_is_refused_naming_file_and_mode(tmp_path, secret_file,
                                                                         monkeypatch):
    os.chmod(secret_file, 0o644)
    monkeypatch.setenv("EMBER_SECRET_FILE", secret_file)
    with pytest.raises(SecretFileError, match=f"{secret_file} has mode 0644.*chmod 600"):
        ember.Context("ember://127.0.0.1:0")
    worker = subprocess.run([sys.executable, "-m", "ember", "worker", "--driver", "127.0.0.1:9",
                             "--secret-file", secret_file], capture_output=True, text=True,
                            timeout=30)
    assert worker.returncode == 2 and "mode 0644" in worker.stderr


def test_a_master_port_already_taken_is_an_os_error_naming_the_address(secret_file):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=f"cannot bind the driver to 127.0.0.1:{port}"):
            ember.Context(f"ember://127.0.0.1:{port}", conf=remote_conf(secret_file))
    assert ember.Context._active_spark_context is None


def test_secret_new_writes_a_file_only_its_owner_can_read(tmp_path):
    path = tmp_path / "fresh.secret"
    subprocess.run([sys.executable, "-m", "ember", "secret", "new", "--out", str(path)], check=True,
                   capture_output=True, timeout=30)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert len(bytes.fromhex(path.read_text().strip())) == 32
    again = subprocess.run([sys.executable, "-m", "ember", "secret", "new", "--out", str(path)],
                           capture_output=True, text=True, timeout=30)
    assert again.returncode == 1 and "already exists" in again.stderr
    printed = subprocess.run([sys.executable, "-m", "ember", "secret", "new"], capture_output=True,
                             text=True, check=True, timeout=30).stdout.strip()
    assert len(bytes.fromhex(printed)) == 32 and printed != path.read_text().strip()


def test_a_job_waits_for_a_first_worker_and_a_late_joiner_gets_tasks(remote, processes,
                                                                     secret_file, caplog):
    sc = remote()
    sc._cluster.warn_interval = 0.3
    assert sc.defaultParallelism == 2, "at least 2 before any worker joined"
    answer = []
    job = threading.Thread(target=lambda: answer.append(
        sc.parallelize(range(100), 4).map(lambda x: (x % 3, x)).reduceByKey(lambda a, b: a + b)
        .collectAsMap()))
    with caplog.at_level(logging.WARNING, logger="ember.cluster"):
        job.start()
        deadline = time.monotonic() + 10
        while ("Initial job has not accepted any resources" not in caplog.text
               and time.monotonic() < deadline):
            time.sleep(0.05)
        assert "Initial job has not accepted any resources" in caplog.text
        assert not answer, "no worker: the job waits"
    first = processes.worker(driver_address(sc), secret_file, cores=1)
    job.join(timeout=60)
    assert answer == [{r: sum(x for x in range(100) if x % 3 == r) for r in range(3)}]
    second = processes.worker(driver_address(sc), secret_file, cores=2)
    deadline = time.monotonic() + 30
    while len(sc._backend.registered()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sc.defaultParallelism == 3, "total cores of the registered workers"
    pids = sc.parallelize(range(6), 6).map(lambda x: (time.sleep(0.3), os.getpid())[1]).collect()
    assert set(pids) == {first.pid, second.pid}, "the late joiner ran tasks"
    sc.stop()
    assert finish(first, 15)[0] == 0 and finish(second, 15)[0] == 0, "stop() tells workers to exit"


def test_a_worker_stopped_mid_job_says_it_leaves_and_its_tasks_move(remote, processes,
                                                                   secret_file, tmp_path, caplog):
    sc = remote()
    leaver = processes.worker(driver_address(sc), secret_file, cores=1)
    stayer = processes.worker(driver_address(sc), secret_file, cores=1)
    sc._cluster.wait_for_workers(2, 30)
    marker = tmp_path / "started"

    def slow(index, part):
        with open(f"{marker}-{os.getpid()}-{index}", "w"):
            pass
        time.sleep(0.3)
        return [(i % 5, i) for i in part]

    answer = []
    job = threading.Thread(target=lambda: answer.append(
        sc.parallelize(range(40), 8).mapPartitionsWithIndex(slow).reduceByKey(lambda a, b: a + b)
        .collectAsMap()))
    with caplog.at_level(logging.WARNING, logger="ember.cluster"):
        job.start()
        deadline = time.monotonic() + 30
        while not list(tmp_path.glob(f"started-{leaver.pid}-*")) and time.monotonic() < deadline:
            time.sleep(0.02)
        leaver.terminate()  # SIGTERM: a worker stopped by its operator
        code, _, err = finish(leaver, timeout=30)
        job.join(timeout=60)
    assert code == 0 and "stopping: SIGTERM" in err, err
    assert "lost: it left (SIGTERM)" in caplog.text, "told the driver, not found silent"
    assert answer == [{r: sum(i for i in range(40) if i % 5 == r) for r in range(5)}]
    assert stayer.poll() is None


def test_files_broadcasts_and_python_files_reach_workers_that_share_no_disk(remote, processes,
                                                                          secret_file, tmp_path):
    sc = remote()
    early = processes.worker(driver_address(sc), secret_file, cores=1)
    sc._cluster.wait_for_workers(1, 30)
    data = tmp_path / "lookup.txt"
    data.write_text("forty-two")
    helper = tmp_path / "mh_helper_mod.py"
    helper.write_text("def triple(x):\n    return 3 * x\n")
    sys.path.insert(0, str(tmp_path))  # importable here, never on the workers' path
    try:
        sc.addFile(str(data))
        sc.addPyFile(str(helper))
        import mh_helper_mod

        table = sc.broadcast({i: i * i for i in range(10)})
        late = processes.worker(driver_address(sc), secret_file, cores=1)
        sc._cluster.wait_for_workers(2, 30)

        def probe(i):
            from ember import SparkFiles

            with open(SparkFiles.get("lookup.txt")) as handle:
                text = handle.read()
            return (os.getpid(), SparkFiles.getRootDirectory(), text, mh_helper_mod.triple(i),
                    table.value[i])

        rows = sc.parallelize(range(8), 8).map(lambda i: (time.sleep(0.2), probe(i))[1]).collect()
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("mh_helper_mod", None)
    assert {row[0] for row in rows} == {early.pid, late.pid}
    assert [row[2:] for row in rows] == [("forty-two", 3 * i, i * i) for i in range(8)]
    driver_files = ember.SparkFiles.getRootDirectory()
    assert all(row[1] != driver_files for row in rows), "workers use their own copy"


def test_a_module_missing_on_a_worker_surfaces_as_module_not_found_naming_it(remote, processes,
                                                                           secret_file, tmp_path):
    sc = remote()
    processes.worker(driver_address(sc), secret_file, cores=1)
    sc._cluster.wait_for_workers(1, 30)
    (tmp_path / "mh_only_on_driver.py").write_text("def double(x):\n    return 2 * x\n")
    sys.path.insert(0, str(tmp_path))
    try:
        import mh_only_on_driver

        with pytest.raises(ModuleNotFoundError, match="mh_only_on_driver"):
            sc.parallelize(range(4), 2).map(mh_only_on_driver.double).collect()
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("mh_only_on_driver", None)
    assert sc.parallelize(range(4), 2).map(lambda x: x + 1).collect() == [1, 2, 3, 4]


OTHER_VERSION = textwrap.dedent("""
    import sys
    import ember.engine.version as version
    version.__version__ = "0.0.0-other"
    from ember.worker.process import remote_main
    sys.exit(remote_main(sys.argv[1:]))
""")


def test_a_worker_of_another_ember_version_is_refused_with_a_named_error(remote, processes,
                                                                        secret_file, caplog):
    sc = remote()
    with caplog.at_level(logging.WARNING, logger="ember.backend"):
        worker = processes.start([sys.executable, "-c", OTHER_VERSION, "--driver",
                                  driver_address(sc), "--secret-file", secret_file,
                                  "--cores", "1"], stdin=subprocess.DEVNULL,
                                 env={**os.environ, "PYTHONHASHSEED": "0"})  # no re-exec
        code, _, err = finish(worker, timeout=30)
    assert code == 4, err
    assert "refused by the driver: ember version mismatch" in err and "0.0.0-other" in err
    assert "ember version mismatch" in caplog.text
    assert not sc._backend.registered()


def test_a_worker_with_another_hash_seed_is_refused_and_one_without_gets_the_clusters(
        remote, processes, secret_file):
    sc = remote()
    odd = processes.worker(driver_address(sc), secret_file, env={"PYTHONHASHSEED": "123"})
    code, _, err = finish(odd, timeout=30)
    assert code == 4 and "PYTHONHASHSEED mismatch" in err, err
    env = {key: value for key, value in os.environ.items() if key != "PYTHONHASHSEED"}
    plain = processes.start([sys.executable, "-m", "ember", "worker", "--driver", driver_address(sc),
                             "--secret-file", secret_file, "--cores", "1"], env=env,
                            stdin=subprocess.DEVNULL)
    sc._cluster.wait_for_workers(1, 30)
    seeds = sc.parallelize(range(2), 2).map(lambda _: (os.getpid(), os.environ["PYTHONHASHSEED"]))
    assert seeds.collect() == [(plain.pid, "0"), (plain.pid, "0")]


DRIVER = textwrap.dedent("""
    import sys, time, ember
    conf = (ember.Conf().set("ember.secretFile", sys.argv[1])
            .set("spark.network.timeout", "3s").set("spark.executor.heartbeatInterval", "500ms"))
    sc = ember.Context("ember://127.0.0.1:0", conf=conf)
    print(sc.getConf().get("spark.driver.port"), flush=True)
    time.sleep(60)
""")


@pytest.mark.fault
def test_workers_fence_themselves_and_exit_when_their_driver_is_killed(processes, secret_file,
                                                                       tmp_path):
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    # The driver's own directory goes to tmp_path: a SIGKILLed driver cannot remove it.
    driver = processes.start([sys.executable, str(script), secret_file], stdin=subprocess.DEVNULL,
                             env={**os.environ, "TMPDIR": str(tmp_path)})
    port = driver.stdout.readline().strip()
    assert port.isdigit(), driver.stderr.read()
    worker = processes.worker(f"127.0.0.1:{port}", secret_file)
    while "registered with the driver" not in (line := worker.stderr.readline()):
        assert line, "the worker ended before registering"
    driver.kill()
    code, _, err = finish(worker, timeout=20)
    assert code == 5, err
    assert "no word from the driver" in err and "fencing myself" in err
