"""Stages: the set of tasks of one job between shuffle boundaries.

A ``ShuffleMapStage`` computes the map side of one ``ShuffleDependency`` and is
complete when the MapOutputTracker holds an output for every map partition;
it is shared by every job that needs that shuffle, and skipped entirely when
its outputs already exist. A ``ResultStage`` runs the action's function on
the partitions a job asked for. Owned by the DAGScheduler's loop thread.
"""

from __future__ import annotations

from typing import Any


class Stage:
    def __init__(self, stage_id: int, rdd: Any, parents: list["Stage"], job_id: int):
        self.id = stage_id
        self.rdd = rdd
        self.parents = parents
        self.num_partitions = rdd.getNumPartitions()
        self.first_job_id = job_id
        self.job_ids: set[int] = {job_id}
        self.attempt = -1  # latest attempt number; -1 until first submitted
        self.pending: set[int] = set()  # partitions still to finish in this attempt
        self.consecutive_failures = 0  # attempts ended by fetch failures, in a row
        self.is_barrier = _computes_barrier(rdd)

    @property
    def name(self) -> str:
        return f"{self.rdd._api} at {self.rdd._callsite}"  # the user's call, as PySpark names stages

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.id}, {self.name})"


def _computes_barrier(rdd: Any) -> bool:
    """Does the stage computing ``rdd`` contain a barrier RDD (within its
    narrow lineage)?"""
    from ember.engine.api.dependency import ShuffleDependency

    stack, seen = [rdd], set()
    while stack:
        current = stack.pop()
        if current._id in seen:
            continue
        seen.add(current._id)
        if current._is_barrier():
            return True
        stack.extend(dep.rdd for dep in current.dependencies if not isinstance(dep, ShuffleDependency))
    return False


class ShuffleMapStage(Stage):
    def __init__(self, stage_id: int, rdd: Any, parents: list[Stage], job_id: int, dependency: Any):
        super().__init__(stage_id, rdd, parents, job_id)
        self.dependency = dependency
        self.shuffle_id = dependency.shuffle_id


class ResultStage(Stage):
    def __init__(self, stage_id: int, rdd: Any, parents: list[Stage], job_id: int, job: Any):
        super().__init__(stage_id, rdd, parents, job_id)
        self.job = job

    @property
    def name(self) -> str:
        return self.job.callsite  # the action: "collect at job.py:12"
