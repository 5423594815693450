"""The Raft core as a state machine: real members and real storage over a
simulated network and a manual clock (``raft_sim``). Every step checks
election safety (one leader per term) and that every member commits the
same entry at each index."""

from __future__ import annotations

import os
import random

import pytest

from ember.engine.errors import NotControllerError, ProtocolError
from ember.ingest.cluster import raft_wire
from ember.ingest.cluster.raft import LEADER, RaftTimeouts
from tests.cluster.raft_sim import Simulation

# Seeds of the randomized run: 6 in the default run, more for a soak
# (EMBER_RAFT_SEEDS=500).
SOAK_SEEDS = int(os.environ.get("EMBER_RAFT_SEEDS", "6"))


@pytest.fixture
def sim(tmp_path):
    simulations = []

    def make(size=3, seed=0, **options):
        simulation = Simulation(tmp_path / f"sim{len(simulations)}", size, seed, **options)
        simulations.append(simulation)
        return simulation

    yield make
    for simulation in simulations:
        simulation.close()


def test_a_three_member_quorum_elects_one_leader_and_commits_in_order(sim):
    s = sim()
    assert s.run_until(lambda: s.leader() is not None)
    for n in range(20):
        s.propose({"n": n})
        s.run(0.1)
    assert s.run_until(lambda: all(len(s.states[i]) == 20 for i in s.ids))
    assert s.commands() == [{"n": n} for n in range(20)]
    assert all(s.states[i] == s.commands() for i in s.ids)


def test_a_follower_refuses_proposals_naming_the_leader(sim):
    s = sim()
    assert s.run_until(lambda: s.leader() is not None)
    s.run(0.5)
    follower = next(n for n in s.nodes.values() if n.role != LEADER)
    with pytest.raises(NotControllerError, match=f"leader: {s.leader().id}"):
        follower.propose({"x": 1})


def test_a_new_leader_is_elected_after_the_leader_crashes_and_nothing_committed_is_lost(sim):
    s = sim(size=5, seed=3)
    assert s.run_until(lambda: s.leader() is not None)
    for n in range(10):
        s.propose(n)
        s.run(0.05)
    s.run(1)
    old = s.leader()
    s.crash(old.id)
    assert s.run_until(lambda: s.leader() is not None and s.leader().id != old.id, 30)
    s.propose("after")
    s.restart(old.id)
    assert s.run_until(lambda: all(s.states[i][-1:] == ["after"] for i in s.ids), 30)
    assert s.commands() == list(range(10)) + ["after"]


def test_a_partitioned_member_does_not_raise_its_term_or_depose_the_leader(sim):
    # Pre-vote: cut off, it asks for pre-votes and gets none, so its term stays;
    # when it returns, the leader keeps leading.
    s = sim(seed=5)
    assert s.run_until(lambda: s.leader() is not None)
    leader = s.leader()
    loner = next(i for i in s.ids if i != leader.id)
    term = leader.storage.term
    s.partition({loner}, set(s.ids) - {loner})
    s.run(20)
    assert s.nodes[loner].storage.term == term
    s.heal()
    s.run(5)
    assert s.leader() is leader and leader.storage.term == term
    s.propose("x")
    assert s.run_until(lambda: s.states[loner][-1:] == ["x"])


def test_a_leader_cut_off_from_the_majority_steps_down_and_cannot_commit(sim):
    s = sim(seed=7)
    assert s.run_until(lambda: s.leader() is not None)
    old = s.leader()
    s.partition({old.id}, set(s.ids) - {old.id})
    index, _ = old.propose("lost?")
    s.run(0.5)
    assert old.commit_index < index
    assert s.run_until(lambda: old.role != LEADER, 10)  # check-quorum
    assert s.run_until(lambda: s.leader() is not None and s.leader() is not old, 20)
    s.propose("kept")
    s.heal()
    assert s.run_until(lambda: all(s.states[i][-1:] == ["kept"] for i in s.ids), 20)
    assert "lost?" not in s.commands()


def test_a_member_whose_directory_was_wiped_returns_under_a_new_incarnation(sim):
    s = sim(seed=11)
    assert s.run_until(lambda: s.leader() is not None)
    for n in range(5):
        s.propose(n)
    s.run(1)
    victim = next(i for i in s.ids if i != s.leader().id)
    s.wipe(victim)
    node = s.nodes[victim]
    assert not node.is_voter()
    # It catches up as an observer and the leader swaps its incarnation in.
    assert s.run_until(lambda: node.is_voter() and s.leader().me in s.leader().config
                       and (victim, node.incarnation) in s.leader().config, 30)
    assert all(v[1] != "inc-%d-0" % victim for v in s.leader().config if v[0] == victim)
    assert len(s.leader().config) == 3
    s.propose("after")
    assert s.run_until(lambda: s.states[victim] == list(range(5)) + ["after"], 30)


def test_a_wiped_member_is_not_counted_for_a_majority(sim):
    # Commit with {A, C}, wipe C, lose A: B and the new C must not elect a
    # leader that lacks the committed entry (C's vote no longer counts).
    s = sim(seed=13)
    assert s.run_until(lambda: s.leader() is not None)
    a = s.leader().id
    b, c = [i for i in s.ids if i != a]
    s.partition({a, c}, {b})
    s.propose("committed-without-b")
    assert s.run_until(lambda: "committed-without-b" in s.commands())
    s.wipe(c)
    s.crash(a)
    s.heal()
    s.run(30)
    assert s.leader() is None  # B alone cannot win; the new C is not a voter
    s.restart(a)
    assert s.run_until(lambda: s.leader() is not None, 30)
    s.propose("later")
    assert s.run_until(lambda: all(s.states[i][-2:] == ["committed-without-b", "later"]
                                   for i in s.ids), 60)


def test_snapshots_bound_the_log_and_bring_a_far_behind_member_up_to_date(sim):
    s = sim(seed=17, compact_every=10)
    assert s.run_until(lambda: s.leader() is not None)
    lagging = next(i for i in s.ids if i != s.leader().id)
    s.crash(lagging)
    for n in range(60):
        s.propose(n)
        s.run(0.05)
    s.run(1)
    leader = s.leader()
    assert leader.storage.snapshot.index > 40
    assert leader.storage.last_index - leader.storage.snapshot.index < 20
    s.restart(lagging)
    assert s.run_until(lambda: s.states[lagging] == list(range(60)), 30)


def fully_swapped_in(s) -> bool:
    leader = s.leader()
    return (leader is not None and not leader._pending_config_change()
            and set(leader.config) == {s.nodes[i].me for i in s.ids})


@pytest.mark.parametrize("seed", range(SOAK_SEEDS))
def test_random_crashes_partitions_drops_and_wipes_never_break_safety(sim, seed):
    rng = random.Random(seed)
    s = sim(size=rng.choice([3, 5]), seed=seed, drop=0.05, compact_every=15)
    proposed = 0
    for _ in range(300):
        roll = rng.random()
        down = [i for i in s.ids if s.nodes[i] is None]
        if roll < 0.03 and len(down) < (len(s.ids) - 1) // 2:
            s.crash(rng.choice([i for i in s.ids if s.nodes[i] is not None]))
        elif roll < 0.06 and down:
            s.restart(rng.choice(down))
        elif roll < 0.075 and not down and fully_swapped_in(s):
            # One lost disk at a time: a second before the first is swapped
            # in would be two lost members, more than a majority can spare.
            s.wipe(rng.choice(s.ids))
        elif roll < 0.10:
            members = list(s.ids)
            rng.shuffle(members)
            cut = rng.randint(1, len(members) // 2)
            s.partition(set(members[:cut]), set(members[cut:]))
        elif roll < 0.14:
            s.heal()
        elif s.leader() is not None:
            s.propose(f"c{proposed}")
            proposed += 1
        s.run(rng.uniform(0.05, 0.5))
    # Heal everything: the cluster converges, every member on the same log.
    s.heal()
    for i in s.ids:
        if s.nodes[i] is None:
            s.restart(i)
    for _ in range(20):  # a proposal may be lost to a change of leader: retry
        assert s.run_until(lambda: s.leader() is not None, 60)
        s.propose("final")
        if s.run_until(lambda: "final" in s.commands(), 10):
            break
    assert s.run_until(lambda: all(s.states[i] == s.commands() for i in s.ids), 120), \
        {i: len(s.states[i]) for i in s.ids}
    assert "final" in s.commands()
    assert len(set(s.commands())) == len(s.commands())


def test_raft_messages_are_checked_field_by_field():
    good = raft_wire.encode("c1", {"type": "vote", "term": 3, "from": 1, "inc": "a",
                                   "last_index": 5, "last_term": 2})
    assert raft_wire.decode(good, "c1")["last_index"] == 5
    with pytest.raises(ProtocolError, match="cluster"):
        raft_wire.decode(good, "c2")
    for bad, problem in [
        (b"\x80\x04K\x01.", "not JSON"),
        (b'{"v": 1, "cluster": "c1", "type": "steal"}', "unknown Raft message type"),
        (raft_wire.encode("c1", {"type": "vote", "term": -1, "from": 1, "inc": "a",
                                 "last_index": 0, "last_term": 0}), "'term'"),
        (raft_wire.encode("c1", {"type": "append", "term": 1, "from": 1, "inc": "a",
                                 "prev_index": 0, "prev_term": 0, "commit": 0,
                                 "entries": [[1, 1, "exec", None]]}), "log entry"),
        (raft_wire.encode("c1", {"type": "append", "term": 1, "from": 1, "inc": "a",
                                 "prev_index": 0, "prev_term": 0, "commit": 0,
                                 "entries": [[1, 1, "config", [[1]]]]}), "voter"),
    ]:
        with pytest.raises(ProtocolError, match=problem):
            raft_wire.decode(bad, "c1")


def test_timeouts_that_cannot_work_are_refused():
    with pytest.raises(ValueError, match="heartbeat interval"):
        RaftTimeouts(election_timeout_min=0.1, heartbeat_interval=0.2)
