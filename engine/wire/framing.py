"""Large messages over bounded frames.

Owns how a message whose frames may be of any size crosses sockets that
accept frames of a bounded size (``ZMQ_MAXMSGSIZE``), and how the receiver
puts it back together. Used by every ember socket through ``transport``
(the driver, workers, shuffle services, the log store's broker and clients);
it knows nothing of what the frames mean.

Why: libzmq applies ``ZMQ_MAXMSGSIZE`` to each frame, not to a multipart
message, and to the frames of the CURVE handshake as much as to data: it is
also what a peer that has not authenticated can make a process buffer, per
connection. Keeping that limit small bounds what an unauthenticated peer
costs; cutting large frames keeps it from bounding what a job may move.

Wire format. A message none of whose frames is larger than ``CHUNK_BYTES``
goes as it is, so whatever reads it sees exactly what was sent. Any other
message becomes a stream of messages, sent back to back by one thread:

    head    [HEAD + the message's frame count, then the index and size of
             each frame larger than CHUNK_BYTES (uint64 each),
             the other frames, in order]
    piece   [PIECE + offset (uint64), at most CHUNK_BYTES of the large frames]

The pieces carry the large frames' bytes one after another; ``offset``
counts from the first large frame's first byte, so a piece lost when a
connection dropped is noticed rather than glued over. On a ROUTER socket
each message of the stream starts with the peer's routing id. A tag starts
with a zero byte, which no ember message (a pickle) and no log store message
(a JSON object) starts with.

Reassembly (``Reassembler``), per peer, at most one message at a time:

* Bounded: the head declares the whole message's size, which is checked
  against the receiver's limit before anything is kept; a refused message
  raises ``MessageTooLargeError`` once, and its pieces are counted and
  dropped as they arrive. A message sent whole is checked the same way.
* Held once: each large frame grows in one ``bytearray`` as its pieces
  arrive (a piece is freed as soon as it is copied), and is handed on as that
  bytearray. Frames that came whole are handed on as they came.
* Leaves nothing behind: a new message from the same peer abandons one in
  progress (its connection dropped in between), a piece that does not follow
  on abandons it too, and a message that got no piece for ``STALE_AFTER``
  seconds (its peer died) is dropped by ``sweep``.

Only peers that authenticated reach this code: CURVE and ZAP run inside
libzmq, before a frame is delivered.

Thread-safety: ``send`` on the socket's own thread; a Reassembler belongs to
one thread.
"""

from __future__ import annotations

import struct
import time
from typing import Any, Hashable

import zmq

from ember.engine.errors import MessageTooLargeError, ProtocolError

# The largest frame ember sends. The frame limit of every socket must leave
# room for it and CURVE's 33 bytes per frame (CURVE_OVERHEAD; MIN_FRAME_LIMIT).
CHUNK_BYTES = 512 * 1024
CURVE_OVERHEAD = 33
MIN_FRAME_LIMIT = CHUNK_BYTES + 1024
STALE_AFTER = 60.0

HEAD = b"\x00ember/head"
PIECE = b"\x00ember/piece"
_U64 = struct.Struct("<Q")
_PAIR = struct.Struct("<QQ")
_RCVMORE = zmq.RCVMORE


def _nbytes(frame: Any) -> int:
    return len(frame) if isinstance(frame, (bytes, bytearray, zmq.Frame)) else memoryview(frame).nbytes


def _view(frame: Any) -> memoryview:
    view = memoryview(frame)
    return view if view.format == "B" and view.ndim == 1 else view.cast("B")


def _bytes(frame: Any) -> bytes:
    return frame.bytes if isinstance(frame, zmq.Frame) else bytes(frame)


def send(sock: zmq.Socket, frames: list, routed: bool = False) -> None:
    """Send ``frames`` as one message, cut into pieces if a frame is larger
    than CHUNK_BYTES. ``routed``: the first frame is a ROUTER's routing id."""
    for index in range(1 if routed else 0, len(frames)):  # the common case, kept cheap
        frame = frames[index]
        if (frame.nbytes if type(frame) is memoryview else len(frame)) > CHUNK_BYTES:
            break
    else:
        sock.send_multipart(frames, copy=False)
        return
    _send_stream(sock, frames, routed)


def _send_stream(sock: zmq.Socket, frames: list, routed: bool) -> None:
    prefix, body = (frames[:1], frames[1:]) if routed else ([], frames)
    sizes = [_nbytes(frame) for frame in body]
    prefix = [_bytes(frame) for frame in prefix]
    large = [(index, size) for index, size in enumerate(sizes) if size > CHUNK_BYTES]
    tag = HEAD + _U64.pack(len(sizes)) + b"".join(_PAIR.pack(*item) for item in large)
    if len(tag) > CHUNK_BYTES:  # some 32 GiB in one message
        raise MessageTooLargeError(f"a message of {sum(sizes)} bytes in {len(large)} large "
                                   f"frames is more than one stream can describe", size=sum(sizes))
    head = [tag, *(frame for frame, size in zip(body, sizes) if size <= CHUNK_BYTES)]
    sock.send_multipart(prefix + head, copy=False)
    offset = 0
    for frame, size in zip(body, sizes):
        if size <= CHUNK_BYTES:
            continue
        view = _view(frame)
        for start in range(0, size, CHUNK_BYTES):
            piece = view[start:start + CHUNK_BYTES]
            sock.send_multipart([*prefix, PIECE + _U64.pack(offset), piece], copy=False)
            offset += len(piece)


def recv(sock: zmq.Socket, routed: bool = False, copy: bool = True,
         flags: int = zmq.NOBLOCK) -> list:
    """One message from ``sock`` (raises zmq.Again if none is waiting), for
    a Reassembler: the routing id and the first frame after it as bytes, a
    piece's bytes as a zmq.Frame (copied once, into its message), the other
    frames as bytes (``copy``) or as zmq.Frame (read without a copy)."""
    more = sock.getsockopt  # not the ``rcvmore`` attribute: it costs a lookup
    frames = [sock.recv(flags)]
    if routed and more(_RCVMORE):
        frames.append(sock.recv(flags))
    if more(_RCVMORE):
        copy = copy and not frames[-1].startswith(PIECE)
        frames.append(sock.recv(flags, copy=copy))
        while more(_RCVMORE):
            frames.append(sock.recv(flags, copy=copy))
    return frames


def as_bytes(frame: Any) -> Any:
    """A received frame as bytes (a reassembled one stays a bytearray)."""
    return frame.bytes if isinstance(frame, zmq.Frame) else frame


def as_buffer(frame: Any) -> Any:
    """A received frame as a buffer, without a copy."""
    return frame.buffer if isinstance(frame, zmq.Frame) else frame


class _Partial:
    """A message whose pieces are arriving."""

    __slots__ = ("frames", "large", "current", "missing", "received", "discard", "touched")

    def __init__(self, sizes: list[int], inline: list, discard: bool):
        inline = iter(inline)
        self.frames: list = []
        self.large: list[tuple[int, int]] = []  # (index in frames, size), in order
        for size in sizes:
            if size <= CHUNK_BYTES:
                self.frames.append(next(inline))
            else:
                self.large.append((len(self.frames), size))
                self.frames.append(None)
        self.current = 0  # index into ``large`` of the frame being filled
        self.missing = sum(size for _, size in self.large)
        self.received = 0
        self.discard = discard
        self.touched = time.monotonic()

    def add(self, data: memoryview) -> bool:
        """Take one piece; True once the message is complete."""
        self.touched = time.monotonic()
        self.received += len(data)
        self.missing -= len(data)
        while data and not self.discard:
            index, size = self.large[self.current]
            buffer = self.frames[index]
            if buffer is None:
                buffer = self.frames[index] = bytearray()
            take = min(size - len(buffer), len(data))
            buffer += data[:take]
            data = data[take:]
            if len(buffer) == size:
                self.current += 1
        return self.missing == 0


class Reassembler:
    """Puts streams of pieces back together, one message per peer at a time.

    ``limit``: the largest message accepted, in bytes over all its frames
    (None: any); ``limit_name`` names it in the error (a setting, say).
    """

    def __init__(self, limit: int | None = None, limit_name: str = "its limit"):
        self.limit = limit
        self.limit_name = limit_name
        self._partial: dict[Hashable, _Partial] = {}

    @property
    def pending(self) -> bool:
        """Whether a message is in progress (``sweep`` has work to do)."""
        return bool(self._partial)

    def feed(self, peer: Hashable, frames: list) -> list | None:
        """One received message (without routing frames) from ``peer``, as
        ``recv`` gives it (the list may be changed and handed back).
        Returns a whole message, its frames as received (zmq.Frame or bytes)
        or reassembled (bytearray); or None while one is in progress or being
        dropped. Raises MessageTooLargeError for a message over the limit
        (its ``head`` attribute: its first frame, if it came whole), and
        ProtocolError for a piece or head that does not parse."""
        if not frames:
            self._abandon(peer)
            return []
        first = frames[0]
        if type(first) is not bytes:
            first = frames[0] = _bytes(first)
        if first[:1] != b"\x00":  # a message sent whole: the common case, kept cheap
            if self._partial:
                self._abandon(peer)
            if self.limit is not None:
                self._check(sum(_nbytes(frame) for frame in frames), first)
            return frames
        if first.startswith(PIECE):
            return self._piece(peer, first, frames)
        if first.startswith(HEAD):
            self._head(peer, first, frames[1:])
            return None
        self._abandon(peer)
        raise ProtocolError(f"a message starting with an unknown tag {first[:16]!r}")

    def _head(self, peer: Hashable, tag: bytes, inline: list) -> None:
        self._abandon(peer)
        layout = tag[len(HEAD):]
        if len(layout) < _U64.size + _PAIR.size or (len(layout) - _U64.size) % _PAIR.size:
            raise ProtocolError(f"a stream head with a malformed layout of {len(layout)} bytes")
        (count,) = _U64.unpack_from(layout)
        large = dict(_PAIR.iter_unpack(layout[_U64.size:]))
        if (count != len(inline) + len(large) or any(index >= count for index in large)
                or any(size <= CHUNK_BYTES for size in large.values())
                or any(_nbytes(frame) > CHUNK_BYTES for frame in inline)):
            raise ProtocolError(f"a stream head of {len(inline)} frames does not match its "
                                f"layout ({count} frames, large ones {sorted(large.items())[:4]})")
        small = iter(inline)
        sizes = [large[index] if index in large else _nbytes(next(small))
                 for index in range(count)]
        inline = [as_bytes(frame) for frame in inline]
        try:
            self._check(sum(sizes), inline[0] if sizes[0] <= CHUNK_BYTES else None)
        except MessageTooLargeError:
            self._partial[peer] = _Partial(sizes, inline, discard=True)
            raise
        self._partial[peer] = _Partial(sizes, inline, discard=False)

    def _piece(self, peer: Hashable, tag: bytes, frames: list) -> list | None:
        partial = self._partial.get(peer)
        if partial is None:
            return None  # the rest of a message abandoned or swept
        if len(frames) != 2 or len(tag) != len(PIECE) + _U64.size:
            self._abandon(peer)
            raise ProtocolError(f"a malformed piece of {len(frames)} frames")
        (offset,) = _U64.unpack_from(tag, len(PIECE))
        data = _view(as_buffer(frames[1]))
        if offset != partial.received or not 0 < len(data) <= min(partial.missing, CHUNK_BYTES):
            self._abandon(peer)
            raise ProtocolError(f"a piece at offset {offset} of {len(data)} bytes where "
                                f"{partial.missing} bytes at offset {partial.received} were due")
        if not partial.add(data):
            return None
        del self._partial[peer]
        return None if partial.discard else partial.frames

    def _check(self, size: int, head: bytes | None) -> None:
        if self.limit is not None and size > self.limit:
            error = MessageTooLargeError(
                f"a message of {size} bytes is larger than the {self.limit} bytes allowed "
                f"({self.limit_name})", size=size, limit=self.limit)
            error.head = head
            raise error

    def _abandon(self, peer: Hashable) -> None:
        self._partial.pop(peer, None)

    def sweep(self, now: float | None = None) -> int:
        """Drop messages that got no piece for STALE_AFTER seconds; returns
        how many were dropped."""
        now = time.monotonic() if now is None else now
        stale = [peer for peer, partial in self._partial.items()
                 if now - partial.touched > STALE_AFTER]
        for peer in stale:
            del self._partial[peer]
        return len(stale)

    def forget(self, peer: Hashable) -> None:
        """Drop ``peer``'s message in progress (it is known to be gone)."""
        self._abandon(peer)
