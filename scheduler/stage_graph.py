"""The shape of a job's stages, as plain data for the status page's picture.

``shape_of(stage)`` describes one scheduler ``Stage``: its kind, the stages
whose shuffles it reads (its parents: one arrow each on the page), and the
RDDs it computes, from the shuffle reads (or sources) to the stage's last
RDD, each with the narrow parents inside the stage, its name and call site,
and whether it is persisted (cached RDDs are marked on the page).

Shapes are immutable (frozen dataclasses of tuples), made once per stage on
the scheduler's loop when a job is submitted, so a snapshot handed to
another thread shares them without a copy.

Must not know: how the page draws them, task records, the wire.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ember.engine.api.dependency import ShuffleDependency
from ember.engine.api.storage import StorageLevel


@dataclass(frozen=True)
class RddNode:
    id: int
    label: str  # the operations that made it ("map, filter" for a fused pipeline)
    name: str | None  # the user's name (setName)
    callsite: str
    storage: str | None  # the storage level when persisted, else None
    parents: tuple[int, ...]  # narrow parents within the stage
    shuffle: int | None = None  # the shuffle id it reads (the stage's input), if any

    @property
    def cached(self) -> bool:
        return self.storage is not None


@dataclass(frozen=True)
class StageShape:
    stage_id: int
    name: str
    kind: str  # "shuffle map" or "result"
    parents: tuple[int, ...]  # stages whose shuffle output this stage reads
    rdds: tuple[RddNode, ...]  # parents before children; the stage's own RDD last
    shuffle_id: int | None = None  # the shuffle a map stage writes

    def to_dict(self) -> dict:
        return {"id": self.stage_id, "name": self.name, "kind": self.kind,
                "parents": list(self.parents), "shuffleId": self.shuffle_id,
                "rdds": [{"id": n.id, "label": n.label, "name": n.name, "callsite": n.callsite,
                          "storageLevel": n.storage, "cached": n.cached,
                          "parents": list(n.parents), "readsShuffle": n.shuffle}
                         for n in self.rdds]}


def _label(rdd: Any) -> str:
    ops = getattr(getattr(rdd, "_func", None), "ops", None)
    if ops:
        return ", ".join(op for op, *_ in ops)
    return str(rdd._op)


def shape_of(stage: Any) -> StageShape:
    """The shape of a scheduler Stage (memoized on it: a stage's lineage is
    fixed once the stage exists)."""
    shape = getattr(stage, "_shape", None)
    if shape is not None:
        return shape
    nodes: dict[int, RddNode] = {}
    order: list[int] = []

    def visit(rdd: Any) -> None:
        # Depth-first, parents first; iterative, as lineages can be long.
        stack = [(rdd, False)]
        while stack:
            current, expanded = stack.pop()
            rid = current.id()
            if rid in nodes and not expanded:
                continue
            deps = current.dependencies
            narrow = [d.rdd for d in deps if not isinstance(d, ShuffleDependency)]
            if not expanded:
                stack.append((current, True))
                stack.extend((parent, False) for parent in reversed(narrow)
                             if parent.id() not in nodes)
                nodes.setdefault(rid, None)  # type: ignore[arg-type] - placeholder
                continue
            shuffles = [d.shuffle_id for d in deps if isinstance(d, ShuffleDependency)]
            level = current._storage_level
            nodes[rid] = RddNode(
                rid, _label(current), current._name, str(current._callsite),
                str(level) if level != StorageLevel.NONE else None,
                tuple(dict.fromkeys(p.id() for p in narrow)),
                shuffles[0] if shuffles else None)
            order.append(rid)

    visit(stage.rdd)
    dependency = getattr(stage, "dependency", None)
    shape = StageShape(
        stage.id, stage.name, "shuffle map" if dependency is not None else "result",
        tuple(parent.id for parent in stage.parents), tuple(nodes[rid] for rid in order),
        getattr(dependency, "shuffle_id", None))
    stage._shape = shape
    return shape
