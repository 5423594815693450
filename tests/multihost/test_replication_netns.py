"""A replicated store across network namespaces (RELIABILITY.md §4.2 L01,
L04, L05, L06, L08 with real network faults): the producer and consumers on one
host, three brokers (each with a controller quorum member) on three others,
joined by a bridge on 10.213.7.0/24. Faults: a leader cut off from the other
brokers and the controller majority while the clients still reach it, a
follower cut off from everyone, SIGKILL of the leader, SIGSTOP then SIGCONT
of the leader, a follower killed and its directory wiped (L04 with a lost
disk), two brokers killed at once (L05: writes refused, none lost).

Workload and checker: ``tests/replication/workload.py`` (an idempotent
acks=all producer with unique values and consumers reading throughout; every
acknowledged record read back exactly once at its acknowledged offset, one
order per partition, no record read that later disappears), run on the
client host by ``replication_client.py``. Once healed, the three replicas
must also hold the same records at the same offsets.

Each scenario runs with seed 1; ``EMBER_REPLICATION_SEEDS=5`` runs seeds 1
to 5 (the seed picks partitions, the victims and the moments of the faults,
and is printed in every failure)."""

from __future__ import annotations

import json
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import time

import pytest

from multihost_helpers import Hosts, netns_unavailable
from tests.replication.cluster_helpers import stored_values, wait_for

pytestmark = [pytest.mark.needs_root, pytest.mark.fault, pytest.mark.slow]

SEEDS = list(range(1, int(os.environ.get("EMBER_REPLICATION_SEEDS", "1")) + 1))
seeds = pytest.mark.parametrize("seed", SEEDS, ids=[f"seed{s}" for s in SEEDS])

NODES = (1, 2, 3)
CONTROLLER_PORT, BROKER_PORT = 9093, 9092
TOPIC = "events"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLIENT_SCRIPT = os.path.join(ROOT, "tests", "multihost", "replication_client.py")


def host(node: int) -> str:
    return f"broker{node}"


class ClientHost:
    """The client host's process (``replication_client.py``): ``call(op,
    **fields)`` returns its answer or raises AssertionError with its error."""

    def __init__(self, process: subprocess.Popen, seed: int):
        self.process, self.seed = process, seed

    def call(self, op: str, timeout: float = 240.0, **fields):
        self.process.stdin.write(json.dumps({"op": op, **fields}) + "\n")
        self.process.stdin.flush()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            readable, _, _ = select.select([self.process.stdout], [], [], 1.0)
            if readable:
                line = self.process.stdout.readline()
                if not line:
                    break
                reply = json.loads(line)
                if "error" in reply:
                    raise AssertionError(f"{op}: {reply['error']} (seed {self.seed})\n"
                                         f"{reply.get('traceback', '')}")
                return reply["ok"]
        raise AssertionError(f"the client host did not answer {op} within {timeout:g} s "
                             f"(exit {self.process.poll()}, seed {self.seed})")

    def state(self, partition: int = 0):
        """(leader, leader epoch, ISR) as the metadata says, or None meanwhile."""
        try:
            return self.call("state", topic=TOPIC, partition=partition, timeout=60)
        except AssertionError:
            return None

    def replica(self, node: int, partition: int = 0):
        """What broker ``node`` says of its replica, or None if it does not answer."""
        try:
            return self.call("replica", node=node, topic=TOPIC, partition=partition, timeout=60)
        except AssertionError:
            return None


class StoreAcrossHosts:
    """Three controllers and three brokers, one of each per broker host,
    started from the shell as an operator would; every process is the
    ``processes`` fixture's, stopped by PID."""

    def __init__(self, hosts: Hosts, processes, directory, secret_file: str):
        self.hosts, self.processes = hosts, processes
        self.directory, self.secret_file = directory, secret_file
        self.brokers: dict[int, subprocess.Popen] = {}
        self.address = {node: hosts.address[host(node)] for node in NODES}
        self.quorum = ",".join(f"{n}@tcp://{self.address[n]}:{CONTROLLER_PORT}" for n in NODES)
        self._starts = 0

    def _start(self, node: int, argv: list[str], name: str) -> subprocess.Popen:
        self._starts += 1
        log = self.directory / f"{name}.{self._starts}.log"
        with open(log, "w") as out:
            process = self.processes.start(
                self.hosts.command(host(node), [sys.executable, "-m", "ember", *argv]),
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                env={**os.environ, "EMBER_BROKER_LOG": os.environ.get("EMBER_BROKER_LOG", "INFO"), "EMBER_CONTROLLER_LOG": "INFO"})
        process.log = log
        return process

    def _wait_serving(self, process: subprocess.Popen, what: str) -> None:
        def serving():
            assert process.poll() is None, f"{what} exited: {process.log.read_text()[-3000:]}"
            return "serving" in process.log.read_text()
        wait_for(serving, timeout=120, interval=0.2, what=f"{what} to serve")

    def start(self) -> None:
        voters = ",".join(f"{n}:c{n}" for n in NODES)
        controllers = []
        for node in NODES:
            peers = ",".join(f"{n}@tcp://{self.address[n]}:{CONTROLLER_PORT}"
                             for n in NODES if n != node)
            controllers.append(self._start(node, [
                "logstore", "controller", "--node-id", str(node),
                "--dir", str(self.directory / f"controller{node}"),
                "--host", self.address[node], "--port", str(CONTROLLER_PORT), "--peers", peers,
                "--initial-voters", voters, "--incarnation", f"c{node}",
                "--secret-file", self.secret_file], f"controller{node}"))
        for node, controller in zip(NODES, controllers):
            self._wait_serving(controller, f"controller {node}")
        for node in NODES:
            self.start_broker(node, wait=False)
        for node in NODES:
            self._wait_serving(self.brokers[node], f"broker {node}")

    def start_broker(self, node: int, wait: bool = True) -> None:
        self.brokers[node] = self._start(node, [
            "logstore", "serve", "--dir", str(self.broker_directory(node)),
            "--node-id", str(node), "--cluster", self.quorum, "--host", self.address[node],
            "--port", str(BROKER_PORT), "--secret-file", self.secret_file], f"broker{node}")
        if wait:
            self._wait_serving(self.brokers[node], f"broker {node}")

    def broker_directory(self, node: int):
        return self.directory / f"broker{node}"

    def signal(self, node: int, signum: int) -> None:
        self.brokers[node].send_signal(signum)
        if signum == signal.SIGKILL:
            self.brokers[node].wait(30)

    def broker_addresses(self) -> list[str]:
        return [f"{self.address[n]}:{BROKER_PORT}" for n in NODES]

    def stop_brokers(self) -> None:
        for process in self.brokers.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.brokers.values():
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def network():
    """The client host and three broker hosts; deleted at teardown."""
    reason = netns_unavailable()
    if reason is not None:
        pytest.skip(reason)
    hosts = Hosts(["clients", *(host(n) for n in NODES)]).up()
    try:
        yield hosts
    finally:
        hosts.down()


@pytest.fixture
def cluster(network, processes, tmp_path, secret_file):
    store = StoreAcrossHosts(network, processes, tmp_path, secret_file)
    store.start()
    return store


def start_client(cluster, processes, tmp_path, seed: int) -> ClientHost:
    with open(tmp_path / "clients.log", "w") as err:
        process = processes.start(cluster.hosts.command("clients", [sys.executable, CLIENT_SCRIPT]),
                                  stdin=subprocess.PIPE, stderr=err, cwd=ROOT)
    client = ClientHost(process, seed)
    client.call("connect", brokers=cluster.broker_addresses(), secret_file=cluster.secret_file,
                addresses={n: f"tcp://{cluster.address[n]}:{BROKER_PORT}" for n in NODES})
    wait_for(lambda: client.call("brokers") == list(NODES), timeout=120,
             what=f"every broker to register (seed {seed})")
    return client


def start_workload(cluster, processes, tmp_path, seed: int, partitions: int,
                   **producer_configs) -> ClientHost:
    client = start_client(cluster, processes, tmp_path, seed)
    client.call("create", topic=TOPIC, partitions=partitions)
    wait_for_full_isr(client, partitions)
    client.call("start", topic=TOPIC, partitions=partitions, seed=seed,
                producer_configs=producer_configs)
    return client


def wait_for_isr(client: ClientHost, partition: int, holds, what: str) -> None:
    """Until ``holds(isr)`` is true of the partition's ISR as the metadata says."""
    wait_for(lambda: (lambda s: s is not None and holds(s[2]))(client.state(partition)),
             timeout=120, interval=0.2, what=f"{what} (seed {client.seed})")


def wait_for_full_isr(client: ClientHost, partitions: int = 1, timeout: float = 120.0) -> None:
    def full():
        states = [client.state(p) for p in range(partitions)]
        return all(s is not None and s[0] in NODES and s[2] == list(NODES) for s in states)
    wait_for(full, timeout, interval=0.2,
             what=f"every replica of {TOPIC} to be in sync (seed {client.seed})")


def wait_for_leader_other_than(client: ClientHost, old: int, partition: int = 0) -> int:
    """The broker that reports itself leader of a newer epoch than ``old``'s,
    as that broker says (``old`` may still believe it leads)."""
    def new():
        for node in NODES:
            if node != old:
                view = client.replica(node, partition)
                if view is not None and view.get("role") == "leader":
                    return node
        return None
    return wait_for(new, timeout=120, interval=0.2,
                    what=f"a leader other than broker {old} (seed {client.seed})")


def finish(client: ClientHost, cluster: StoreAcrossHosts, partitions: int) -> dict:
    """Stop the workload, check it, then check that the three replicas hold
    the same records at the same offsets."""
    figures = client.call("finish")
    for p in range(partitions):
        wait_for(lambda: len({(v or {}).get("log_end_offset") for v in
                              (client.replica(n, p) for n in NODES)}) == 1, timeout=120,
                 interval=0.2, what=f"the replicas of partition {p} to agree (seed {client.seed})")
    client.call("close")
    cluster.stop_brokers()
    for p in range(partitions):
        copies = {n: stored_values(cluster.broker_directory(n), TOPIC, p) for n in NODES}
        assert copies[1] == copies[2] == copies[3], \
            f"partition {p}: the replicas differ (seed {client.seed})"
    print(f"\nseed {client.seed}: {figures}")
    return figures


@seeds
def test_a_leader_cut_off_from_the_other_brokers_cannot_acknowledge_and_truncates_on_heal(
        cluster, processes, tmp_path, seed):
    """L06: the leader's host loses its links to the other broker hosts (and
    so to the controller majority) while the clients still reach it. It
    cannot acknowledge an acks=all write, even one sent straight to it; a
    new leader is elected and takes the workload; on heal the old leader
    truncates what it appended alone and follows."""
    rng = random.Random(seed)
    client = start_workload(cluster, processes, tmp_path, seed, partitions=1)
    client.call("wait_acked", more=rng.randrange(30, 200), within=120)
    old = client.state()[0]
    others = [n for n in NODES if n != old]
    cluster.hosts.separate(host(old), [host(n) for n in others])
    try:
        new = wait_for_leader_other_than(client, old)
        before = client.replica(old)
        client.call("send_to", node=old, topic=TOPIC, partition=0,
                    value="sent-to-the-cut-off-leader", request_timeout=600)
        wait_for(lambda: (client.replica(old) or before)["log_end_offset"]
                 > before["log_end_offset"], timeout=60, interval=0.2,
                 what=f"the cut-off leader to append the write (seed {seed})")
        client.call("wait_acked", more=50, within=120)  # on the new leader
        alone = client.replica(old)
        assert alone["high_watermark"] < alone["log_end_offset"], \
            f"the cut-off leader counts a write no one else holds: {alone} (seed {seed})"
        outcome = client.call("outcome", value="sent-to-the-cut-off-leader")
        assert outcome is None or "error" in outcome, \
            f"the cut-off leader acknowledged a write: {outcome} (seed {seed})"
        print(f"\nseed {seed}: broker {old} cut off, broker {new} leads")
    finally:
        cluster.hosts.join(host(old), [host(n) for n in others])
    outcome = wait_for(lambda: client.call("outcome", value="sent-to-the-cut-off-leader"),
                       timeout=120, interval=0.2, what=f"the cut-off write's answer (seed {seed})")
    assert "error" in outcome, f"the old leader acknowledged a write: {outcome} (seed {seed})"
    wait_for_full_isr(client)
    client.call("wait_acked", more=50, within=120)
    finish(client, cluster, partitions=1)


@seeds
def test_a_follower_cut_off_leaves_the_isr_and_rejoins_after_the_heal(
        cluster, processes, tmp_path, seed):
    """L04 over a network: a follower's host loses its link; the ISR
    shrinks, acks=all writes go on with two replicas; once the link is back
    the follower catches up and rejoins the ISR."""
    rng = random.Random(seed)
    partitions = 2
    client = start_workload(cluster, processes, tmp_path, seed, partitions)
    client.call("wait_acked", more=rng.randrange(30, 200), within=120)
    partition = rng.randrange(partitions)
    leader = client.state(partition)[0]
    follower = rng.choice([n for n in NODES if n != leader])
    cluster.hosts.cut(host(follower))
    try:
        wait_for_isr(client, partition, lambda isr: follower not in isr,
                     f"broker {follower} to leave the ISR")
        client.call("wait_acked", more=100, within=120)
    finally:
        cluster.hosts.heal(host(follower))
    wait_for_full_isr(client, partitions)
    client.call("wait_acked", more=50, within=120)
    finish(client, cluster, partitions)


@seeds
@pytest.mark.parametrize("fault", ["sigkill", "sigstop"])
def test_the_leader_killed_or_paused_on_its_host_loses_nothing(
        cluster, processes, tmp_path, seed, fault):
    """L01 and L08 across hosts: the leader's broker is killed (then
    restarted) or paused past its session (then resumed); a new leader
    takes over, the old one rejoins as a follower, nothing acknowledged is
    lost or stored twice."""
    rng = random.Random(seed)
    client = start_workload(cluster, processes, tmp_path, seed, partitions=1)
    client.call("wait_acked", more=rng.randrange(30, 200), within=120)
    old = client.state()[0]
    if fault == "sigkill":
        cluster.signal(old, signal.SIGKILL)
        wait_for_leader_other_than(client, old)
        client.call("wait_acked", more=50, within=120)
        cluster.start_broker(old)
    else:
        cluster.signal(old, signal.SIGSTOP)
        try:
            wait_for_leader_other_than(client, old)
            client.call("wait_acked", more=50, within=120)
        finally:
            cluster.signal(old, signal.SIGCONT)
    wait_for_full_isr(client)
    client.call("wait_acked", more=50, within=120)
    finish(client, cluster, partitions=1)


@seeds
def test_a_follower_killed_and_its_directory_wiped_starts_over_from_the_leader(
        cluster, processes, tmp_path, seed):
    """L04 with a lost disk: a follower's broker is killed and its log
    directory deleted; writes go on with two in sync; the broker started on
    an empty directory fetches the whole log from the leader and rejoins
    the ISR, and ends holding the same records at the same offsets."""
    rng = random.Random(seed)
    partitions = 2
    client = start_workload(cluster, processes, tmp_path, seed, partitions)
    client.call("wait_acked", more=rng.randrange(30, 200), within=120)
    partition = rng.randrange(partitions)
    leader = client.state(partition)[0]
    follower = rng.choice([n for n in NODES if n != leader])
    cluster.signal(follower, signal.SIGKILL)
    wait_for_isr(client, partition, lambda isr: follower not in isr,
                 f"broker {follower} to leave the ISR")
    client.call("wait_acked", more=100, within=120)
    shutil.rmtree(cluster.broker_directory(follower))
    cluster.start_broker(follower)
    wait_for_full_isr(client, partitions)
    client.call("wait_acked", more=50, within=120)
    finish(client, cluster, partitions)


@seeds
def test_two_brokers_killed_at_once_refuse_writes_and_lose_none(
        cluster, processes, tmp_path, seed):
    """L05 across hosts: two of the three brokers (the leader among them or
    not, as the seed says) are killed at once. The survivor is alone in
    the ISR, below min.insync.replicas: every acks=all write is refused
    with a named error and none is acknowledged. Once both return, writes
    go on and every record acknowledged before the fault is still there."""
    rng = random.Random(seed)
    client = start_workload(cluster, processes, tmp_path, seed, partitions=1,
                            delivery_timeout_ms=4000)
    client.call("wait_acked", more=rng.randrange(30, 200), within=120)
    leader = client.state()[0]
    followers = [n for n in NODES if n != leader]
    victims = [leader, rng.choice(followers)] if rng.random() < 0.5 else followers
    survivor = next(n for n in NODES if n not in victims)
    for node in victims:
        cluster.brokers[node].send_signal(signal.SIGKILL)
    for node in victims:
        cluster.brokers[node].wait(30)
    wait_for_isr(client, 0, lambda isr: isr == [survivor],
                 f"the ISR to shrink to broker {survivor}")
    before = client.call("acked")
    refused = wait_for(lambda: [e for e in client.call("refusals")
                                if "NotEnoughReplicas" in e or "LeaderNotAvailable" in e],
                       timeout=120, interval=0.2, what=f"a refused write (seed {seed})")
    assert client.call("acked") == before, \
        f"a write was acknowledged with one replica in sync (seed {seed})"
    print(f"\nseed {seed}: brokers {victims} killed, writes refused: {refused[0]}")
    for node in victims:
        cluster.start_broker(node)
    wait_for_full_isr(client)
    client.call("wait_acked", more=50, within=120)
    finish(client, cluster, partitions=1)
