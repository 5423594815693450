"""DStreamGraph: the DStreams of one StreamingContext, its inputs and its
output operations.

Owns: the lock under which every RDD of a batch is built (``lock``), the
zero time (the time before the first batch) and the batch interval, the
graph-wide remember duration (``ssc.remember``), and what travels in a
checkpoint: the pickled graph (``dumps``/``loads``: the streams reachable
from the outputs, with the user's functions; no RDD, no context), the
inputs' planned specs still needed, and the state streams' saved RDDs.

``horizon(completed)``: the oldest batch time whose input a restart can
still need: the state streams recompute from their last saved RDD, and the
windows reach back their length from there.

Must not know: threads, clocks or files (the scheduler and checkpoint
modules do).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from ember.engine.wire.serializer import dumps, loads

if TYPE_CHECKING:
    from ember.streaming.dstream import DStream


class DStreamGraph:
    def __init__(self, batch_ms: int):
        self.lock = threading.RLock()
        self.batch_ms = batch_ms
        self.streams: list["DStream"] = []
        self.inputs: list[Any] = []
        self.outputs: list[Any] = []
        self.zero: int | None = None
        self.remember_ms: int | None = None

    # --- building -------------------------------------------------------------------

    def add_stream(self, stream: "DStream") -> int:
        self.streams.append(stream)
        return len(self.streams) - 1

    def add_input(self, stream: Any) -> int:
        self.inputs.append(stream)
        return len(self.inputs) - 1

    def add_output(self, stream: Any) -> None:
        self.outputs.append(stream)

    def reachable(self) -> list["DStream"]:
        """Every stream an output operation depends on, each once, by id."""
        found: dict[int, DStream] = {}
        for output in self.outputs:
            for stream in output._streams():
                found[stream._id] = stream
        return [found[key] for key in sorted(found)]

    # --- running --------------------------------------------------------------------

    def start(self, zero: int) -> None:
        self.zero = zero
        for output in self.outputs:
            output._initialize(zero)
        for output in self.outputs:
            output._remember(self.remember_ms)
        for output in self.outputs:
            output._validate()

    def generate_jobs(self, time: int) -> list:
        with self.lock:
            jobs = [output.generate_job(time) for output in self.outputs]
        return [job for job in jobs if job is not None]

    def clear_metadata(self, time: int) -> None:
        with self.lock:
            for output in self.outputs:
                output._clear_metadata(time)

    def record_checkpoints(self) -> list[str]:
        with self.lock:
            dropped = []
            for stream in self.reachable():
                dropped.extend(stream._record_checkpoints())
            return dropped

    def state_entries(self) -> dict[int, dict[int, tuple[str, int]]]:
        with self.lock:
            return {stream._id: dict(stream._checkpointed) for stream in self.reachable()
                    if stream._checkpointed}

    def input_specs(self) -> dict[int, dict[int, Any]]:
        with self.lock:
            return {stream._input_id: dict(stream._specs) for stream in self.inputs}

    def horizon(self, completed: int) -> int:
        """Input planned before this time is no longer needed (see the module docstring)."""
        with self.lock:
            base = completed
            for stream in self.reachable():
                if stream._checkpoint_ms is not None:
                    saved = max(stream._checkpointed, default=self.zero)
                    base = min(base, saved)
            lookback = max((output._lookback_ms() for output in self.outputs), default=0)
            return base - lookback - self.batch_ms

    def lookback_ms(self) -> int:
        return max((output._lookback_ms() for output in self.outputs), default=0)

    # --- checkpoints ----------------------------------------------------------------

    def dumps(self) -> bytes:
        """The graph's shape and functions (raises if a function captures the context)."""
        return dumps({"batch_ms": self.batch_ms, "remember_ms": self.remember_ms,
                      "outputs": self.outputs, "inputs": self.inputs})

    @classmethod
    def loads(cls, data: bytes, ssc: Any) -> "DStreamGraph":
        state = loads(data)
        graph = cls(state["batch_ms"])
        graph.remember_ms = state["remember_ms"]
        graph.outputs = state["outputs"]
        graph.inputs = state["inputs"]
        graph.streams = graph.reachable()
        for stream in graph.streams:
            stream._ssc = ssc
        ssc._graph = graph
        for stream in graph.streams:
            attach = getattr(stream, "_attach", None)
            if attach is not None:
                attach()
        return graph

    def restore(self, specs: dict[int, dict[int, Any]],
                state: dict[int, dict[int, tuple[str, int]]]) -> None:
        """Put back what a checkpoint logged: inputs' specs, saved state RDDs."""
        import os

        with self.lock:
            for stream in self.inputs:
                stream._specs = dict(specs.get(stream._input_id, {}))
            by_id = {stream._id: stream for stream in self.streams}
            for stream_id, entries in state.items():
                stream = by_id.get(stream_id)
                if stream is not None:
                    stream._restore_checkpointed({t: entry for t, entry in entries.items()
                                                  if os.path.isdir(entry[0])})
