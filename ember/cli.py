"""The ``ember`` command line (also ``python -m ember``).

Errors print one clear line and exit non-zero; ``--help`` explains each
command with an example.
"""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ember", description="ember: a Spark-style batch engine for Python.",
        epilog="example: ember demo --master local[4] --size 100")
    commands = parser.add_subparsers(dest="command")
    demo = commands.add_parser(
        "demo", help="count the words of a generated text on a local cluster (the default)",
        description="Generate a Zipf-distributed text and count its words on a local cluster.",
        epilog="example: ember demo --master local[4] --size 100")
    demo.add_argument("--master", default="local[2]", help="master URL (default: local[2])")
    demo.add_argument("--size", type=float, default=50.0, help="text size in MB (default: 50)")
    demo.add_argument("--top", type=int, default=10, help="how many words to show (default: 10)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command in (None, "demo"):
            from ember.demo import run

            run(getattr(args, "master", "local[2]"), getattr(args, "size", 50.0), getattr(args, "top", 10))
        return 0
    except KeyboardInterrupt:
        print("ember: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - one clear line, not a traceback
        print(f"ember: error: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
