"""The replicated store's command line: ``ember logstore serve --node-id N
--cluster ...`` options, ``ember logstore controller`` (one member of the
controller quorum) and ``ember logstore reassign`` (moving partitions
between brokers with a JSON plan, as Kafka's kafka-reassign-partitions).

On several hosts: make one secret (``ember secret new --out F``) and copy
it to every host (mode 0600); on three hosts start a controller each
(``ember logstore controller --node-id 1 --dir D --port 9093 --peers
2@tcp://B:9093,3@tcp://C:9093 --initial-voters 1:X,2:Y,3:Z --incarnation X
--host 0.0.0.0 --secret-file F``, founding members only); then a broker on
each host (``ember logstore serve --dir D --node-id 1 --cluster
1@tcp://A:9093,2@tcp://B:9093,3@tcp://C:9093 --host 0.0.0.0
--advertised-host A --secret-file F``). A cluster broker never makes a
secret file: every member must hold the same one. A broker added later is
started the same way with a new node id; ``reassign`` moves partitions
onto it.

Thread-safety: a command-line entry point.
"""

from __future__ import annotations

import argparse

_SERVE_OPTIONS = (
    ("--node-id", "N", int, "this broker's id in a cluster (with --cluster)"),
    ("--cluster", "ID@tcp://HOST:PORT,...", str,
     "the controller quorum's members: join that cluster and replicate its partitions"),
    ("--advertised-host", "HOST", str,
     "the host name other brokers and clients reach this broker at (default: --host)"),
    ("--default-replication-factor", "N", int,
     "replicas of a topic created without a replication factor (default: the smaller of 3 "
     "and the brokers alive)"),
)


def add_cluster_serve_arguments(serve) -> None:
    for flag, metavar, kind, help_ in _SERVE_OPTIONS:
        serve.add_argument(flag, metavar=metavar, type=kind, help=help_)


def cluster_serve_arguments(args) -> list[str]:
    """The broker's arguments for the cluster options given to ``serve``."""
    out = []
    for flag, _, _, _ in _SERVE_OPTIONS:
        value = getattr(args, flag[2:].replace("-", "_"), None)
        if value is not None:
            out += [flag, str(value)]
    return out


def add_controller_command(logstore_commands) -> None:
    from ember.ingest.cluster.controller_server import add_arguments

    controller = logstore_commands.add_parser(
        "controller", help="run one member of a replicated store's controller quorum",
        description="Run one member of the controller quorum (Raft) that keeps a replicated "
                    "log store's brokers, topics, leaders and in-sync replicas.",
        epilog="example: ember logstore controller --node-id 1 --dir data/c1 --port 9093 "
               "--peers 2@tcp://hostb:9093,3@tcp://hostc:9093 --initial-voters "
               "1:a1,2:b2,3:c3 --incarnation a1 --secret-file cluster.secret")
    add_arguments(controller, lifeline=False)


def run_controller(args) -> int:
    from ember.ingest.cluster.controller_server import main

    argv = ["--node-id", str(args.node_id), "--dir", args.dir, "--host", args.host,
            "--port", str(args.port), "--peers", args.peers, "--cluster-id", args.cluster_id]
    for flag in ("secret_file", "initial_voters", "incarnation"):
        value = getattr(args, flag)
        if value is not None:
            argv += ["--" + flag.replace("_", "-"), value]
    for item in args.config:
        argv += ["--config", item]
    return main(argv) or 0


# --- ember logstore reassign ----------------------------------------------------------

REASSIGN_EXAMPLE = '{"version": 1, "partitions": [{"topic": "events", "partition": 0, ' \
                   '"replicas": [2, 3, 4]}]}'


def add_reassign_command(logstore_commands) -> None:
    reassign = logstore_commands.add_parser(
        "reassign", help="move partitions to other brokers of a replicated store",
        description="Move partitions between the brokers of a replicated store, as Kafka's "
                    "kafka-reassign-partitions does: --execute starts the moves of a JSON plan "
                    "(the new replicas catch up and join the in-sync set, then the old ones "
                    "are dropped; the leader moves first if it is one of them) and prints the "
                    "current assignment, to keep for a rollback; --verify reports each "
                    "partition's progress; --cancel stops the moves in progress and restores "
                    "the replicas they started from.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"example plan.json: {REASSIGN_EXAMPLE}\n  ember logstore reassign --broker "
               f"tcp://a:9092,tcp://b:9092 --secret-file cluster.secret "
               f"--reassignment-json-file plan.json --execute")
    reassign.add_argument("--broker", required=True, metavar="HOST:PORT,...",
                          help="one or more of the cluster's brokers")
    reassign.add_argument("--secret-file", required=True, metavar="FILE",
                          help="the cluster's secret file (mode 0600)")
    reassign.add_argument("--reassignment-json-file", required=True, metavar="FILE",
                          help="the plan: {\"version\": 1, \"partitions\": [{\"topic\", "
                               "\"partition\", \"replicas\"}]}")
    mode = reassign.add_mutually_exclusive_group(required=True)
    mode.add_argument("--execute", action="store_true", help="start the reassignments")
    mode.add_argument("--verify", action="store_true",
                      help="report whether each reassignment is complete")
    mode.add_argument("--cancel", action="store_true", help="cancel the reassignments in progress")


def read_reassignment_plan(path: str) -> dict[tuple[str, int], list[int]]:
    """The plan in ``path`` as ``{(topic, partition): replicas}``; ValueError
    naming the file, the entry and what was expected."""
    import json

    try:
        with open(path, encoding="utf-8") as file:
            doc = json.load(file)
    except OSError as error:
        raise ValueError(f"--reassignment-json-file {path}: {error.strerror}") from None
    except ValueError as error:
        raise ValueError(f"--reassignment-json-file {path} is not JSON: {error}") from None
    entries = doc.get("partitions") if isinstance(doc, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{path}: expected {{\"version\": 1, \"partitions\": [...]}} with at "
                         f"least one partition, e.g. {REASSIGN_EXAMPLE}")
    plan: dict[tuple[str, int], list[int]] = {}
    for number, entry in enumerate(entries, 1):
        ok = (isinstance(entry, dict) and isinstance(entry.get("topic"), str)
              and isinstance(entry.get("partition"), int) and entry["partition"] >= 0
              and isinstance(entry.get("replicas"), list) and entry["replicas"]
              and all(isinstance(b, int) and not isinstance(b, bool) and b >= 0
                      for b in entry["replicas"]))
        if not ok:
            raise ValueError(f"{path}: partition entry {number} is {json.dumps(entry)[:120]}; "
                             f"expected {{\"topic\": NAME, \"partition\": N >= 0, \"replicas\": "
                             f"[broker ids]}}")
        key = (entry["topic"], entry["partition"])
        if key in plan:
            raise ValueError(f"{path}: {key[0]}-{key[1]} is listed twice")
        plan[key] = list(entry["replicas"])
    return plan


def run_reassign(args, fail) -> int:
    import json

    from ember.ingest import connect

    try:
        plan = read_reassignment_plan(args.reassignment_json_file)
    except ValueError as error:
        fail(str(error))
    store = connect(args.broker, secret_file=args.secret_file)
    try:
        topics = store.topic_metadata(sorted({topic for topic, _ in plan}))
        current = {key: topics[key[0]]["replicas"][key[1]] if key[1] < topics[key[0]]["partitions"]
                   else None for key in plan}
        names = ",".join(f"{t}-{p}" for t, p in plan)
        if args.execute:
            print("Current partition replica assignment\n")
            print(json.dumps({"version": 1, "partitions": [
                {"topic": t, "partition": p, "replicas": current[t, p]}
                for t, p in plan if current[t, p] is not None]}))
            print("\nSave this to use as the --reassignment-json-file option during rollback")
            store.reassign_partitions(plan)
            print(f"Successfully started partition reassignments for {names}")
        elif args.cancel:
            moving = store.list_partition_reassignments()
            store.reassign_partitions({key: None for key in plan if key in moving})
            print(f"Successfully cancelled partition reassignments for "
                  f"{','.join(f'{t}-{p}' for t, p in plan if (t, p) in moving) or 'none'}")
        else:
            moving = store.list_partition_reassignments()
            print("Status of partition reassignment:")
            for (topic, partition), target in plan.items():
                key = f"{topic}-{partition}"
                if (topic, partition) in moving:
                    print(f"Reassignment of partition {key} is still in progress.")
                elif current[topic, partition] == target:
                    print(f"Reassignment of partition {key} is completed.")
                else:
                    print(f"There is no active reassignment of partition {key}, but replica "
                          f"set is {current[topic, partition]} rather than {target}.")
        return 0
    finally:
        store.close()
