"""The ``ember`` command line (also ``python -m ember``).

Errors print one clear line and exit non-zero; ``--help`` explains each
command with an example.

Usage errors (what argparse or a check of the arguments rejects) print
``ember: error: ...`` and exit with 2; errors while running print the
exception's type and message on one line and exit with 1.

``submit`` runs a driver script in this process, as ``python SCRIPT`` would
(``__main__``, ``sys.argv``, the script's folder first on the import path),
after checking its settings and putting them where every ``Conf`` looks
first (``EMBER_MASTER``, ``EMBER_CONF``: see ``driver/conf.py``). A failure
of the script itself is the script's business: its own traceback (from its
frames, not ours) and exit status, as with ``python SCRIPT``.

``logstore topics|produce|consume|offsets`` are clients of a running broker
with the vocabulary of Kafka's console tools; they connect with the secret
file and close every connection before returning.
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import sys
import textwrap
import traceback

from ember.ingest.cluster.cli import (
    add_cluster_serve_arguments, add_controller_command, add_reassign_command,
    cluster_serve_arguments, run_controller, run_reassign,
)
from ember.ingest.kafka.cli import (
    add_kafka_serve_arguments, add_users_command, kafka_serve_arguments, run_users,
)


class _Parser(argparse.ArgumentParser):
    """Usage errors are one line naming the problem, and exit code 2."""

    def error(self, message: str):
        self.exit(2, f"ember: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ember", description="ember: a Spark-style batch engine for Python, with a bundled "
                                  "log store. Without a command, runs the demo.",
        epilog="example: ember demo --chaos")
    commands = parser.add_subparsers(dest="command")
    demo = commands.add_parser(
        "demo", help="log store -> topic RDD -> ETL on a local cluster (the default)",
        description="Produce a synthetic web access log into a log store topic, read it as an "
                    "RDD on a local cluster and aggregate it; with --chaos, SIGKILL a worker "
                    "mid-job and check that the result is identical.",
        epilog="example: ember demo --chaos --records 500000")
    demo.add_argument("--master", default="local[2]", help="master URL (default: local[2])")
    demo.add_argument("--records", type=int, default=300_000,
                      help="access-log records to produce (default: 300000)")
    demo.add_argument("--chaos", action="store_true", help="kill a worker in the middle of the job")
    wordcount = commands.add_parser(
        "wordcount", help="count the words of a generated text on a local cluster",
        description="Generate a Zipf-distributed text and count its words on a local cluster.",
        epilog="example: ember wordcount --master local[4] --size 100")
    wordcount.add_argument("--master", default="local[2]", help="master URL (default: local[2])")
    wordcount.add_argument("--size", type=float, default=50.0, help="text size in MB (default: 50)")
    wordcount.add_argument("--top", type=int, default=10, help="how many words to show (default: 10)")
    logstore = commands.add_parser(
        "logstore", help="run or use a log store broker",
        description="Run a log store broker from the shell (serve), or use a running one "
                    "(topics, produce, consume, offsets).",
        epilog="example: ember logstore serve --dir data/log --port 9092")
    logstore_commands = logstore.add_subparsers(dest="logstore_command", required=True)
    serve = logstore_commands.add_parser(
        "serve", help="serve a log directory until interrupted",
        description="Serve the log directory DIR; clients need the secret written to the "
                    "secret file (created with mode 0600 if missing).",
        epilog="example: ember logstore serve --dir data/log --port 9092")
    serve.add_argument("--dir", required=True, help="the log directory (created if missing)")
    serve.add_argument("--port", type=int, default=0, help="port to listen on (default: any free)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    serve.add_argument("--secret-file", help="the secret file (default: DIR/broker.secret)")
    add_kafka_serve_arguments(serve)
    add_cluster_serve_arguments(serve)
    add_controller_command(logstore_commands)
    add_reassign_command(logstore_commands)
    add_logstore_client_commands(logstore_commands)
    add_users_command(logstore_commands)
    add_submit_command(commands)
    add_cluster_commands(commands)
    from ember.etl.cli import add_connect_commands
    add_connect_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        argv = ["demo", *argv]  # the demo is the default command: `ember --chaos` runs it so
    args = parser.parse_args(argv)

    def fail(message: str):
        """A usage error found after parsing: one line, exit code 2."""
        words = ["ember", args.command, getattr(args, "logstore_command", None)]
        parser.exit(2, f"ember: error: {message} (see '{' '.join(filter(None, words))} --help')\n")

    try:
        if args.command in (None, "demo"):
            from ember.demo import run_logs

            run_logs(getattr(args, "master", "local[2]"), getattr(args, "records", 300_000),
                     getattr(args, "chaos", False))
        elif args.command == "wordcount":
            from ember.demo import run_wordcount

            run_wordcount(args.master, args.size, args.top)
        elif args.command == "submit":
            return run_submit(args, fail)
        elif args.command in ("worker", "secret"):
            return run_cluster_command(args)
        elif args.command == "logstore" and args.logstore_command == "users":
            return run_users(args)
        elif args.command == "logstore" and args.logstore_command == "controller":
            return run_controller(args)
        elif args.command == "logstore" and args.logstore_command == "reassign":
            return run_reassign(args, fail)
        elif args.command == "connect":
            from ember.etl.cli import run_connect
            return run_connect(args, fail)
        elif args.command == "logstore" and args.logstore_command != "serve":
            return run_logstore_client(args, fail)
        elif args.command == "logstore":
            from ember.ingest.server.broker import main as serve

            return serve(["--dir", args.dir, "--port", str(args.port), "--host", args.host]
                         + (["--secret-file", args.secret_file] if args.secret_file else [])
                         + kafka_serve_arguments(args) + cluster_serve_arguments(args)) or 0
        return 0
    except KeyboardInterrupt:
        print("ember: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - one clear line, not a traceback
        print(f"ember: error: {type(error).__name__}: {error}", file=sys.stderr)
        return 1


# --- ember submit -------------------------------------------------------------------


def add_submit_command(commands) -> None:
    submit = commands.add_parser(
        "submit", help="run a driver script with a master and settings, like spark-submit",
        description=textwrap.fill(
                    "Run SCRIPT in this process as __main__, with sys.argv = [SCRIPT, ARGS...]. "
                    "--master, --name, --conf and --py-files become the defaults of every "
                    "Context the script creates without saying otherwise (they are passed in "
                    "the EMBER_MASTER and EMBER_CONF environment variables, which child "
                    "processes inherit too). Options go before SCRIPT; everything after SCRIPT "
                    "belongs to the script.", 79),
        epilog="example:\n  ember submit --master local[4] --conf spark.task.maxFailures=2 "
               "--py-files helpers.py job.py input.txt --top 10",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    submit.add_argument("--master", help="master URL for Contexts created without one "
                                         "(for example local[4])")
    submit.add_argument("--name", help="application name (spark.app.name)")
    submit.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting, as in Conf.set (repeatable)")
    submit.add_argument("--py-files", default="", metavar="FILES",
                        help="comma-separated .py, .zip or .egg files to put on the import path "
                             "of the driver and of every worker")
    submit.add_argument("script", help="the driver script (a .py file)")
    submit.add_argument("script_args", nargs=argparse.REMAINDER, metavar="ARGS",
                        help="arguments passed to the script")


def submit_settings(args, fail) -> dict[str, str]:
    """The settings ``ember submit`` hands to the script, checked here so a
    bad one is a usage error before the script runs."""
    from ember.driver.conf import ENV_CONF, Conf, environment_defaults
    from ember.driver.master import parse_master
    from ember.engine.errors import ConfigError

    try:
        inherited = environment_defaults({ENV_CONF: os.environ.get(ENV_CONF, "")})
        settings = {key: str(value) for key, value in inherited}
    except ConfigError as error:
        fail(str(error))
    for item in args.conf:
        key, separator, value = item.partition("=")
        if not separator or not key.strip():
            fail(f"--conf {item!r}: expected KEY=VALUE, for example spark.task.maxFailures=2")
        settings[key.strip()] = value
    if args.name is not None:
        settings["spark.app.name"] = args.name
    if args.master is not None:
        try:
            parse_master(args.master)
        except ValueError as error:
            fail(str(error))
        settings["spark.master"] = args.master
    py_files = [path.strip() for path in args.py_files.split(",") if path.strip()]
    for path in py_files:
        if not os.path.isfile(path):
            fail(f"--py-files: {path} is not a file")
        if not path.endswith((".py", ".zip", ".egg")):
            fail(f"--py-files: {path} is not a .py, .zip or .egg file")
    if py_files:
        settings["spark.submit.pyFiles"] = ",".join(os.path.abspath(p) for p in py_files)
    checked = Conf(loadDefaults=False)
    for key, value in settings.items():
        try:
            checked.set(key, value)
        except ConfigError as error:
            fail(f"--conf: {error}")
    return settings


def run_submit(args, fail) -> int:
    from ember.driver.conf import ENV_CONF, ENV_MASTER

    script = os.path.abspath(args.script)
    if not os.path.isfile(script):
        fail(f"script {args.script} does not exist")
    settings = submit_settings(args, fail)
    master = settings.pop("spark.master", None)
    os.environ[ENV_CONF] = json.dumps(settings)
    if master is not None:
        os.environ[ENV_MASTER] = master
    for path in reversed(settings.get("spark.submit.pyFiles", "").split(",")):
        if path:  # importable in the driver before any Context exists, as spark-submit does
            sys.path.insert(0, os.path.dirname(path) if path.endswith(".py") else path)
    # As `python SCRIPT ARGS` would run it: its folder first on the import path.
    sys.path.insert(0, os.path.dirname(script))
    sys.argv = [args.script, *args.script_args]
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exit_:
        code = exit_.code
        if code is None or isinstance(code, int):
            return code or 0
        print(code, file=sys.stderr)
        return 1
    except Exception as error:  # noqa: BLE001 - the script's own traceback, from its frames
        tb = error.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename != script:
            tb = tb.tb_next
        traceback.print_exception(type(error), error, tb or error.__traceback__)
        return 1
    return 0


# --- ember logstore topics|produce|consume|offsets -------------------------------------

_CLIENT_EPILOGS = {
    "topics": "examples:\n  ember logstore topics --broker 127.0.0.1:9092 --secret-file data/log/broker.secret\n"
              "  ember logstore topics --broker 127.0.0.1:9092 --secret-file F --create clicks "
              "--partitions 4 --config retention.ms=86400000\n"
              "  ember logstore topics --broker 127.0.0.1:9092 --secret-file F --alter clicks "
              "--partitions 8",
    "produce": "example:\n  printf 'u1:home\\nu2:cart\\n' | ember logstore produce --broker 127.0.0.1:9092 "
               "--secret-file F --topic clicks --key-separator :",
    "consume": "example:\n  ember logstore consume --broker 127.0.0.1:9092 --secret-file F --topic clicks "
               "--from-beginning --group audit --max-messages 10 --timeout 5",
    "offsets": "example:\n  ember logstore offsets --broker 127.0.0.1:9092 --secret-file F --topic clicks "
               "--group audit",
}


def add_logstore_client_commands(logstore_commands) -> None:
    def client(name: str, help_: str, description: str) -> argparse.ArgumentParser:
        parser = logstore_commands.add_parser(name, help=help_,
                                              description=textwrap.fill(description, 79),
                                              epilog=_CLIENT_EPILOGS[name],
                                              formatter_class=argparse.RawDescriptionHelpFormatter)
        parser.add_argument("--broker", required=True, metavar="HOST:PORT",
                            help="the broker's address, as `ember logstore serve` printed it")
        parser.add_argument("--secret-file", required=True, metavar="FILE",
                            help="the broker's secret file (mode 0600)")
        return parser

    topics = client("topics", "list, create, describe, alter or delete topics",
                    "List the broker's topics (the default), or create, describe, alter (add "
                    "partitions to) or delete one.")
    action = topics.add_mutually_exclusive_group()
    action.add_argument("--list", action="store_true", help="print topic names, one a line")
    action.add_argument("--create", metavar="TOPIC", help="create TOPIC")
    action.add_argument("--describe", metavar="TOPIC", nargs="?", const="",
                        help="print partitions and settings of TOPIC (or of every topic); "
                             "of a replicated store also each partition's leader, replicas, "
                             "in-sync replicas, leader epoch and followers' lag")
    action.add_argument("--alter", metavar="TOPIC",
                        help="add partitions to TOPIC (with --partitions, the new count)")
    action.add_argument("--delete", metavar="TOPIC", help="delete TOPIC and its data")
    topics.add_argument("--partitions", type=int,
                        help="partitions of a created topic (default: 1), or the count an "
                             "altered one grows to (partitions are only ever added)")
    topics.add_argument("--replication-factor", type=int, metavar="N",
                        help="replicas of each partition of a created topic (default: the "
                             "cluster's; a single broker has 1)")
    topics.add_argument("--config", action="append", default=[], metavar="KEY=VALUE",
                        help="a topic setting with Kafka's key, e.g. retention.ms=60000 "
                             "(repeatable, with --create)")

    produce = client("produce", "send lines from standard input as records",
                     "Send each line of standard input as one record (the line without its "
                     "newline, UTF-8) and wait until every record is acknowledged (fsynced).")
    produce.add_argument("--topic", required=True)
    produce.add_argument("--key-separator", metavar="SEP",
                         help="split each line at the first SEP into key and value; a line "
                              "without SEP is an error")
    produce.add_argument("--partition", type=int, help="send every record to this partition "
                                                       "(default: by key, or spread)")

    consume = client("consume", "print records to standard output",
                     "Print the value of each record of TOPIC, one a line. Without --group the "
                     "consumer reads every partition and commits nothing; with --group it joins "
                     "that consumer group, reads from the group's committed offsets and commits "
                     "what it printed. Stops after --max-messages records, or after --timeout "
                     "seconds without a record, or on Ctrl-C.")
    consume.add_argument("--topic", required=True)
    consume.add_argument("--from-beginning", action="store_true",
                         help="start at the log start when there is no committed offset "
                              "(default: only records produced from now on)")
    consume.add_argument("--group", help="consumer group to join and commit for")
    consume.add_argument("--max-messages", type=int, metavar="N", help="stop after N records")
    consume.add_argument("--timeout", type=float, metavar="SECONDS",
                         help="stop after this long without a record (default: wait forever)")
    consume.add_argument("--print-key", action="store_true", help="print KEY<separator>VALUE")
    consume.add_argument("--print-offset", action="store_true",
                         help="prefix each line with PARTITION:OFFSET<separator>")
    consume.add_argument("--key-separator", default="\t", metavar="SEP",
                         help="separator for --print-key and --print-offset (default: tab)")

    offsets = client("offsets", "print log-start and log-end offsets per partition",
                     "Print, per partition, the log-start offset (first record kept), the "
                     "log-end offset (next offset to be written; only durable records count) "
                     "and, with --group, the group's committed offset and its lag.")
    offsets.add_argument("--topic", help="only this topic (default: every topic)")
    offsets.add_argument("--group", help="also show this consumer group's committed offsets")


def _key_value(item: str, option: str, fail) -> tuple[str, str]:
    key, separator, value = item.partition("=")
    if not separator or not key.strip():
        fail(f"{option} {item!r}: expected KEY=VALUE")
    return key.strip(), value


def run_logstore_client(args, fail) -> int:
    from ember.ingest import connect

    for name in ("partitions", "max_messages", "partition"):
        value = getattr(args, name, None)
        if value is not None and value < (0 if name == "partition" else 1):
            fail(f"--{name.replace('_', '-')} {value}: expected "
                 f"{'0 or more' if name == 'partition' else 'at least 1'}")
    if getattr(args, "timeout", None) is not None and args.timeout < 0:
        fail(f"--timeout {args.timeout:g}: expected 0 or more seconds")
    if getattr(args, "key_separator", None) == "":
        fail("--key-separator: expected a non-empty separator")
    store = connect(args.broker, secret_file=args.secret_file)
    try:
        return {"topics": _topics, "produce": _produce, "consume": _consume,
                "offsets": _offsets}[args.logstore_command](store, args, fail)
    finally:
        store.close()


def _topics(store, args, fail) -> int:
    if args.replication_factor is not None and not args.create:
        fail("--replication-factor goes with --create")
    if args.alter and args.partitions is None:
        fail(f"--alter {args.alter}: --partitions N is needed (the new partition count)")
    if args.create:
        if args.replication_factor is not None and args.replication_factor < 1:
            fail(f"--replication-factor {args.replication_factor}: expected at least 1")
        config = dict(_key_value(item, "--config", fail) for item in args.config)
        partitions = 1 if args.partitions is None else args.partitions
        store.create_topic(args.create, partitions=partitions, config=config or None,
                           replication_factor=args.replication_factor)
        print(f"Created topic {args.create} with {partitions} partition"
              f"{'s' if partitions != 1 else ''}"
              + (f" and replication factor {args.replication_factor}."
                 if args.replication_factor is not None else "."))
    elif args.alter:
        store.create_partitions(args.alter, args.partitions)
        print(f"Topic {args.alter} now has {args.partitions} partitions.")
    elif args.delete:
        store.delete_topic(args.delete)
        print(f"Deleted topic {args.delete}.")
    elif args.describe is not None:
        from ember.ingest.client.cluster_describe import describe_lines
        for line in describe_lines(store.describe_topics([args.describe] if args.describe
                                                         else None)):
            print(line)
    else:
        for topic in store.topics():
            print(topic)
    return 0


def _produce(store, args, fail) -> int:
    store.partitions_for(args.topic)  # an unknown topic fails here, before reading stdin
    producer = store.producer()
    futures = []
    try:
        for number, raw in enumerate(sys.stdin.buffer, 1):
            line = raw[:-1] if raw.endswith(b"\n") else raw
            key = None
            if args.key_separator is not None:
                key, separator, line = line.partition(args.key_separator.encode())
                if not separator:
                    raise ValueError(f"line {number} of standard input has no key separator "
                                     f"{args.key_separator!r}")
            futures.append(producer.send(args.topic, value=line, key=key, partition=args.partition))
        producer.flush()
        for future in futures:
            future.get()  # raises the first failed delivery
    finally:
        producer.close()
    print(f"Produced {len(futures)} record{'s' if len(futures) != 1 else ''} to {args.topic}.",
          file=sys.stderr)
    return 0


def _consume(store, args, fail) -> int:
    from ember.ingest import Consumer, TopicPartition

    partitions = store.partitions_for(args.topic)
    consumer = Consumer(bootstrap_servers=store.address, secret=store.secret, group_id=args.group,
                        auto_offset_reset="earliest" if args.from_beginning else "latest",
                        consumer_timeout_ms=float("inf") if args.timeout is None
                        else args.timeout * 1000)
    separator = args.key_separator.encode()
    out = sys.stdout.buffer
    count = 0
    try:
        if args.group:
            consumer.subscribe([args.topic])
        else:
            consumer.assign([TopicPartition(args.topic, p) for p in range(partitions)])
        for record in consumer:
            prefix = b""
            if args.print_offset:
                prefix += b"%d:%d" % (record.partition, record.offset) + separator
            if args.print_key:
                prefix += (record.key or b"") + separator
            out.write(prefix + (record.value or b"") + b"\n")
            out.flush()
            count += 1
            if args.max_messages is not None and count >= args.max_messages:
                break
    except KeyboardInterrupt:
        pass  # Ctrl-C ends a console consumer normally: commit what was printed
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, like cat
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    finally:
        consumer.close()
        print(f"Processed a total of {count} message{'s' if count != 1 else ''}.",
              file=sys.stderr)
    return 0


def _offsets(store, args, fail) -> int:
    from ember.ingest import Consumer, TopicPartition

    metadata = store.topic_metadata([args.topic] if args.topic else None)
    wanted = [(topic, p) for topic in sorted(metadata)
              for p in range(metadata[topic]["partitions"])]
    starts = store.list_offsets([(t, p, -2) for t, p in wanted])
    ends = store.list_offsets([(t, p, -1) for t, p in wanted])
    rows = [("TOPIC", "PARTITION", "LOG-START-OFFSET", "LOG-END-OFFSET")]
    committed: list = []
    if args.group:
        rows[0] += ("COMMITTED-OFFSET", "LAG")
        with Consumer(bootstrap_servers=store.address, secret=store.secret,
                      group_id=args.group, enable_auto_commit=False) as reader:
            committed = [reader.committed(TopicPartition(t, p)) for t, p in wanted]
    for i, ((topic, partition), start, end) in enumerate(zip(wanted, starts, ends)):
        row = (topic, partition, start, end)
        if args.group:
            done = committed[i]
            row += ("-", "-") if done is None else (done, end - done)
        rows.append(row)
    widths = [max(len(str(row[c])) for row in rows) for c in range(len(rows[0]))]
    for row in rows:
        print("  ".join(str(value).ljust(width) for value, width in zip(row, widths)).rstrip())
    return 0


# --- ember worker, ember secret ------------------------------------------------------


def add_cluster_commands(commands) -> None:
    """``ember worker`` (join a driver on another host) and ``ember secret new``."""
    from ember.worker.process import add_worker_arguments

    add_worker_arguments(commands.add_parser(
        "worker", help="join the driver of an ember://HOST:PORT master as a worker",
        description="Run a worker on this host for the driver at HOST:PORT (a program whose "
                    "master is ember://HOST:PORT). The worker exits when the driver stops, or "
                    "when the driver has been unreachable past spark.network.timeout.",
        epilog="example: ember worker --driver 10.0.0.5:7077 --secret-file ~/.ember/secret "
               "--cores 8 --memory 16g"))
    secret = commands.add_parser(
        "secret", help="make a cluster secret",
        description="Make the secret shared by a driver with an ember:// master and its "
                    "workers.")
    secret_commands = secret.add_subparsers(dest="secret_command", required=True)
    new = secret_commands.add_parser(
        "new", help="print a fresh random secret (hex), or write it to a 0600 file",
        description="Print a fresh random cluster secret as hex, or with --out write it to a "
                    "new file readable by its owner only (mode 0600).",
        epilog="example: ember secret new --out ~/.ember/secret")
    new.add_argument("--out", metavar="FILE", help="write the secret to FILE (mode 0600); "
                                                   "refuses to overwrite an existing file")


def run_cluster_command(args) -> int:
    if args.command == "worker":
        from ember.worker.process import run_remote

        return run_remote(args)
    from ember.engine.wire.secret_file import write_secret_file
    from ember.engine.wire.transport import new_secret

    secret = new_secret()
    if args.out is None:
        print(secret.hex())
        return 0
    if os.path.exists(args.out):
        raise FileExistsError(f"{args.out} already exists; remove it first to replace the secret")
    write_secret_file(args.out, secret)
    print(f"wrote a new cluster secret to {args.out} (mode 0600)", file=sys.stderr)
    return 0
