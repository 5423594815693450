"""The Kafka listener's command line: ``ember logstore serve --kafka-listener
...`` options, and ``ember logstore users add|remove|list`` (its SASL users).

``add NAME --dir DIR`` reads the password from standard input (one line;
asked for without echo on a terminal) and stores SCRAM-SHA-256 and
SCRAM-SHA-512 credentials, salted, in ``DIR/kafka-users.json`` (``sasl``);
a running broker picks the change up at the next login. ``remove NAME``
deletes them; ``list`` prints the names.

Thread-safety: a command-line entry point.
"""

from __future__ import annotations

import getpass
import sys

from ember.ingest.kafka.sasl import UserStore


_SERVE_OPTIONS = (
    ("--kafka-listener", "[PROTOCOL://]HOST:PORT",
     "also serve Kafka's wire protocol there: PLAINTEXT (default), SSL, SASL_PLAINTEXT or "
     "SASL_SSL; any host but loopback needs SASL_SSL"),
    ("--kafka-ssl-certfile", "FILE", "the Kafka listener's TLS certificate chain (PEM)"),
    ("--kafka-ssl-keyfile", "FILE", "the Kafka listener's TLS private key (PEM)"),
    ("--kafka-advertised-host", "HOST", "the host name Kafka clients are told to connect to"),
)


def add_kafka_serve_arguments(serve) -> None:
    for flag, metavar, help_ in _SERVE_OPTIONS:
        serve.add_argument(flag, metavar=metavar, help=help_)


def kafka_serve_arguments(args) -> list[str]:
    """The broker's arguments for the Kafka options given to ``serve``."""
    out = []
    for flag, _, _ in _SERVE_OPTIONS:
        value = getattr(args, flag[2:].replace("-", "_"), None)
        if value:
            out += [flag, value]
    return out


def add_users_command(logstore_commands) -> None:
    users = logstore_commands.add_parser(
        "users", help="manage the Kafka listener's SASL/SCRAM users",
        description="Add, remove or list the users the Kafka listener authenticates "
                    "(SCRAM-SHA-256, SCRAM-SHA-512, PLAIN). Passwords are stored salted, as "
                    "SCRAM requires, never in clear.",
        epilog="example: printf 'secret\\n' | ember logstore users add alice --dir data/log")
    actions = users.add_subparsers(dest="users_command", required=True)
    for name, help_ in (("add", "add a user, or change a user's password (read from stdin)"),
                        ("remove", "remove a user"), ("list", "list the users")):
        action = actions.add_parser(name, help=help_)
        if name != "list":
            action.add_argument("user", help="the user name")
        action.add_argument("--dir", required=True, help="the broker's log directory")


def run_users(args) -> int:
    store = UserStore(args.dir)
    if args.users_command == "list":
        for name in store.names():
            print(name)
        return 0
    if args.users_command == "remove":
        if not store.remove(args.user):
            print(f"ember: error: no user {args.user!r} in {store.path}", file=sys.stderr)
            return 1
        print(f"removed user {args.user!r}")
        return 0
    if sys.stdin.isatty():
        password = getpass.getpass(f"password for {args.user}: ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    store.add(args.user, password)
    print(f"added user {args.user!r} (SCRAM-SHA-256, SCRAM-SHA-512) to {store.path}")
    return 0
