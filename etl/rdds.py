"""The RDD kind of the record readers: one partition per input split.

A ``RecordFileRDD`` lists its files when the first job prepares it (a
missing path raises then, as for ``textFile``), cuts splittable formats
into byte ranges with ``textFile``'s splits (compressed files whole) and
gives each non-splittable file (multi-line JSON and CSV) one partition.
``compute`` hands its range to the format's parser, which owns the rule
that every record is read by exactly one split.
"""

from __future__ import annotations

from typing import Any, Iterator

from ember.engine.api.rdd import RDD
from ember.engine.api.rdds import FileRangePartition
from ember.engine.io import filesystem
from ember.engine.io.textfile import compute_splits


class RecordFileRDD(RDD):
    def __init__(self, ctx: Any, path: str, parser: Any, min_partitions: int, op: str,
                 callsite: str):
        super().__init__(ctx, op, callsite)
        self.path = path
        self.parser = parser
        self.min_partitions = min_partitions

    def _get_partitions(self) -> list:
        files = filesystem.list_files(self.path)
        if self.parser.splittable:
            splits = compute_splits(files, self.min_partitions)
        else:
            splits = [(name, 0, 0, True) for name in files]
        return [FileRangePartition(index, name, start, length, whole)
                for index, (name, start, length, whole) in enumerate(splits)]

    def compute(self, split: FileRangePartition, context: Any) -> Iterator:
        return self.parser(split.path, split.start, split.length, split.extra)
