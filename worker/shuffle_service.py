"""ShuffleService: serves this worker's map output blocks to reducers on
other workers.

A ROUTER socket (CURVE server: only peers holding the cluster secret get in)
served by one ``Endpoint`` thread, which answers each request itself. A
``FetchRequest`` names blocks by (shuffle, map index, map attempt, reduce
index); the reply carries each block's bytes and CRC, or the reason it could
not be read (the reducer turns that into a FetchFailed). Block bytes are read
with ``pread`` and sent without a copy (in bounded frames: ``transport``).
A request larger than MAX_REQUEST_BYTES is dropped unread.
"""

from __future__ import annotations

import zmq

from ember.engine import failpoints
from ember.engine.errors import FetchFailedError
from ember.engine.wire.protocol import FetchRequest, FetchResponse, decode, encode
from ember.engine.data.shuffle import read_block
from ember.engine.wire.transport import DEFAULT_MAX_MESSAGE_SIZE, ClusterKeys, Endpoint, server_socket

# A FetchRequest names a few bytes per block: this is millions of blocks.
MAX_REQUEST_BYTES = 16 * 2**20

class ShuffleService:
    def __init__(self, zctx: zmq.Context, keys: ClusterKeys, directory: str,
                 host: str = "127.0.0.1", max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE):
        self.directory = directory
        sock, self.address = server_socket(zctx, zmq.ROUTER, keys, host, 0, max_message_size)
        self._endpoint = Endpoint(zctx, sock, self._answer, "ember-shuffle-service",
                                  max_message_bytes=MAX_REQUEST_BYTES,
                                  limit_name="a shuffle fetch request's limit")

    def start(self) -> "ShuffleService":
        self._endpoint.start()
        return self

    def _answer(self, frames: list) -> None:
        identity = frames[0]
        request, _ = decode(frames[1:])
        if not isinstance(request, FetchRequest):
            return
        failpoints.point("shuffle.serve")
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
        self._endpoint.reply([identity, *reply])

    def close(self) -> None:
        self._endpoint.close()
