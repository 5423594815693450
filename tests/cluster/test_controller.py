"""The controller's decisions as a state machine: requests and a manual clock
in, records out; the records are committed by applying them to the image,
as every controller member does (no processes, no Raft)."""

from __future__ import annotations

import random

import pytest

from ember.engine.clock import ManualClock
from ember.engine.errors import (
    BrokerNotAvailableError, ConfigError, FencedLeaderEpochError, IneligibleReplicaError,
    InvalidConfigurationError, InvalidPartitionsError, InvalidReplicationFactorError, InvalidTopicError,
    InvalidUpdateVersionError, LeaderNotAvailableError, NoReassignmentInProgressError,
    NotLeaderOrFollowerError, StaleBrokerEpochError, TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
)
from ember.ingest.cluster.controller import (
    Controller, ControllerSettings, Decision, assign_replicas,
)
from ember.ingest.cluster.metadata import NO_LEADER, MetadataImage

SESSION = 3.0


class Harness:
    """A controller over a committed image; ``commit`` plays the Raft log."""

    def __init__(self, brokers=(1, 2, 3)):
        self.clock = ManualClock(0.0)
        self.image = MetadataImage()
        self.controller = Controller(self.image, ControllerSettings(broker_session_timeout=SESSION),
                                     clock=self.clock, rng=random.Random(7))
        self.offset = 0
        self.epochs = {}
        for broker in brokers:
            self.start_broker(broker)

    def commit(self, decision: Decision) -> dict:
        self.offset += 1
        if decision.records:
            self.image.apply_entry(self.offset, decision.records)
        return decision.reply

    def start_broker(self, broker, incarnation=None):
        self.commit(self.controller.register_broker(broker, incarnation or f"b{broker}-{self.offset}",
                                                    "127.0.0.1", 9000 + broker))
        self.epochs[broker] = self.image.brokers[broker].epoch
        self.heartbeat(broker)

    def heartbeat(self, broker, **options):
        return self.commit(self.controller.broker_heartbeat(
            broker, self.epochs[broker], self.offset, **options))

    def heartbeat_all(self, brokers):
        for broker in brokers:
            self.heartbeat(broker)

    def tick(self):
        return self.commit(self.controller.tick())

    def state(self, topic="t", partition=0):
        return self.image.partition(topic, partition)

    def create(self, name="t", partitions=1, rf=3, **options):
        return self.commit(self.controller.create_topic(name, partitions, rf, **options))


@pytest.fixture
def h():
    return Harness()


def test_replicas_are_placed_round_robin_as_kafka_places_them():
    # Kafka's rack-unaware example: 5 brokers, 10 partitions, 3 replicas,
    # start index 0, shift 0.
    got = assign_replicas([0, 1, 2, 3, 4], 10, 3, random.Random(), start_index=0, replica_shift=0)
    assert got[0] == [0, 1, 2] and got[4] == [4, 0, 1]
    assert got[5] == [0, 2, 3] and got[9] == [4, 1, 2]
    leaders = [replicas[0] for replicas in got]
    assert sorted(leaders) == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]


def test_a_registered_broker_is_fenced_until_it_has_caught_up_with_its_registration(h):
    h.commit(h.controller.register_broker(9, "nine", "127.0.0.1", 9009))
    epoch = h.image.brokers[9].epoch
    assert h.image.brokers[9].fenced
    reply = h.commit(h.controller.broker_heartbeat(9, epoch, metadata_offset=epoch - 1))
    assert reply["fenced"] and h.image.brokers[9].fenced
    h.commit(h.controller.broker_heartbeat(9, epoch, metadata_offset=epoch))
    assert not h.image.brokers[9].fenced
    with pytest.raises(StaleBrokerEpochError, match=f"epoch {epoch - 1}"):
        h.controller.broker_heartbeat(9, epoch - 1, h.offset)
    with pytest.raises(BrokerNotAvailableError, match="broker 42 is not registered"):
        h.controller.broker_heartbeat(42, 1, h.offset)


def test_topic_creation_places_replicas_and_leads_from_the_first(h):
    reply = h.create("t", partitions=6, rf=3)
    assert len(reply["assignment"]) == 6
    for p in range(6):
        state = h.state("t", p)
        assert len(set(state.replicas)) == 3 and state.isr == state.replicas
        assert state.leader == state.replicas[0] and state.leader_epoch == 0
    assert h.image.topics["t"].config["min.insync.replicas"] == 2
    assert h.image.topics["t"].config["unclean.leader.election.enable"] is False


@pytest.mark.parametrize("arguments, error, message", [
    (dict(rf=4), InvalidReplicationFactorError, "replication factor 4 is larger than the 3 live"),
    (dict(rf=0), InvalidReplicationFactorError, "expected an integer >= 1"),
    (dict(rf=2, config={"min.insync.replicas": 3}), InvalidConfigurationError,
     "min.insync.replicas = 3 is larger than the replication factor 2"),
    (dict(config={"unclean.leader.election.enable": "yes"}), InvalidConfigurationError,
     "expected true or false"),
    (dict(config={"retention.mss": 5}), ConfigError, "did you mean 'retention.ms'"),
    (dict(name="a/b"), InvalidTopicError, "invalid topic name"),
])
def test_topic_creation_refuses_impossible_settings_by_name(h, arguments, error, message):
    name = arguments.pop("name", "t")
    with pytest.raises(error, match=message):
        h.controller.create_topic(name, 1, arguments.pop("rf", 3), **arguments)
    assert "t" not in h.image.topics


def test_duplicate_and_unknown_topics_are_named(h):
    h.create("t")
    with pytest.raises(TopicAlreadyExistsError, match="'t' already exists"):
        h.controller.create_topic("t", 1, 1)
    with pytest.raises(UnknownTopicOrPartitionError, match="'u' does not exist"):
        h.controller.delete_topic("u")
    h.commit(h.controller.delete_topic("t"))
    assert "t" not in h.image.topics


def test_partitions_added_to_a_topic_are_placed_like_a_new_topics_and_lead_at_epoch_zero():
    h = Harness(brokers=(1, 2, 3, 4))
    h.create("t", partitions=2, rf=3)
    before = [h.state("t", p) for p in range(2)]
    assert h.commit(h.controller.create_partitions("t", 6, validate_only=True))["partitions"] == 6
    assert len(h.image.topics["t"].partitions) == 2  # validation writes nothing
    reply = h.commit(h.controller.create_partitions("t", 6))
    assert reply["replication_factor"] == 3 and len(reply["assignment"]) == 4
    assert [h.state("t", p) for p in range(2)] == before  # the old ones are untouched
    new = [h.state("t", p) for p in range(2, 6)]
    assert all(len(set(s.replicas)) == 3 and s.isr == s.replicas and s.leader == s.replicas[0]
               and s.leader_epoch == 0 and s.partition_epoch == 0 for s in new)
    assert sorted(s.leader for s in new) == [1, 2, 3, 4]  # round robin over the brokers


def test_partition_counts_that_do_not_grow_a_topic_are_refused_by_name(h):
    h.create("t", partitions=3, rf=3)
    for count, message in [(2, "currently has 3 partitions, which is higher than the "
                               "requested 2"), (3, "already has 3 partitions"),
                           (0, "partitions = 0"), ("4", "partitions = '4'")]:
        with pytest.raises(InvalidPartitionsError, match=message):
            h.controller.create_partitions("t", count)
    with pytest.raises(UnknownTopicOrPartitionError, match="'nope' does not exist"):
        h.controller.create_partitions("nope", 4)
    h.create("__consumer_offsets", partitions=2, rf=3)
    with pytest.raises(InvalidPartitionsError, match="internal"):
        h.controller.create_partitions("__consumer_offsets", 4)
    h.clock.advance(SESSION + 1)
    h.heartbeat_all([1])
    h.tick()  # brokers 2 and 3 are fenced: three replicas no longer fit
    with pytest.raises(InvalidReplicationFactorError, match="replication factor 3 is larger "
                                                            "than the 1 live broker"):
        h.controller.create_partitions("t", 4)


def test_a_lost_broker_is_fenced_after_its_session_and_its_partitions_get_leaders_from_the_isr(h):
    h.create("t", partitions=3, rf=3)
    victim = h.state("t", 0).leader
    led = {p for p in range(3) if h.state("t", p).leader == victim}
    others = [b for b in (1, 2, 3) if b != victim]
    h.clock.advance(SESSION - 0.5)
    h.heartbeat_all(others)
    assert h.tick() == {"fenced": []}
    h.clock.advance(1.0)  # past the victim's session, not the others'
    h.heartbeat_all(others)
    assert h.tick() == {"fenced": [victim]}
    assert h.image.brokers[victim].fenced
    for p in range(3):
        state = h.state("t", p)
        assert victim not in state.isr and state.leader in others
        assert state.leader_epoch == (1 if p in led else 0)
        assert state.leader == (next(b for b in state.replicas if b != victim) if p in led
                                else state.replicas[0])


def test_the_last_in_sync_replica_lost_leaves_the_partition_unavailable_with_unclean_off(h):
    h.commit(h.controller.create_topic("t", 1, assignment=[[1, 2]]))
    h.clock.advance(SESSION + 1)
    h.heartbeat_all([1, 3])
    h.tick()
    assert h.state().isr == (1,)
    h.clock.advance(SESSION + 1)
    h.heartbeat(3)
    h.start_broker(2)  # the out-of-sync replica is alive again
    h.tick()
    state = h.state()
    assert state.leader == NO_LEADER and state.isr == (1,)  # 1 alone holds every acked record
    with pytest.raises(LeaderNotAvailableError, match="unclean.leader.election.enable is false"):
        h.controller.leader_of("t", 0)
    h.start_broker(1, incarnation="back")  # the in-sync replica returns: clean election
    assert h.state().leader == 1 and h.state().leader_epoch == 2


def test_unclean_election_when_the_topic_allows_it_reports_the_range_that_may_be_lost(h):
    h.commit(h.controller.create_topic(
        "t", 1, assignment=[[1, 2]], config={"unclean.leader.election.enable": True,
                                             "min.insync.replicas": 1}))
    h.commit(h.controller.broker_heartbeat(2, h.epochs[2], h.offset, replicas=[("t", 0, 40, 40)]))
    h.commit(h.controller.alter_partition(1, h.epochs[1], "t", 0, 0, 0, [1]))  # 2 fell behind
    h.commit(h.controller.broker_heartbeat(1, h.epochs[1], h.offset, replicas=[("t", 0, 55, 50)]))
    h.clock.advance(SESSION + 1)
    h.heartbeat_all([2, 3])
    h.tick()
    state = h.state()
    assert state.leader == 2 and state.isr == (2,) and state.leader_epoch == 1
    assert state.last_unclean_election["lost_range"] == [40, 50]


def test_isr_changes_are_accepted_only_from_the_current_leader_at_its_current_epochs(h):
    h.create("t", partitions=1, rf=3)
    leader = h.state().leader
    follower = [b for b in h.state().replicas if b != leader][0]
    epoch = h.epochs[leader]
    shrunk = [b for b in h.state().isr if b != follower]
    reply = h.commit(h.controller.alter_partition(leader, epoch, "t", 0, 0, 0, shrunk))
    assert reply["partition_epoch"] == 1 and h.state().isr == tuple(shrunk)
    with pytest.raises(InvalidUpdateVersionError, match="partition epoch 0, the current one is 1"):
        h.controller.alter_partition(leader, epoch, "t", 0, 0, 0, list(h.state().replicas))
    with pytest.raises(NotLeaderOrFollowerError, match=f"broker {follower} is not the leader"):
        h.controller.alter_partition(follower, h.epochs[follower], "t", 0, 0, 1, [follower])
    with pytest.raises(StaleBrokerEpochError):
        h.controller.alter_partition(leader, epoch - 1, "t", 0, 0, 1, shrunk)
    with pytest.raises(IneligibleReplicaError, match="broker 9 is not a replica"):
        h.controller.alter_partition(leader, epoch, "t", 0, 0, 1, shrunk + [9])
    # A new leader is elected: the old one's requests are fenced by its leader epoch.
    h.clock.advance(SESSION + 1)
    h.heartbeat_all([b for b in (1, 2, 3) if b != leader])
    h.tick()
    h.start_broker(leader, incarnation="again")
    new_leader = h.state().leader
    assert new_leader != leader and h.state().leader_epoch == 1
    with pytest.raises(FencedLeaderEpochError, match="leader epoch 0 is older than the current 1"):
        h.controller.alter_partition(leader, h.epochs[leader], "t", 0, 0, h.state().partition_epoch,
                                     [leader])


def test_a_leader_whose_copy_is_damaged_hands_its_partition_to_a_live_isr_member(h):
    """L11 with replicas: the leader leaves the ISR itself; the first live
    member of the remaining ISR leads in a new leader epoch. It may not
    leave for a replica outside the ISR, nor leave no one."""
    h.create("t", partitions=1, rf=3)
    state = h.state()
    leader, epoch = state.leader, h.epochs[state.leader]
    others = [b for b in state.replicas if b != leader]
    with pytest.raises(IneligibleReplicaError, match="non-empty list"):
        h.controller.alter_partition(leader, epoch, "t", 0, 0, 0, [])
    shrunk = h.commit(h.controller.alter_partition(leader, epoch, "t", 0, 0, 0,
                                                   [leader, others[0]]))
    with pytest.raises(IneligibleReplicaError, match="only for live members of the current ISR"):
        h.controller.alter_partition(leader, epoch, "t", 0, 0, shrunk["partition_epoch"],
                                     [others[1]])
    reply = h.commit(h.controller.alter_partition(leader, epoch, "t", 0, 0,
                                                  shrunk["partition_epoch"], [others[0]]))
    state = h.state()
    assert (state.leader, state.isr, state.leader_epoch) == (others[0], (others[0],), 1)
    assert (reply["leader"], reply["leader_epoch"]) == (others[0], 1)


def test_a_fenced_broker_cannot_rejoin_an_isr(h):
    h.create("t", partitions=1, rf=3)
    leader = h.state().leader
    follower = [b for b in h.state().replicas if b != leader][0]
    h.clock.advance(SESSION + 1)
    h.heartbeat_all([b for b in (1, 2, 3) if b != follower])
    h.tick()
    with pytest.raises(IneligibleReplicaError, match=f"broker {follower} is fenced"):
        h.controller.alter_partition(leader, h.epochs[leader], "t", 0, 0,
                                     h.state().partition_epoch, list(h.state().replicas))


def test_controlled_shutdown_moves_leadership_away_before_the_broker_may_stop(h):
    h.create("t", partitions=3, rf=3)
    leaving = h.state("t", 0).leader
    first = h.heartbeat(leaving, want_shutdown=True)
    assert not first["shutdown_ready"]
    for p in range(3):
        assert h.state("t", p).leader != leaving and leaving not in h.state("t", p).isr
    moved_at = h.offset
    # Ready only once the broker has applied the records that moved its leaderships.
    behind = h.controller.broker_heartbeat(leaving, h.epochs[leaving], moved_at - 1,
                                           want_shutdown=True)
    assert behind.reply["shutdown_ready"] is False
    assert h.heartbeat(leaving, want_shutdown=True)["shutdown_ready"] is True


def test_a_new_active_controller_gives_every_broker_a_full_session(h):
    h.create("t")
    h.clock.advance(SESSION * 10)  # no heartbeats reached this controller while it was passive
    successor = Controller(h.image, ControllerSettings(broker_session_timeout=SESSION),
                           clock=h.clock)
    successor.activate()
    assert successor.tick().records == []
    h.clock.advance(SESSION + 1)
    assert successor.tick().reply == {"fenced": [1, 2, 3]}


def test_reassignment_adds_the_new_replicas_then_drops_the_old_once_they_are_in_sync():
    h = Harness(brokers=(1, 2, 3, 4))
    h.commit(h.controller.create_topic("t", 1, assignment=[[1, 2, 3]]))
    h.commit(h.controller.reassign_partitions({("t", 0): [4, 2, 3]}))
    state = h.state()
    assert state.replicas == (4, 2, 3, 1) and state.adding == (4,) and state.removing == (1,)
    assert h.controller.reassignments() == {"t-0": {"replicas": [4, 2, 3, 1], "adding": [4],
                                                    "removing": [1]}}
    # The leader (1) reports 4 in sync: the reassignment completes, leadership leaves 1.
    h.commit(h.controller.alter_partition(1, h.epochs[1], "t", 0, 0, state.partition_epoch,
                                          [1, 2, 3, 4]))
    state = h.state()
    assert state.replicas == (4, 2, 3) and state.adding == () and state.removing == ()
    assert state.leader == 4 and 1 not in state.isr and state.leader_epoch == 1
    assert h.controller.reassignments() == {}


def test_a_reassignment_can_be_cancelled_and_cancelling_nothing_is_named():
    h = Harness(brokers=(1, 2, 3, 4))
    h.commit(h.controller.create_topic("t", 1, assignment=[[1, 2]]))
    h.commit(h.controller.reassign_partitions({("t", 0): [3, 4]}))
    h.commit(h.controller.reassign_partitions({("t", 0): None}))
    assert h.state().replicas == (1, 2) and h.state().adding == () and h.state().leader == 1
    reply = h.controller.reassign_partitions({("t", 0): None}).reply
    assert reply["results"]["t-0"]["type"] == NoReassignmentInProgressError.__name__


def test_preferred_leader_election_returns_leadership_to_the_first_replica(h):
    h.commit(h.controller.create_topic("t", 1, assignment=[[1, 2, 3]]))
    h.heartbeat(1, want_shutdown=True)
    assert h.state().leader == 2
    h.clock.advance(SESSION + 1)
    h.heartbeat_all([2, 3])
    h.tick()
    h.start_broker(1, incarnation="restarted")
    h.commit(h.controller.alter_partition(2, h.epochs[2], "t", 0, h.state().leader_epoch,
                                          h.state().partition_epoch, [2, 3, 1]))
    reply = h.commit(h.controller.elect_leaders([("t", 0), ("t", 5)]))
    assert h.state().leader == 1
    assert reply["results"]["t-0"] is None
    assert reply["results"]["t-5"]["type"] == "UnknownTopicOrPartitionError"
    again = h.controller.elect_leaders([("t", 0)]).reply
    assert again["results"]["t-0"]["type"] == "ElectionNotNeededError"


def test_the_image_survives_a_snapshot_round_trip(h):
    h.create("t", partitions=4, rf=2)
    h.heartbeat(1, want_shutdown=True)
    copy = MetadataImage.from_json(h.image.to_json())
    assert copy.digest() == h.image.digest() and copy.to_json() == h.image.to_json()


def test_leaders_go_back_to_their_preferred_replicas_at_the_imbalance_check():
    """Kafka's auto.leader.rebalance.enable: after broker 1 was away and came
    back in sync, the next check (leader.imbalance.check.interval) gives it
    back the partitions it is the first replica of; a broker under the
    imbalance percentage, or out of the ISR, is left alone."""
    h = Harness()
    h.controller = Controller(h.image, ControllerSettings(
        broker_session_timeout=SESSION, leader_imbalance_check_interval=60.0),
        clock=h.clock, rng=random.Random(7))
    h.controller.activate()
    h.commit(h.controller.create_topic("t", 3, assignment=[[1, 2, 3], [2, 3, 1], [3, 1, 2]]))
    h.heartbeat(1, want_shutdown=True)
    assert h.state("t", 0).leader == 2
    h.clock.advance(SESSION + 1)
    h.heartbeat_all([2, 3])
    h.tick()
    h.start_broker(1, incarnation="restarted")
    h.clock.advance(30)
    h.heartbeat_all([1, 2, 3])
    assert h.controller.tick().records == [], "before the check interval"
    h.clock.advance(31)
    h.heartbeat_all([1, 2, 3])
    assert h.controller.tick().records == [], "broker 1 is not back in the ISR yet"
    state = h.state("t", 0)
    h.commit(h.controller.alter_partition(2, h.epochs[2], "t", 0, state.leader_epoch,
                                          state.partition_epoch, [2, 3, 1]))
    h.clock.advance(61)
    h.heartbeat_all([1, 2, 3])
    h.tick()
    assert [h.state("t", p).leader for p in range(3)] == [1, 2, 3]
    h.clock.advance(61)
    h.heartbeat_all([1, 2, 3])
    assert h.controller.tick().records == [], "balanced: nothing to do"


def test_no_automatic_rebalance_when_it_is_disabled():
    h = Harness()
    h.controller = Controller(h.image, ControllerSettings(
        broker_session_timeout=SESSION, auto_leader_rebalance_enable=False,
        leader_imbalance_check_interval=1.0), clock=h.clock, rng=random.Random(7))
    h.controller.activate()
    h.commit(h.controller.create_topic("t", 1, assignment=[[1, 2, 3]]))
    h.heartbeat(1, want_shutdown=True)
    h.clock.advance(SESSION + 1)
    h.heartbeat_all([2, 3])
    h.tick()
    h.start_broker(1, incarnation="restarted")
    state = h.state()
    h.commit(h.controller.alter_partition(2, h.epochs[2], "t", 0, state.leader_epoch,
                                          state.partition_epoch, [2, 3, 1]))
    h.clock.advance(10)
    h.heartbeat_all([1, 2, 3])
    assert h.controller.tick().records == [] and h.state().leader == 2


@pytest.mark.parametrize("settings, named", [
    (dict(leader_imbalance_check_interval=0), "leader.imbalance.check.interval"),
    (dict(leader_imbalance_per_broker_percentage=150), "leader.imbalance.per.broker.percentage"),
])
def test_bad_rebalance_settings_are_named(settings, named):
    with pytest.raises(ConfigError, match=named):
        ControllerSettings(**settings)
