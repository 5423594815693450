"""The replicated store's command line: ``ember logstore serve --node-id N
--cluster ...`` options, and ``ember logstore controller`` (one member of
the controller quorum).

On several hosts: make one secret (``ember secret new --out F``) and copy
it to every host (mode 0600); on three hosts start a controller each
(``ember logstore controller --node-id 1 --dir D --port 9093 --peers
2@tcp://B:9093,3@tcp://C:9093 --initial-voters 1:X,2:Y,3:Z --incarnation X
--host 0.0.0.0 --secret-file F``, founding members only); then a broker on
each host (``ember logstore serve --dir D --node-id 1 --cluster
1@tcp://A:9093,2@tcp://B:9093,3@tcp://C:9093 --host 0.0.0.0
--advertised-host A --secret-file F``). A cluster broker never makes a
secret file: every member must hold the same one.

Thread-safety: a command-line entry point.
"""

from __future__ import annotations

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
    return main(argv) or 0
