"""What CURVE costs a shuffle between two hosts: the same blocks moved between
two network namespaces over ZeroMQ, once with ember's CURVE sockets
(``engine.wire.transport``, as the shuffle service and reducers use them) and once
with plain ZeroMQ, reporting each throughput's median and their ratio.

    python -m benchmarks.network_shuffle [--block-kib 1024] [--blocks 256]
                                         [--window 8] [--repeat 5]

Needs root (it makes two namespaces joined by a veth pair on 10.213.8.0/30,
deleted at the end, also on failure). The server answers each request with
one block, as a shuffle service does; the client keeps ``--window`` requests
in flight, as a reducer fetching from one peer does. Both modes send and
receive through ember's framing (``transport.send_message`` and
``MessageReader``: a block past 512 KiB crosses in pieces), so the ratio is
what CURVE alone costs. Plain ZeroMQ is used
here only, between namespaces that exist for the run: ember itself has no
way to turn CURVE off.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

SERVER, CLIENT = "10.213.8.1", "10.213.8.2"
PORT = 7411


def _namespaces() -> tuple[str, str]:
    prefix = f"embench{os.getpid()}"
    return f"{prefix}-s", f"{prefix}-c"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


def make_link() -> tuple[str, str]:
    server, client = _namespaces()
    _ip("netns", "add", server)
    try:
        _ip("netns", "add", client)
        _ip("-n", server, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0",
            "netns", client)
        for namespace, address in ((server, SERVER), (client, CLIENT)):
            _ip("-n", namespace, "addr", "add", f"{address}/30", "dev", "eth0")
            _ip("-n", namespace, "link", "set", "eth0", "up")
            _ip("-n", namespace, "link", "set", "lo", "up")
    except BaseException:
        remove_link()
        raise
    return server, client


def remove_link() -> None:
    for namespace in _namespaces():
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True)


def _sockets(kind: int, curve: bool, server: bool):
    import zmq

    from ember.engine.wire.transport import Authenticator, client_socket, derive_keys, server_socket

    zctx = zmq.Context()
    keys = derive_keys(b"benchmark secret, not a real one")
    auth = Authenticator(zctx, keys) if curve and server else None
    if server and curve:
        sock, _ = server_socket(zctx, kind, keys, SERVER, PORT)
    elif server:
        sock = zctx.socket(kind)
        sock.setsockopt(zmq.LINGER, 0)
        sock.bind(f"tcp://{SERVER}:{PORT}")
    elif curve:
        sock = client_socket(zctx, kind, keys, f"tcp://{SERVER}:{PORT}")
        sock.connect(f"tcp://{SERVER}:{PORT}")
    else:
        sock = zctx.socket(kind)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(f"tcp://{SERVER}:{PORT}")
    return zctx, auth, sock


def serve(curve: bool, block: int) -> None:
    """Answer every request with one block until told to stop."""
    import zmq

    from ember.engine.wire.transport import send_message

    zctx, auth, sock = _sockets(zmq.ROUTER, curve, server=True)
    payload = os.urandom(block)
    print("ready", flush=True)
    while True:
        identity, request = sock.recv_multipart()
        if request == b"stop":
            sock.send_multipart([identity, b"bye"])
            break
        send_message(sock, [identity, payload])
    sock.close(linger=1000)
    if auth is not None:
        auth.stop()
    zctx.term()


def fetch(curve: bool, blocks: int, window: int) -> None:
    """Fetch ``blocks`` blocks with ``window`` requests in flight; print MB/s."""
    import zmq

    from ember.engine.wire.transport import MessageReader

    zctx, _, sock = _sockets(zmq.DEALER, curve, server=False)
    reader = MessageReader(sock)

    def receive() -> list:
        while True:
            message = reader.receive()
            if message is not None:
                return message
            sock.poll()

    sock.send(b"warm-up")
    receive()
    started = time.perf_counter()
    received = sent = 0
    while sent < min(window, blocks):
        sock.send(b"block")
        sent += 1
    while received < blocks:
        received_bytes = len(receive()[0])
        received += 1
        if sent < blocks:
            sock.send(b"block")
            sent += 1
    elapsed = time.perf_counter() - started
    sock.send(b"stop")
    receive()
    print(json.dumps({"seconds": elapsed, "bytes": blocks * received_bytes}), flush=True)
    sock.close(linger=0)
    zctx.term()


def one_run(server_ns: str, client_ns: str, curve: bool, args) -> float:
    base = [sys.executable, "-m", "benchmarks.network_shuffle", "--block-kib", str(args.block_kib),
            "--blocks", str(args.blocks), "--window", str(args.window)]
    flag = ["--curve"] if curve else []
    server = subprocess.Popen(["ip", "netns", "exec", server_ns, *base, "--role", "serve", *flag],
                              stdout=subprocess.PIPE, text=True)
    try:
        if server.stdout.readline().strip() != "ready":
            raise RuntimeError("the block server did not start")
        done = subprocess.run(["ip", "netns", "exec", client_ns, *base, "--role", "fetch", *flag],
                              capture_output=True, text=True, timeout=300, check=True)
        result = json.loads(done.stdout.splitlines()[-1])
        server.wait(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        server.stdout.close()
    return result["bytes"] / result["seconds"] / 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.network_shuffle",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--block-kib", type=int, default=1024, help="block size (KiB)")
    parser.add_argument("--blocks", type=int, default=256, help="blocks per run")
    parser.add_argument("--window", type=int, default=8, help="requests in flight")
    parser.add_argument("--repeat", type=int, default=5, help="runs per mode")
    parser.add_argument("--role", choices=["serve", "fetch"], help=argparse.SUPPRESS)
    parser.add_argument("--curve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.role == "serve":
        serve(args.curve, args.block_kib * 1024)
        return 0
    if args.role == "fetch":
        fetch(args.curve, args.blocks, args.window)
        return 0
    if os.geteuid() != 0:
        print("network_shuffle: needs root to make network namespaces", file=sys.stderr)
        return 2
    server_ns, client_ns = make_link()
    try:
        rates = {"curve": [], "plain": []}
        for _ in range(args.repeat):  # interleaved, so drift affects both modes alike
            for mode in ("plain", "curve"):
                rates[mode].append(one_run(server_ns, client_ns, mode == "curve", args))
    finally:
        remove_link()
    medians = {mode: statistics.median(values) for mode, values in rates.items()}
    print(f"{args.blocks} blocks of {args.block_kib} KiB, {args.window} in flight, "
          f"median of {args.repeat} runs, between two network namespaces:")
    for mode in ("plain", "curve"):
        print(f"  {mode:5}  {medians[mode]:8.1f} MB/s   (runs: "
              f"{', '.join(f'{r:.0f}' for r in rates[mode])})")
    print(f"  CURVE / plain throughput: {medians['curve'] / medians['plain']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
