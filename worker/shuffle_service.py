"""ShuffleService: serves this worker's map output blocks to reducers on
other workers.

A ROUTER socket (CURVE server: only peers holding the cluster secret get in)
served by one thread. A ``FetchRequest`` names blocks by (shuffle, map index,
map attempt, reduce index); the reply carries each block's bytes and CRC, or
the reason it could not be read (the reducer turns that into a FetchFailed).
Block bytes are read with ``pread`` and sent without a copy.
"""

from __future__ import annotations

import logging
import threading

import zmq

from ember.engine.errors import FetchFailedError
from ember.engine.protocol import FetchRequest, FetchResponse, decode, encode
from ember.engine.shuffle import read_block
from ember.engine.transport import ClusterKeys, server_socket

log = logging.getLogger("ember.worker.shuffle")


class ShuffleService:
    def __init__(self, zctx: zmq.Context, keys: ClusterKeys, directory: str,
                 host: str = "127.0.0.1", max_message_size: int = 2 * 1024 ** 3 - 1):
        self.directory = directory
        self._sock, self.address = server_socket(zctx, zmq.ROUTER, keys, host, 0, max_message_size)
        self._control = f"inproc://ember-shuffle-stop-{id(self):x}"
        self._stop_pull = zctx.socket(zmq.PAIR)
        self._stop_pull.bind(self._control)
        self._stop_push = zctx.socket(zmq.PAIR)
        self._stop_push.connect(self._control)
        self._thread = threading.Thread(target=self._serve, name="ember-shuffle-service", daemon=True)

    def start(self) -> "ShuffleService":
        self._thread.start()
        return self

    def _serve(self) -> None:
        poller = zmq.Poller()
        poller.register(self._sock, zmq.POLLIN)
        poller.register(self._stop_pull, zmq.POLLIN)
        while True:
            ready = dict(poller.poll())
            if self._stop_pull in ready:
                return
            try:
                frames = self._sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                continue
            try:
                self._answer(frames)
            except Exception:  # noqa: BLE001 - a malformed request must not stop the service
                log.exception("bad shuffle request")

    def _answer(self, frames: list) -> None:
        identity = frames[0]
        request, _ = decode(frames[1:])
        if not isinstance(request, FetchRequest):
            return
        entries, blobs = [], []
        for map_index, attempt_id in request.blocks:
            try:
                blob, crc = read_block(self.directory, request.shuffle_id, map_index, attempt_id,
                                       request.reduce_index)
            except FetchFailedError as error:
                entries.append((map_index, 0, str(error)))
                continue
            entries.append((map_index, crc, None))
            blobs.append(blob)
        reply = encode(FetchResponse(request.request_id, tuple(entries)), *blobs)
        self._sock.send_multipart([identity, *reply], copy=False)

    def close(self) -> None:
        self._stop_push.send(b"")
        self._thread.join(timeout=5)
        for sock in (self._stop_push, self._stop_pull, self._sock):
            sock.close(linger=0)
