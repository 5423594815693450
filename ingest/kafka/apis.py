"""KafkaApis: what the Kafka listener does with each request, over the
same replica manager (produce, fetch), log manager (topics) and group
coordinator (groups, offsets) that serve ember's own protocol.

``SERVED`` is the table of what is handled here: per API key, the versions
(ApiVersions says the same, but for Produce, see ``ADVERTISED``). Versions that address topics by id (Produce 13, Fetch 13+,
OffsetCommit/OffsetFetch 10) are left out: topics have names only. Each
handler reads a request decoded by ``codec`` (the schema's field names) and
calls ``respond(response)`` once, now or later (a produce waiting for its
fsync, a fetch waiting for data, a JoinGroup or SyncGroup waiting for the
rebalance).

The store is one broker (node 0) that leads every partition, in the
partition's leader epoch; replication factor 1. A broker of a cluster
(``cluster`` set: its ``cluster_member.ClusterMember``) answers Metadata
from the cluster's image instead: every broker's Kafka listener, and per
partition its real leader, leader epoch, replicas and ISR; FindCoordinator
names the group's coordinator; CreateTopics, CreatePartitions and
DeleteTopics go to the controller. Produce, Fetch and ListOffsets are answered by a partition's
leader only (NOT_LEADER_OR_FOLLOWER elsewhere: the client refreshes its
metadata), and group requests by the group's coordinator only
(NOT_COORDINATOR).

What it must not know: sockets, framing, TLS (``server``).

Thread-safety: handlers run on the listener's loop thread; callbacks from
the flusher and coordinator post their responses back to it.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

from ember.engine.errors import EmberError, LogStoreError
from ember.ingest.kafka import codec
from ember.ingest.kafka.errors import CODES, code_of
from ember.ingest.log import record_batch
from ember.ingest.log.log_config import SETTINGS
from ember.ingest.log.log_manager import validate_topic_name

log = logging.getLogger(__name__)

# API key -> (name, lowest served version, highest served version)
_TABLE = {
    0: ("Produce", 3, 12), 1: ("Fetch", 4, 12), 2: ("ListOffsets", 1, 8), 3: ("Metadata", 0, 12),
    8: ("OffsetCommit", 2, 9), 9: ("OffsetFetch", 1, 9), 10: ("FindCoordinator", 0, 4),
    11: ("JoinGroup", 0, 9), 12: ("Heartbeat", 0, 4), 13: ("LeaveGroup", 0, 5),
    14: ("SyncGroup", 0, 5), 15: ("DescribeGroups", 0, 5), 16: ("ListGroups", 0, 5),
    17: ("SaslHandshake", 0, 1), 18: ("ApiVersions", 0, 4), 19: ("CreateTopics", 2, 7),
    20: ("DeleteTopics", 1, 6), 22: ("InitProducerId", 0, 5), 32: ("DescribeConfigs", 1, 4),
    36: ("SaslAuthenticate", 0, 2), 37: ("CreatePartitions", 0, 3),
}
API_NAMES = {key: name for key, (name, _, _) in _TABLE.items()}
SERVED = {key: (low, high) for key, (_, low, high) in _TABLE.items()}
# What ApiVersions says where it differs from SERVED: Produce from version 0,
# as Kafka 4 brokers say (KAFKA-18659): librdkafka before 2.10 turns off
# record batch v2 features, compression among them, when a broker does not
# list Produce v0-2. Requests at those versions are still refused.
ADVERTISED = {**SERVED, 0: (0, SERVED[0][1])}
NODE_ID = 0
_MAX_WAIT_MS = 60_000
_EARLIEST, _LATEST, _MAX_TIMESTAMP, _EARLIEST_LOCAL = -2, -1, -3, -4
_STATIC_BROKER_CONFIG = {"socket.request.max.bytes": None, "sasl.enabled.mechanisms": None}


def _error(name: str) -> int:
    return CODES[name]


class KafkaApis:
    def __init__(self, listener, *, logs, replicas, groups, producer_ids, cluster_id: str):
        self.listener = listener
        self.logs = logs
        self.replicas = replicas
        self.groups = groups
        self.producer_ids = producer_ids
        self.cluster_id = cluster_id
        self.cluster = None  # a broker of a cluster: its ClusterMember
        self._parked: set = set()
        self._stop_watch: Callable | None = None
        self._handlers = {key: getattr(self, "_" + name) for key, name in API_NAMES.items()}

    def start(self) -> None:
        self._stop_watch = self.replicas.watch(self._on_flushed)

    def stop(self) -> None:
        if self._stop_watch is not None:
            self._stop_watch()

    def handle(self, conn, api_key: int, version: int, body: dict, respond: Callable) -> None:
        self._handlers[api_key](conn, version, body, respond)

    # --- ApiVersions, SASL ----------------------------------------------------------

    def api_versions_response(self, error: int = 0) -> dict:
        return {"ErrorCode": error, "ThrottleTimeMs": 0, "ApiKeys": [
            {"ApiKey": key, "MinVersion": low, "MaxVersion": high}
            for key, (low, high) in sorted(ADVERTISED.items())]}

    def _ApiVersions(self, conn, version, body, respond):
        respond(self.api_versions_response())

    def _SaslHandshake(self, conn, version, body, respond):
        mechanisms = list(self.listener.mechanisms) if self.listener.sasl else []
        mechanism = body["Mechanism"]
        if not self.listener.sasl or conn.authenticated:
            respond({"ErrorCode": _error("ILLEGAL_SASL_STATE"), "Mechanisms": mechanisms},
                    close=True)
        elif mechanism not in mechanisms:
            respond({"ErrorCode": _error("UNSUPPORTED_SASL_MECHANISM"),
                     "Mechanisms": mechanisms}, close=True)
        else:
            conn.start_sasl(mechanism, raw=version == 0)
            respond({"ErrorCode": 0, "Mechanisms": mechanisms})

    def _SaslAuthenticate(self, conn, version, body, respond):
        if not self.listener.sasl or conn.authenticated:
            respond({"ErrorCode": _error("ILLEGAL_SASL_STATE"),
                     "ErrorMessage": "SaslAuthenticate outside a SASL handshake",
                     "AuthBytes": b""}, close=True)
            return
        challenge, error = conn.sasl_step(bytes(body["AuthBytes"]))
        if error is not None:
            respond({"ErrorCode": _error("SASL_AUTHENTICATION_FAILED"), "ErrorMessage": error,
                     "AuthBytes": b""}, close=True)
        else:
            respond({"ErrorCode": 0, "ErrorMessage": None, "AuthBytes": challenge,
                     "SessionLifetimeMs": 0})

    # --- topics ---------------------------------------------------------------------

    def _broker(self) -> dict:
        host, port = self.listener.address.rsplit(":", 1)
        return {"NodeId": NODE_ID, "Host": host, "Port": int(port), "Rack": None}

    def _topic_metadata(self, name) -> dict:
        try:
            if name is None:
                return {"ErrorCode": _error("UNKNOWN_TOPIC_ID"), "Name": None, "Partitions": []}
            validate_topic_name(name)
            metadata = self.logs.describe_topic(name)
        except EmberError as error:
            return {"ErrorCode": code_of(error), "Name": name, "Partitions": []}
        partitions = []
        for index in range(metadata.partitions):
            try:
                partition_log = self.logs.get_log(name, index)
                error = _error("KAFKA_STORAGE_ERROR") if partition_log.offline else 0
                epoch = partition_log.leader_epoch
            except EmberError as lookup:  # deleted meanwhile
                error, epoch = code_of(lookup), -1
            partitions.append({"ErrorCode": error, "PartitionIndex": index, "LeaderId": NODE_ID,
                               "LeaderEpoch": epoch, "ReplicaNodes": [NODE_ID],
                               "IsrNodes": [NODE_ID], "OfflineReplicas": []})
        return {"ErrorCode": 0, "Name": name, "IsInternal": False, "Partitions": partitions}

    def _cluster_brokers(self, image) -> dict[int, dict]:
        out = {}
        for broker in image.brokers.values():
            if broker.fenced or not broker.kafka:
                continue
            host, port = broker.kafka.rsplit(":", 1)
            out[broker.broker_id] = {"NodeId": broker.broker_id, "Host": host,
                                     "Port": int(port), "Rack": broker.rack}
        return out

    def _cluster_metadata(self, version, wanted) -> dict:
        image = self.cluster.image
        brokers = self._cluster_brokers(image)
        names = sorted(image.topics) if wanted is None else wanted
        topics = []
        for name in names:
            topic = image.topics.get(name) if name is not None else None
            if topic is None:
                topics.append({"ErrorCode": _error("UNKNOWN_TOPIC_OR_PARTITION"), "Name": name,
                               "Partitions": []})
                continue
            partitions = []
            for index, state in enumerate(topic.partitions):
                leader = state.leader if state.leader in brokers else -1
                partitions.append({
                    "ErrorCode": 0 if leader >= 0 else _error("LEADER_NOT_AVAILABLE"),
                    "PartitionIndex": index, "LeaderId": leader,
                    "LeaderEpoch": state.leader_epoch, "ReplicaNodes": list(state.replicas),
                    "IsrNodes": list(state.isr),
                    "OfflineReplicas": [b for b in state.replicas if b not in brokers]})
            topics.append({"ErrorCode": 0, "Name": name, "IsInternal": name.startswith("__"),
                           "Partitions": partitions})
        return {"Brokers": list(brokers.values()), "ClusterId": self.cluster_id,
                "ControllerId": self.cluster.node_id, "Topics": topics}

    def _Metadata(self, conn, version, body, respond):
        wanted = body["Topics"]
        if wanted is None or (version == 0 and not wanted):
            names = None if self.cluster is not None else self.logs.topics()
        else:
            names = [topic["Name"] for topic in wanted]
        if self.cluster is not None:
            respond(self._cluster_metadata(version, names))
            return
        respond({"Brokers": [self._broker()], "ClusterId": self.cluster_id,
                 "ControllerId": NODE_ID, "Topics": [self._topic_metadata(n) for n in names]})

    def _CreateTopics(self, conn, version, body, respond):
        results = []
        for topic in body["Topics"]:
            name = topic["Name"]
            count = topic["NumPartitions"]
            result = {"Name": name, "ErrorCode": 0, "ErrorMessage": None,
                      "NumPartitions": count, "ReplicationFactor": 1, "Configs": None}
            try:
                if self.cluster is not None:
                    if body["validateOnly"]:
                        raise _KafkaError("INVALID_REQUEST", "validateOnly is not supported by "
                                                             "a cluster")
                    made = self.cluster.create_topic(
                        name, 1 if count == -1 else count,
                        None if topic["ReplicationFactor"] == -1 else topic["ReplicationFactor"],
                        {c["Name"]: c["Value"] for c in topic["Configs"]})
                    result["NumPartitions"] = 1 if count == -1 else count
                    result["ReplicationFactor"] = made.get("replication_factor") or -1
                    results.append(result)
                    continue
                if topic["ReplicationFactor"] not in (-1, 1):
                    raise _KafkaError("INVALID_REPLICATION_FACTOR",
                                      f"replication factor {topic['ReplicationFactor']}: this "
                                      f"store is one broker, so only 1 (or -1)")
                if topic["Assignments"]:
                    raise _KafkaError("INVALID_REPLICA_ASSIGNMENT",
                                      "manual replica assignments are not supported")
                count = 1 if count == -1 else count
                if count < 1:
                    raise _KafkaError("INVALID_PARTITIONS", f"{count} partitions: expected >= 1")
                config = {c["Name"]: c["Value"] for c in topic["Configs"]}
                validate_topic_name(name)
                if body["validateOnly"]:
                    self.logs.default_config.with_overrides(config)
                    if name in self.logs.topics():
                        self.logs.describe_topic(name)
                        raise _KafkaError("TOPIC_ALREADY_EXISTS", f"topic {name!r} already exists")
                else:
                    self.logs.create_topic(name, count, config)
                result["NumPartitions"] = count
            except (EmberError, _KafkaError) as error:
                result["ErrorCode"], result["ErrorMessage"] = code_of(error), str(error)
            results.append(result)
        respond({"ThrottleTimeMs": 0, "Topics": results})

    def _DeleteTopics(self, conn, version, body, respond):
        names = body["TopicNames"] if version < 6 else [t["Name"] for t in body["Topics"]]
        results = []
        for name in names:
            result = {"Name": name, "ErrorCode": 0, "ErrorMessage": None}
            try:
                if name is None:
                    raise _KafkaError("UNKNOWN_TOPIC_ID", "topics are addressed by name here")
                if self.cluster is not None:
                    self.cluster.delete_topic(name)
                else:
                    self.logs.delete_topic(name)
            except (EmberError, _KafkaError) as error:
                result["ErrorCode"], result["ErrorMessage"] = code_of(error), str(error)
            results.append(result)
        respond({"ThrottleTimeMs": 0, "Responses": results})

    def _CreatePartitions(self, conn, version, body, respond):
        results = []
        for topic in body["Topics"]:
            result = {"Name": topic["Name"], "ErrorCode": 0, "ErrorMessage": None}
            try:
                if topic["Assignments"]:
                    raise _KafkaError("INVALID_REPLICA_ASSIGNMENT",
                                      "manual replica assignments are not supported")
                if self.cluster is not None:
                    self.cluster.create_partitions(topic["Name"], topic["Count"],
                                                   bool(body["ValidateOnly"]))
                elif body["ValidateOnly"]:
                    self.logs.check_partition_count(topic["Name"], topic["Count"])
                else:
                    self.logs.create_partitions(topic["Name"], topic["Count"])
            except (EmberError, _KafkaError) as error:
                result["ErrorCode"], result["ErrorMessage"] = code_of(error), str(error)
            results.append(result)
        respond({"ThrottleTimeMs": 0, "Results": results})

    def _DescribeConfigs(self, conn, version, body, respond):
        results = []
        for resource in body["Resources"]:
            keys = resource["ConfigurationKeys"]
            result = {"ErrorCode": 0, "ErrorMessage": None,
                      "ResourceType": resource["ResourceType"],
                      "ResourceName": resource["ResourceName"], "Configs": []}
            try:
                if resource["ResourceType"] == 2:  # topic
                    metadata = self.logs.describe_topic(resource["ResourceName"])
                    values = metadata.config.to_dict()
                    overrides = metadata.overrides
                    for key in sorted(values):
                        if keys is not None and key not in keys:
                            continue
                        source = 1 if key in overrides else 5  # DYNAMIC_TOPIC_CONFIG, DEFAULT_CONFIG
                        result["Configs"].append({
                            "Name": key, "Value": str(values[key]), "ReadOnly": False,
                            "ConfigSource": source, "IsDefault": source == 5,
                            "IsSensitive": False, "Synonyms": [], "ConfigType": 5,
                            "Documentation": SETTINGS[key][4]})
                elif resource["ResourceType"] == 4:  # broker
                    values = {"socket.request.max.bytes": str(self.listener.max_request_bytes),
                              "sasl.enabled.mechanisms": ",".join(self.listener.mechanisms)
                              if self.listener.sasl else ""}
                    for key, value in values.items():
                        if keys is None or key in keys:
                            result["Configs"].append({
                                "Name": key, "Value": value, "ReadOnly": True,
                                "ConfigSource": 4, "IsDefault": False, "IsSensitive": False,
                                "Synonyms": [], "ConfigType": 2, "Documentation": None})
                else:
                    raise _KafkaError("INVALID_REQUEST", f"resource type "
                                      f"{resource['ResourceType']}: only topics (2) and the "
                                      f"broker (4) have configs here")
            except (EmberError, _KafkaError) as error:
                result["ErrorCode"], result["ErrorMessage"] = code_of(error), str(error)
            results.append(result)
        respond({"ThrottleTimeMs": 0, "Results": results})

    # --- produce --------------------------------------------------------------------

    def _InitProducerId(self, conn, version, body, respond):
        if body["TransactionalId"] is not None:
            respond({"ErrorCode": _error("TRANSACTIONAL_ID_AUTHORIZATION_FAILED"),
                     "ProducerId": -1, "ProducerEpoch": -1})
            return
        producer_id, epoch = body["ProducerId"], body["ProducerEpoch"]
        if producer_id >= 0 and 0 <= epoch < 32767:  # KIP-360: bump the epoch of a known id
            respond({"ErrorCode": 0, "ProducerId": producer_id, "ProducerEpoch": epoch + 1})
            return
        respond({"ErrorCode": 0, "ProducerId": self.producer_ids.allocate(), "ProducerEpoch": 0})

    def _Produce(self, conn, version, body, respond):
        acks = body["Acks"]
        entries, slots, results = [], [], []
        for topic in body["TopicData"]:
            partitions = []
            results.append({"Name": topic["Name"], "PartitionResponses": partitions})
            for data in topic["PartitionData"]:
                result = {"Index": data["Index"], "ErrorCode": 0, "BaseOffset": -1,
                          "LogAppendTimeMs": -1, "LogStartOffset": -1, "RecordErrors": [],
                          "ErrorMessage": None}
                partitions.append(result)
                problem = self._check_produced(acks, body["TransactionalId"], data["Records"])
                if problem is not None:
                    result["ErrorCode"], result["ErrorMessage"] = problem
                    continue
                entries.append((topic["Name"], data["Index"], data["Records"]))
                slots.append(result)

        def done(outcomes: list, error: BaseException | None) -> None:
            for result, outcome in zip(slots, outcomes):
                failure = error if error is not None else (
                    outcome if isinstance(outcome, BaseException) else None)
                if failure is not None:
                    result["ErrorCode"], result["ErrorMessage"] = code_of(failure), str(failure)
                else:
                    result["BaseOffset"] = outcome.first_offset
            for (topic, partition, _), result in zip(entries, slots):
                try:
                    result["LogStartOffset"] = self.logs.get_log(topic, partition).log_start_offset
                except EmberError:
                    pass
            respond(None if acks == 0 else {"Responses": results, "ThrottleTimeMs": 0})

        if acks not in (-1, 0, 1):
            for result in slots:
                result["ErrorCode"] = _error("INVALID_REQUIRED_ACKS")
            respond({"Responses": results, "ThrottleTimeMs": 0})
            return
        self.replicas.append(entries, acks, done)

    @staticmethod
    def _check_produced(acks, transactional_id, records) -> tuple[int, str] | None:
        if transactional_id is not None:
            return (_error("TRANSACTIONAL_ID_AUTHORIZATION_FAILED"),
                    "transactions are not supported by this store")
        if records is None or len(records) < record_batch.HEADER_SIZE:
            return _error("INVALID_RECORD"), "no record batch in the request"
        magic = records[record_batch.MAGIC_OFFSET]
        if magic != record_batch.MAGIC:
            return (_error("UNSUPPORTED_FOR_MESSAGE_FORMAT"),
                    f"record batches of magic {magic}: only magic 2 is stored")
        size = int.from_bytes(records[8:12], "big", signed=True) + record_batch.LOG_OVERHEAD
        if size != len(records):
            return (_error("INVALID_RECORD"),
                    f"{len(records)} bytes holding a {size}-byte batch: one batch per partition")
        return None

    # --- fetch ----------------------------------------------------------------------

    def _read_all(self, body, partial: dict | None = None) -> tuple[list, int, set]:
        """Read every partition of a fetch; (responses, bytes, logs involved)."""
        budget = max(body["MaxBytes"], 1)
        total, responses, logs = 0, [], set()
        for topic in body["Topics"]:
            partitions = []
            responses.append({"Topic": topic["Topic"], "Partitions": partitions})
            for request in topic["Partitions"]:
                out = {"PartitionIndex": request["Partition"], "ErrorCode": 0,
                       "HighWatermark": -1, "LastStableOffset": -1, "LogStartOffset": -1,
                       "AbortedTransactions": None, "PreferredReadReplica": -1, "Records": b""}
                partitions.append(out)
                try:
                    limit = min(request["PartitionMaxBytes"], budget - total)
                    data, partition_log = self.replicas.read(
                        topic["Topic"], request["Partition"], request["FetchOffset"],
                        max(limit, 1))
                    if limit <= 0 and total:
                        data = b""  # past the response's budget: only the offsets
                    logs.add(partition_log)
                    out["HighWatermark"] = out["LastStableOffset"] = partition_log.high_watermark
                    out["LogStartOffset"] = partition_log.log_start_offset
                    out["Records"] = data
                    total += len(data)
                except EmberError as error:
                    out["ErrorCode"] = code_of(error)
        return responses, total, logs

    def _Fetch(self, conn, version, body, respond):
        responses, total, logs = self._read_all(body)
        errors = any(p["ErrorCode"] for t in responses for p in t["Partitions"])
        wait = min(max(body["MaxWaitMs"], 0), _MAX_WAIT_MS)
        if total >= max(body["MinBytes"], 1) or wait == 0 or errors or not logs:
            respond(self._fetch_response(responses))
            return
        parked = _ParkedFetch(self, body, respond, logs)
        self._parked.add(parked)
        parked.timer = self.listener.call_later(wait / 1000, parked.finish)

    @staticmethod
    def _fetch_response(responses) -> dict:
        return {"ThrottleTimeMs": 0, "ErrorCode": 0, "SessionId": 0, "Responses": responses}

    def _on_flushed(self, logs: set) -> None:
        """From the flusher: wake parked fetches on these logs."""
        self.listener.on_loop(self._wake, logs)

    def _wake(self, logs: set) -> None:
        for parked in list(self._parked):
            if parked.logs & logs:
                parked.poke()

    def _ListOffsets(self, conn, version, body, respond):
        topics = []
        for topic in body["Topics"]:
            partitions = []
            topics.append({"Name": topic["Name"], "Partitions": partitions})
            for request in topic["Partitions"]:
                out = {"PartitionIndex": request["PartitionIndex"], "ErrorCode": 0,
                       "Timestamp": -1, "Offset": -1, "LeaderEpoch": -1}
                partitions.append(out)
                try:
                    partition_log = self.replicas.get_log(topic["Name"], request["PartitionIndex"])
                    out["LeaderEpoch"] = partition_log.leader_epoch
                    spec = request["Timestamp"]
                    if spec in (_EARLIEST, _EARLIEST_LOCAL):
                        out["Offset"] = partition_log.log_start_offset
                    elif spec == _LATEST:
                        out["Offset"] = partition_log.high_watermark
                    elif spec == _MAX_TIMESTAMP:
                        latest = max((s.largest_timestamp for s in partition_log.segments),
                                     default=-1)
                        found = partition_log.offset_for_timestamp(latest) if latest >= 0 else None
                        if found is not None:
                            out["Offset"], out["Timestamp"] = found
                    elif spec >= 0:
                        found = partition_log.offset_for_timestamp(spec)
                        if found is not None:
                            out["Offset"], out["Timestamp"] = found
                    else:
                        raise _KafkaError("INVALID_REQUEST", f"timestamp spec {spec}")
                except (EmberError, _KafkaError) as error:
                    out["ErrorCode"] = code_of(error)
        respond({"ThrottleTimeMs": 0, "Topics": topics})

    # --- groups ---------------------------------------------------------------------

    def _coordinator_of(self, key: str, key_type: int) -> tuple[dict, int, str | None]:
        """(broker, error code, message) of the coordinator of ``key``."""
        if key_type != 0:
            return ({"NodeId": -1, "Host": "", "Port": -1}, _error("COORDINATOR_NOT_AVAILABLE"),
                    "transactions are not supported")
        if self.cluster is None:
            return self._broker(), 0, None
        try:
            node = self.cluster.find_coordinator(key)["node_id"]
            broker = self._cluster_brokers(self.cluster.image).get(node)
            if broker is None:
                raise _KafkaError("COORDINATOR_NOT_AVAILABLE",
                                  f"broker {node} has no Kafka listener")
            return broker, 0, None
        except (EmberError, _KafkaError) as error:
            return ({"NodeId": -1, "Host": "", "Port": -1}, _error("COORDINATOR_NOT_AVAILABLE"),
                    str(error))

    def _FindCoordinator(self, conn, version, body, respond):
        if self.cluster is not None:
            keys = [body["Key"]] if version < 4 else body["CoordinatorKeys"]
            found = [(key, *self._coordinator_of(key, body["KeyType"])) for key in keys]
            if version < 4:
                _, broker, error, message = found[0]
                respond({"ThrottleTimeMs": 0, "ErrorCode": error, "ErrorMessage": message,
                         "NodeId": broker["NodeId"], "Host": broker["Host"],
                         "Port": broker["Port"]})
            else:
                respond({"ThrottleTimeMs": 0, "Coordinators": [
                    {"Key": key, "NodeId": broker["NodeId"], "Host": broker["Host"],
                     "Port": broker["Port"], "ErrorCode": error, "ErrorMessage": message}
                    for key, broker, error, message in found]})
            return
        broker = self._broker()
        if version < 4:
            error = 0 if body["KeyType"] == 0 else _error("COORDINATOR_NOT_AVAILABLE")
            respond({"ThrottleTimeMs": 0, "ErrorCode": error,
                     "ErrorMessage": None if not error else "transactions are not supported",
                     "NodeId": broker["NodeId"], "Host": broker["Host"], "Port": broker["Port"]})
            return
        error = 0 if body["KeyType"] == 0 else _error("COORDINATOR_NOT_AVAILABLE")
        respond({"ThrottleTimeMs": 0, "Coordinators": [
            {"Key": key, "NodeId": broker["NodeId"], "Host": broker["Host"],
             "Port": broker["Port"], "ErrorCode": error, "ErrorMessage": None}
            for key in body["CoordinatorKeys"]]})

    def _JoinGroup(self, conn, version, body, respond):
        group_id = body["GroupId"]
        protocols = []
        for protocol in body["Protocols"]:
            topics = subscription_topics(protocol["Metadata"]) \
                if body["ProtocolType"] == "consumer" else []
            protocols.append((protocol["Name"], bytes(protocol["Metadata"]), topics))
        rebalance_timeout = body["RebalanceTimeoutMs"]
        if rebalance_timeout < 0:
            rebalance_timeout = body["SessionTimeoutMs"]

        def done(result: dict) -> None:
            if "error" in result:
                respond({"ErrorCode": _error(result["error"]), "GenerationId": -1,
                         "ProtocolName": None if version >= 7 else "", "Leader": "",
                         "MemberId": result.get("member_id", ""), "Members": []})
                return
            members = [{"MemberId": member_id, "GroupInstanceId": None,
                        "Metadata": metadata if metadata is not None
                        else encode_subscription(topics)}
                       for member_id, metadata, topics in result["members"]]
            respond({"ErrorCode": 0, "GenerationId": result["generation"],
                     "ProtocolType": "consumer", "ProtocolName": result["protocol"],
                     "Leader": result["leader"], "SkipAssignment": False,
                     "MemberId": result["member_id"], "Members": members})

        if not group_id:
            done({"error": "INVALID_GROUP_ID"})
            return
        if body["ProtocolType"] != "consumer":
            done({"error": "INCONSISTENT_GROUP_PROTOCOL"})
            return
        self.groups.kafka_join(group_id, body["MemberId"], protocols, body["SessionTimeoutMs"],
                               rebalance_timeout, conn.client_id, conn.peer.rsplit(":", 1)[0],
                               version >= 4, done)

    def _SyncGroup(self, conn, version, body, respond):
        assignments = None
        if body["Assignments"]:
            assignments = {item["MemberId"]: (bytes(item["Assignment"]),
                                              assignment_partitions(item["Assignment"]))
                           for item in body["Assignments"]}

        def done(result: dict) -> None:
            if "error" in result:
                respond({"ErrorCode": _error(result["error"]), "Assignment": b""})
            else:
                respond({"ErrorCode": 0, "ProtocolType": "consumer",
                         "ProtocolName": result["protocol"], "Assignment": result["assignment"]})

        self.groups.kafka_sync(body["GroupId"], body["MemberId"], body["GenerationId"],
                               assignments, done)

    def _Heartbeat(self, conn, version, body, respond):
        status = self.groups.heartbeat(body["GroupId"], body["MemberId"],
                                       body["GenerationId"])["status"]
        respond({"ThrottleTimeMs": 0, "ErrorCode": {
            "ok": 0, "rebalancing": _error("REBALANCE_IN_PROGRESS"),
            "stale_generation": _error("ILLEGAL_GENERATION"),
            "unknown_member": _error("UNKNOWN_MEMBER_ID"),
            "not_coordinator": _error("NOT_COORDINATOR")}[status]})

    def _LeaveGroup(self, conn, version, body, respond):
        if version < 3:
            self.groups.leave(body["GroupId"], body["MemberId"])
            respond({"ThrottleTimeMs": 0, "ErrorCode": 0})
            return
        members = []
        for member in body["Members"]:
            self.groups.leave(body["GroupId"], member["MemberId"])
            members.append({"MemberId": member["MemberId"], "GroupInstanceId": None,
                            "ErrorCode": 0})
        respond({"ThrottleTimeMs": 0, "ErrorCode": 0, "Members": members})

    def _OffsetCommit(self, conn, version, body, respond):
        offsets = [(topic["Name"], p["PartitionIndex"], p["CommittedOffset"])
                   for topic in body["Topics"] for p in topic["Partitions"]]
        error = 0
        try:
            self.groups.commit(body["GroupId"], body["MemberId"],
                               body["GenerationIdOrMemberEpoch"], offsets)
        except EmberError as failure:
            error = code_of(failure)
        respond({"ThrottleTimeMs": 0, "Topics": [
            {"Name": topic["Name"], "Partitions": [
                {"PartitionIndex": p["PartitionIndex"], "ErrorCode": error}
                for p in topic["Partitions"]]} for topic in body["Topics"]]})

    def _committed_topics(self, group_id: str, topics) -> list:
        if topics is None:
            stored = self.groups.offsets_of(group_id)
            by_topic: dict = {}
            for (topic, partition), offset in sorted(stored.items()):
                by_topic.setdefault(topic, []).append(partition)
            topics = [{"Name": name, "PartitionIndexes": parts} for name, parts in by_topic.items()]
        out = []
        for topic in topics:
            pairs = [(topic["Name"], p) for p in topic["PartitionIndexes"]]
            offsets = self.groups.committed(group_id, pairs)
            out.append({"Name": topic["Name"], "Partitions": [
                {"PartitionIndex": p, "CommittedOffset": offset, "CommittedLeaderEpoch": -1,
                 "Metadata": "", "ErrorCode": 0}
                for (_, p), offset in zip(pairs, offsets)]})
        return out

    def _committed_or_error(self, group_id: str, topics) -> tuple[int, list]:
        try:
            return 0, self._committed_topics(group_id, topics)
        except EmberError as error:
            return code_of(error), []

    def _OffsetFetch(self, conn, version, body, respond):
        if version < 8:
            error, topics = self._committed_or_error(body["GroupId"], body["Topics"])
            respond({"ThrottleTimeMs": 0, "ErrorCode": error, "Topics": topics})
            return
        groups = []
        for group in body["Groups"]:
            error, topics = self._committed_or_error(group["GroupId"], group["Topics"])
            groups.append({"GroupId": group["GroupId"], "ErrorCode": error, "Topics": topics})
        respond({"ThrottleTimeMs": 0, "Groups": groups})

    def _ListGroups(self, conn, version, body, respond):
        states = set(body["StatesFilter"] or ())
        types = set(body["TypesFilter"] or ())
        groups = [{"GroupId": group, "ProtocolType": "consumer", "GroupState": state,
                   "GroupType": "classic"} for group, state in self.groups.list_groups()
                  if (not states or state in states) and (not types or "classic" in types)]
        respond({"ThrottleTimeMs": 0, "ErrorCode": 0, "Groups": groups})

    def _DescribeGroups(self, conn, version, body, respond):
        described = []
        for group_id in body["Groups"]:
            info = self.groups.describe(group_id)
            described.append({
                "ErrorCode": 0, "ErrorMessage": None, "GroupId": group_id,
                "GroupState": info["state"], "ProtocolType": info["protocol_type"],
                "ProtocolData": info["protocol"], "AuthorizedOperations": -2147483648,
                "Members": [{
                    "MemberId": m["member_id"], "GroupInstanceId": None,
                    "ClientId": m["client_id"], "ClientHost": m["client_host"],
                    "MemberMetadata": m["metadata"] if m["kafka"]
                    else encode_subscription(m["topics"]),
                    "MemberAssignment": m["assignment_bytes"] if m["kafka"]
                    else encode_assignment(m["assignment"])} for m in info["members"]]})
        respond({"ThrottleTimeMs": 0, "Groups": described})


class _KafkaError(LogStoreError):
    """A request refused with a named Kafka error code."""

    def __init__(self, kafka_error: str, message: str):
        super().__init__(message)
        self.kafka_error = kafka_error


class _ParkedFetch:
    """A fetch waiting (up to its max wait) for min bytes of new data."""

    __slots__ = ("apis", "body", "respond", "logs", "timer", "answered")

    def __init__(self, apis: KafkaApis, body: dict, respond: Callable, logs: set):
        self.apis, self.body, self.respond, self.logs = apis, body, respond, logs
        self.timer = None
        self.answered = False

    def poke(self) -> None:
        responses, total, _ = self.apis._read_all(self.body)
        if total >= max(self.body["MinBytes"], 1):
            self._answer(responses)

    def finish(self) -> None:
        if not self.answered:
            self._answer(self.apis._read_all(self.body)[0])

    def _answer(self, responses) -> None:
        self.answered = True
        self.apis._parked.discard(self)
        if self.timer is not None:
            self.timer.cancel()
        self.respond(KafkaApis._fetch_response(responses))


# --- the consumer protocol's embedded messages -----------------------------------------

def _embedded_version(data, name: str) -> int:
    if len(data) < 2:
        raise codec.MalformedRequest(f"a {name} of {len(data)} bytes")
    version = int.from_bytes(bytes(data[:2]), "big", signed=True)
    low, high = codec.valid_versions(name)
    if version < low:
        raise codec.MalformedRequest(f"{name} version {version}")
    return min(version, high)  # later versions only add fields at the end


def subscription_topics(metadata) -> list[str]:
    """The topics of a consumer's ConsumerProtocolSubscription."""
    version = _embedded_version(metadata, "ConsumerProtocolSubscription")
    message, _ = codec.decode_prefix("ConsumerProtocolSubscription", version, metadata, 2)
    return list(message["Topics"])


def encode_subscription(topics: list[str]) -> bytes:
    return b"\x00\x00" + codec.encode_bytes("ConsumerProtocolSubscription", 0,
                                            {"Topics": list(topics), "UserData": None})


def assignment_partitions(data) -> list[tuple[str, int]]:
    if not data:
        return []
    version = _embedded_version(data, "ConsumerProtocolAssignment")
    message, _ = codec.decode_prefix("ConsumerProtocolAssignment", version, data, 2)
    return [(item["Topic"], p) for item in message["AssignedPartitions"]
            for p in item["Partitions"]]


def encode_assignment(partitions: list[tuple[str, int]]) -> bytes:
    by_topic: dict[str, list[int]] = {}
    for topic, partition in partitions:
        by_topic.setdefault(topic, []).append(partition)
    return b"\x00\x00" + codec.encode_bytes("ConsumerProtocolAssignment", 0, {
        "AssignedPartitions": [{"Topic": t, "Partitions": p} for t, p in sorted(by_topic.items())],
        "UserData": None})
