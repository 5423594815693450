"""The grouped values of ``groupByKey`` and ``cogroup``, as in PySpark: an
iterable over a list that also has a length."""

from __future__ import annotations

from collections.abc import Iterable


class ResultIterable(Iterable):
    """A lazily-iterable view of one key's grouped values.

    >>> values = ResultIterable([1, 2, 3])
    >>> len(values), list(values), sum(values)
    (3, [1, 2, 3], 6)
    """

    def __init__(self, data: list):
        self.data = data
        self.index = 0
        self.maxindex = len(data)

    def __iter__(self):
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)
