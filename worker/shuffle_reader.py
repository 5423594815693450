"""ShuffleReader: the records of one reduce partition, from every map output.

Blocks written by this worker are read from its own disk, one at a time when
their turn comes; the others are requested from the shuffle service of the
worker that wrote them, one request per worker for a window of consecutive
blocks whose remote bytes stay within ``max_in_flight``
(``spark.reducer.maxSizeInFlight``), so a reduce task holds at most about that
much fetched data. Every block is checked against its CRC. The records are
yielded in map-index order, so a reduce partition's input order (and the
output of every aggregation over it) is the same on every run.

What the task read goes into its metrics as it is handed out: records per
frame, bytes per block (and the remote share), and the time spent waiting
for fetches.

A missing map output, an unreadable or corrupt block, a peer declared lost by
the driver (``lost`` is updated by the worker's I/O thread on PeerLost) or a
peer silent past ``timeout`` raises ``FetchFailedError``: the scheduler reruns
the map task, never hands out partial data.

Thread-safety: ``read`` may run in several executor threads at once; each
thread has its own sockets.
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any, Iterator

import zmq

from ember.engine import failpoints
from ember.engine.errors import FetchFailedError, ProtocolError
from ember.engine.wire.protocol import FetchRequest, FetchResponse, decode, encode
from ember.engine.data.shuffle import block_frames, read_block, verify_block
from ember.engine.wire.framing import as_buffer
from ember.engine.wire.transport import ClusterKeys, MessageReader, client_socket, send_message


# spark.reducer.maxSizeInFlight's default: remote block bytes a reduce task
# holds fetched at once.
DEFAULT_MAX_IN_FLIGHT = 48 * 2**20


class ShuffleReader:
    def __init__(self, zctx: zmq.Context, keys: ClusterKeys, worker_id: str, directory: str,
                 lost: set[str], timeout: float, max_message_size: int,
                 max_in_flight: int = DEFAULT_MAX_IN_FLIGHT):
        self._zctx = zctx
        self._keys = keys
        self.worker_id = worker_id
        self.directory = directory
        self.lost = lost
        self.timeout = timeout
        self._max_message_size = max_message_size
        self.max_in_flight = max_in_flight
        self._local = threading.local()
        self._request_ids = itertools.count()

    def read(self, shuffle_id: int, reduce_index: int, context: Any,
             maps: range | None = None) -> Iterator:
        """The records of one reduce partition: from every map output, or
        from those of the map tasks in ``maps``."""
        statuses = context._map_outputs.get(shuffle_id)
        if statuses is None:
            raise FetchFailedError(f"no map output locations for shuffle {shuffle_id}",
                                   shuffle_id=shuffle_id, map_index=0, reduce_index=reduce_index,
                                   worker_id=None)
        for map_index, status in enumerate(statuses):
            if status is None:
                raise FetchFailedError(
                    f"map output {map_index} of shuffle {shuffle_id} is missing",
                    shuffle_id=shuffle_id, map_index=map_index, reduce_index=reduce_index,
                    worker_id=None)
        wanted = [(map_index, status) for map_index, status in enumerate(statuses)
                  if (maps is None or map_index in maps) and status.block_size(reduce_index)]
        # Records are pulled through chain in C: no Python step per record.
        return itertools.chain.from_iterable(
            self._frames(shuffle_id, reduce_index, wanted, context._metrics))

    def _windows(self, reduce_index: int, wanted: list) -> Iterator[list]:
        """Consecutive runs of the wanted blocks whose remote blocks together
        stay within ``max_in_flight`` bytes (at least one block per run)."""
        window: list = []
        in_flight = 0
        for map_index, status in wanted:
            if status.worker_id != self.worker_id:
                size = status.block_size(reduce_index)
                if in_flight and in_flight + size > self.max_in_flight:
                    yield window
                    window, in_flight = [], 0
                in_flight += size
            window.append((map_index, status))
        if window:
            yield window

    def _frames(self, shuffle_id: int, reduce_index: int, wanted: list,
                metrics: Any) -> Iterator[list]:
        for window in self._windows(reduce_index, wanted):
            remote: dict[str, tuple[str, list[tuple[int, int]]]] = {}
            for map_index, status in window:
                if status.worker_id != self.worker_id:
                    remote.setdefault(status.address, (status.worker_id, []))[1].append(
                        (map_index, status.attempt_id))
            blocks: dict[int, Any] = {}
            if remote:
                waited = time.perf_counter()
                self._fetch(shuffle_id, reduce_index, remote, blocks)
                metrics.shuffle_fetch_wait += time.perf_counter() - waited
            for map_index, status in window:
                blob = blocks.pop(map_index, None)
                if blob is None:  # written here: read from disk only when its turn comes
                    blob, crc = read_block(self.directory, shuffle_id, map_index,
                                           status.attempt_id, reduce_index)
                    verify_block(blob, crc, shuffle_id, map_index, reduce_index, self.worker_id)
                else:
                    metrics.shuffle_remote_bytes += len(blob)
                metrics.shuffle_read_bytes += len(blob)
                for frame in block_frames(blob):
                    metrics.shuffle_read_records += len(frame)
                    yield frame
                del blob

    def _socket(self, address: str) -> MessageReader:
        sockets = getattr(self._local, "sockets", None)
        if sockets is None:
            sockets = self._local.sockets = {}
        reader = sockets.get(address)
        if reader is None:
            sock = client_socket(self._zctx, zmq.DEALER, self._keys, address,
                                 max_message_size=self._max_message_size)
            sock.connect(address)
            reader = sockets[address] = MessageReader(sock)
        return reader

    def _drop_socket(self, address: str) -> None:
        reader = getattr(self._local, "sockets", {}).pop(address, None)
        if reader is not None:
            reader.sock.close(linger=0)

    def _fetch(self, shuffle_id: int, reduce_index: int,
               remote: dict[str, tuple[str, list[tuple[int, int]]]], blocks: dict[int, Any]) -> None:
        def failure(message: str, worker_id: str, wanted: list[tuple[int, int]]) -> FetchFailedError:
            return FetchFailedError(message, shuffle_id=shuffle_id, map_index=wanted[0][0],
                                    reduce_index=reduce_index, worker_id=worker_id)

        pending: dict[int, tuple[str, str, list[tuple[int, int]]]] = {}
        readers: dict[zmq.Socket, tuple[MessageReader, int]] = {}
        poller = zmq.Poller()
        for address, (worker_id, wanted) in remote.items():
            if worker_id in self.lost:
                raise failure(f"worker {worker_id} holding shuffle {shuffle_id} output is lost",
                              worker_id, wanted)
            reader = self._socket(address)
            request_id = next(self._request_ids)
            send_message(reader.sock, encode(FetchRequest(request_id, shuffle_id, reduce_index,
                                                          tuple(wanted))))
            pending[request_id] = (address, worker_id, wanted)
            readers[reader.sock] = (reader, request_id)
            poller.register(reader.sock, zmq.POLLIN)
        deadline = time.monotonic() + self.timeout
        while pending:
            for sock, _ in poller.poll(100):
                reader, request_id = readers[sock]
                try:
                    frames = reader.receive()
                except ProtocolError as error:  # a response that lost a piece on the way
                    address, worker_id, wanted = pending[request_id]
                    self._drop_socket(address)
                    raise failure(f"a broken response from worker {worker_id} ({address}) for "
                                  f"shuffle {shuffle_id}: {error}", worker_id, wanted) from None
                if frames is None:
                    continue  # a response still arriving in pieces
                response, payloads = decode(frames)
                entry = pending.pop(getattr(response, "request_id", -1), None)
                if not isinstance(response, FetchResponse) or entry is None:
                    continue  # the answer to an abandoned earlier request
                poller.unregister(sock)
                address, worker_id, wanted = entry
                blobs = iter(payloads)
                for map_index, crc, error in response.entries:
                    if error is not None:
                        raise failure(error, worker_id, [(map_index, 0)])
                    blob = as_buffer(next(blobs))
                    verify_block(blob, crc, shuffle_id, map_index, reduce_index, worker_id)
                    blocks[map_index] = blob
                failpoints.point("shuffle.mid_fetch")
            for address, worker_id, wanted in pending.values():
                if worker_id in self.lost:
                    self._drop_socket(address)
                    raise failure(f"worker {worker_id} was lost while serving shuffle {shuffle_id}",
                                  worker_id, wanted)
            if time.monotonic() > deadline:
                address, worker_id, wanted = next(iter(pending.values()))
                self._drop_socket(address)
                raise failure(f"no answer from worker {worker_id} ({address}) for shuffle "
                              f"{shuffle_id} within {self.timeout:.0f} s", worker_id, wanted)
