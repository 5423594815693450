"""``ember connect source|sink``: the connectors of ``ember.etl.connect`` from
the shell. They connect to a running log store (``--broker`` and
``--secret-file``, as ``ember logstore`` clients do) and a database
(``--db sqlite:///PATH`` or ``--db postgresql://USER@HOST:PORT/DB``) and run
until SIGTERM or Ctrl-C (or ``--idle-exit`` seconds without a row), then
close cleanly; a kill is recovered by the next run.
"""

from __future__ import annotations

import signal


def add_connect_commands(commands) -> None:
    connect = commands.add_parser(
        "connect", help="move rows between a database and a log store topic",
        description="Run a source connector (a table tailed into a topic) or a sink connector "
                    "(a topic written into a table); each resumes where it stopped, exactly once.",
        epilog="example: ember connect source --name orders --broker 127.0.0.1:9092 "
               "--secret-file broker.secret --db sqlite:///shop.db --table orders "
               "--topic orders --incrementing-column id")
    kinds = connect.add_subparsers(dest="connect_command", required=True)
    for kind in ("source", "sink"):
        parser = kinds.add_parser(kind, help=f"run a {kind} connector until interrupted")
        parser.add_argument("--name", required=True, help="the connector's name (its stored "
                                                          "position is kept under it)")
        parser.add_argument("--broker", required=True, help="log store address HOST:PORT")
        parser.add_argument("--secret-file", required=True, help="the log store's secret file")
        parser.add_argument("--db", required=True,
                            help="sqlite:///PATH or postgresql://USER@HOST:PORT/DB")
        parser.add_argument("--table", required=True, help="the table to read or write")
        parser.add_argument("--topic", required=True, help="the topic to write or read")
        parser.add_argument("--idle-exit", type=float, default=None, metavar="SECONDS",
                            help="exit after this long without a row (default: run until "
                                 "interrupted)")
        parser.add_argument("--poll-interval", type=float, default=1.0,
                            help="seconds between polls when idle (default: 1)")
    source = kinds.choices["source"]
    source.add_argument("--mode", default="incrementing",
                        choices=["incrementing", "timestamp", "timestamp+incrementing"])
    source.add_argument("--incrementing-column", help="a strictly increasing column (id)")
    source.add_argument("--timestamp-column", help="a column updated to the time of each change")
    source.add_argument("--key-column", help="the column whose value keys each record")
    source.add_argument("--batch-max-rows", type=int, default=1000)
    source.add_argument("--partitions", type=int, default=1,
                        help="partitions of the topic if it is created (default: 1)")
    sink = kinds.choices["sink"]
    sink.add_argument("--mode", default="append", choices=["append", "upsert"])
    sink.add_argument("--key", action="append", default=[], help="a key column (upsert); "
                                                                 "repeat for several")
    sink.add_argument("--max-records", type=int, default=1000)


def run_connect(args, fail) -> int:
    from ember.etl import connect
    from ember.ingest import connect as connect_store

    if args.idle_exit is not None and args.idle_exit < 0:
        fail(f"--idle-exit {args.idle_exit:g}: expected 0 or more seconds")
    database = connect.database(args.db)
    store = connect_store(args.broker, secret_file=args.secret_file)
    try:
        if args.connect_command == "source":
            runner = connect.SourceConnector(
                args.name, store, database, args.table, args.topic, args.mode,
                args.incrementing_column, args.timestamp_column, args.key_column,
                args.batch_max_rows, args.partitions)
        else:
            runner = connect.SinkConnector(args.name, store, database, args.topic, args.table,
                                           args.mode, args.key, args.max_records)
        signal.signal(signal.SIGTERM, lambda *_: runner.stop())
        try:
            moved = runner.run(idle_timeout=args.idle_exit, poll_interval=args.poll_interval)
        finally:
            runner.close()
        print(f"{args.connect_command} connector {args.name}: {moved} rows moved")
        return 0
    finally:
        store.stop()
