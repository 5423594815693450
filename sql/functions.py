"""``ember.sql.functions``: PySpark's column functions are not available on
ember (it has no DataFrame engine); each name raises NotImplementedError
naming itself and the RDD way.

>>> from ember.sql.functions import col
Traceback (most recent call last):
    ...
NotImplementedError: ember.sql.functions.col is not available on ember (no DataFrame engine): compute on the RDD instead (df.rdd.map(lambda row: ...))
"""


def __getattr__(name: str):
    if name.startswith("__"):
        raise AttributeError(name)
    raise NotImplementedError(
        f"ember.sql.functions.{name} is not available on ember (no DataFrame engine): compute "
        f"on the RDD instead (df.rdd.map(lambda row: ...))")
