"""Line-delimited input for the record readers: chunks of whole lines with
the byte offset where each chunk starts.

A split owns the lines that start in it, by ``textFile``'s rule (the line
in progress at the split's start belongs to the split before; a line that
starts exactly at its end belongs to it), so every line is read once.
Whole files (compressed, or asked for whole) are read from the start.

Chunks are ``(base, data)``: ``data`` the raw bytes of whole lines starting
at byte ``base`` of the (decompressed) file. ``split_lines(data)`` gives
those lines without their ``\\n`` or ``\\r\\n``, for a reader that wants
them as bytes (a CSV reader decodes the chunk first and splits the text).
Offsets of single lines are computed only when asked (``offset_of``), which
a reader does only for a bad record, so the common path pays one ``split``
per MiB.

A UTF-8 byte-order mark at the start of a file is dropped.

Must not know: what a line means.
"""

from __future__ import annotations

from typing import Iterator

from ember.engine.io import filesystem

READ_CHUNK = 2**20  # bounded: a chunk and its lines are a task's working set
BOM = b"\xef\xbb\xbf"


def split_lines(data: bytes) -> list[bytes]:
    lines = data.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    if b"\r" in data:
        lines = [line[:-1] if line.endswith(b"\r") else line for line in lines]
    return lines


def split_text(data: bytes) -> tuple[str, list[str]] | None:
    """A chunk decoded as UTF-8 (a CR before each LF dropped) and its lines, as
    ``split_lines`` cuts them: line ``i`` is ``split_lines(data)[i]`` decoded.
    None when the chunk is not valid UTF-8 (a reader then goes line by line)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if "\r" in text:
        text = text.replace("\r\n", "\n")
        if text.endswith("\r"):
            text = text[:-1]
    lines = text.split("\n")
    if lines and not lines[-1]:
        lines.pop()
    return text, lines


def line_chunks(path: str, start: int, length: int,
                whole_file: bool) -> Iterator[tuple[int, bytes]]:
    if whole_file:
        stream = filesystem.open_input(path)
        limit = None
        position = 0
    else:
        stream = filesystem.open_raw(path)
        if start:
            stream.seek(start)
            stream.readline()
            position = stream.tell()
        else:
            position = 0
        if position > start + length:
            stream.close()
            return
        limit = start + length - position + 1
    with stream:
        carry = b""
        base = position
        first = position == 0
        while True:
            size = READ_CHUNK if limit is None else min(READ_CHUNK, limit)
            chunk = stream.read(size) if size > 0 else b""
            if limit is not None:
                limit -= len(chunk)
            done = not chunk or (limit is not None and limit <= 0)
            if done:
                if limit is not None and chunk and not chunk.endswith(b"\n"):
                    chunk += stream.readline()  # finish the line straddling the end
                data = carry + chunk
                cut = len(data)
            else:
                data = carry + chunk
                cut = data.rfind(b"\n") + 1
                if cut == 0:
                    carry = data
                    continue
            body, carry = data[:cut], data[cut:]
            if first:
                first = False
                if body.startswith(BOM):
                    body, base = body[3:], base + 3
            if body:
                yield base, body
            base += len(body)
            if done:
                return


def offset_of(base: int, data: bytes, index: int) -> int:
    """The byte offset of line ``index`` of a chunk."""
    position = 0
    for _ in range(index):
        position = data.index(b"\n", position) + 1
    return base + position


def line_number(path: str, offset: int) -> int:
    """The 1-based line number of the byte at ``offset`` (for error messages)."""
    count = 1
    read = 0
    with filesystem.open_input(path) as stream:
        while read < offset:
            chunk = stream.read(min(READ_CHUNK, offset - read))
            if not chunk:
                break
            count += chunk.count(b"\n")
            read += len(chunk)
    return count
