"""The ``ember`` command line (also ``python -m ember``).

Errors print one clear line and exit non-zero; ``--help`` explains each
command with an example.
"""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
        description="Run a log store broker from the shell.",
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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command in (None, "demo"):
            from ember.demo import run_logs

            run_logs(getattr(args, "master", "local[2]"), getattr(args, "records", 300_000),
                     getattr(args, "chaos", False))
        elif args.command == "wordcount":
            from ember.demo import run_wordcount

            run_wordcount(args.master, args.size, args.top)
        elif args.command == "logstore":
            from ember.ingest.broker import main as serve

            return serve(["--dir", args.dir, "--port", str(args.port), "--host", args.host]
                         + (["--secret-file", args.secret_file] if args.secret_file else [])) or 0
        return 0
    except KeyboardInterrupt:
        print("ember: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - one clear line, not a traceback
        print(f"ember: error: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
