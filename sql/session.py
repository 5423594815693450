"""SparkSession: the entry point PySpark programs start from, over one
ember Context.

``SparkSession.builder.appName(...).getOrCreate()`` returns the running
session, or makes one: the builder's settings become the Context's
configuration (``SparkContext.getOrCreate``, so a Context the program made
first is the one used), and its runtime settings the session's own
(``spark.conf``). Sessions made later (``newSession``, ``builder.create``)
share the Context, each with its own runtime settings. The first session of
a running Context is the default one (``builder.getOrCreate``,
``SparkSession.active``); the session used or made last is the active one
(``SparkSession.getActiveSession``). ``stop()`` stops the Context and
forgets both, as PySpark does.

A session makes DataFrames (``ember.sql.dataframe``) from text files
(``spark.read.text``), local data or RDDs (``createDataFrame``, and
``rdd.toDF``, which a session enables as PySpark's does), and ranges.
Everything else of PySpark's session (``sql``, ``table``, ``catalog``,
``udf``, streaming) raises NotImplementedError naming the RDD way.

Thread-safety: the builder's ``getOrCreate`` and ``create`` hold one lock;
a session is used from one thread at a time, like its Context.

Must not know: how RDDs are computed.
"""

from __future__ import annotations

import logging
import threading
from functools import reduce
from typing import Any, ClassVar, Iterable

from ember.driver.conf import Conf
from ember.driver.context import Context
from ember.engine.api.rdd import RDD
from ember.engine.errors import DriverOnlyError
from ember.sql.conf import RuntimeConfig, conf_text
from ember.sql.dataframe import DataFrame
from ember.sql.readwriter import DataFrameReader
from ember.sql.types import (
    DataType,
    LongType,
    StructField,
    StructType,
    has_null_type,
    infer_schema,
    merge_types,
    parse_type,
    to_row,
    verify,
    _create_row,
)

log = logging.getLogger("ember.sql")

_SESSION_WAYS = {
    "sql": "no SQL engine: express the query with RDD transformations",
    "table": "keep the RDD (or DataFrame) in a variable",
    "catalog": "no catalog: keep RDDs in variables",
    "udf": "no UDFs: call the function in rdd.map",
    "udtf": "no UDTFs: call the function in rdd.flatMap",
    "readStream": "ember.streaming (DStreams) reads streams",
    "streams": "ember.streaming (DStreams) reads streams",
}


class _ClassProperty:
    def __init__(self, getter: Any):
        self.getter = getter

    def __get__(self, instance: Any, owner: type) -> Any:
        return self.getter(owner)


class SparkSession:
    """The entry point of PySpark programs, over one ember Context.

    >>> session = SparkSession.builder.appName("doc").getOrCreate()
    >>> session is spark, session.sparkContext is sc
    (True, True)
    >>> spark.createDataFrame([(1, "a")], "n long, s string").collect()
    [Row(n=1, s='a')]
    """

    _instantiatedSession: ClassVar["SparkSession | None"] = None  # the default session
    _activeSession: ClassVar["SparkSession | None"] = None  # the one used or made last

    class Builder:
        """Settings for the session ``getOrCreate`` returns."""

        _lock = threading.RLock()

        def __init__(self) -> None:
            self._options: dict[str, str] = {}

        def config(self, key: str | None = None, value: Any = None, conf: Conf | None = None,
                   *, map: dict | None = None) -> "SparkSession.Builder":
            """A setting (``key``, ``value``), every setting of a SparkConf
            (``conf=``), or a dict of them (``map=``)."""
            with self._lock:
                if conf is not None:
                    for name, text in conf.getAll():
                        self._options[name] = text
                if map is not None:
                    for name, item in map.items():
                        self._options[str(name)] = conf_text(item)
                if key is not None:
                    self._options[str(key)] = conf_text(value)
            return self

        def appName(self, name: str) -> "SparkSession.Builder":
            return self.config("spark.app.name", name)

        def master(self, master: str) -> "SparkSession.Builder":
            return self.config("spark.master", master)

        def enableHiveSupport(self) -> "SparkSession.Builder":
            """Accepted for PySpark programs' sake; ember has no Hive catalog."""
            log.debug("enableHiveSupport(): ember has no Hive catalog; the call has no effect")
            return self

        def remote(self, url: str) -> "SparkSession.Builder":
            raise NotImplementedError(
                f"SparkSession.builder.remote({url!r}): Spark Connect is not available on ember; "
                f"use master(...) (local[N], ember://HOST:PORT)")

        def getOrCreate(self) -> "SparkSession":
            """The running default session (taking this builder's runtime
            settings), or a new one over ``SparkContext.getOrCreate``."""
            with self._lock:
                session = SparkSession._instantiatedSession
                if session is None or session._sc._stopped:
                    session = SparkSession(Context.getOrCreate(self._spark_conf()),
                                           options=self._options)
                else:
                    session._take(self._options)
                SparkSession._activeSession = session
                return session

        def create(self) -> "SparkSession":
            """A new session (over the running Context, or a new one)."""
            with self._lock:
                default = SparkSession._instantiatedSession
                if default is not None and not default._sc._stopped:
                    context = default._sc
                else:
                    context = Context.getOrCreate(self._spark_conf())
                return SparkSession(context, options=self._options)

        def _spark_conf(self) -> Conf:
            conf = Conf()
            for key, value in self._options.items():
                conf.set(key, value)
            return conf

    @_ClassProperty
    def builder(cls) -> "SparkSession.Builder":
        """A new Builder (``SparkSession.builder.appName("x").getOrCreate()``)."""
        return cls.Builder()

    def __init__(self, sparkContext: Context, jsparkSession: Any = None,
                 options: dict[str, Any] | None = None):
        self._sc = sparkContext
        self._conf = RuntimeConfig(sparkContext)
        self._take(options or {}, warn=False)
        RDD._dataframe_maker = _rdd_to_dataframe  # rdd.toDF, once a session exists (as PySpark)
        with SparkSession.Builder._lock:
            default = SparkSession._instantiatedSession
            if default is None or default._sc._stopped:
                SparkSession._instantiatedSession = self
                SparkSession._activeSession = self

    def _take(self, options: dict[str, Any], warn: bool = True) -> None:
        """A builder's settings for a running session: the runtime ones
        become the session's; the Context's own cannot change any more."""
        context_conf = self._sc.getConf()
        for key, value in options.items():
            text = conf_text(value)
            if self._conf.isModifiable(key):
                self._conf.set(key, text)
            elif warn and context_conf.get(key) != text:
                log.warning("using the running SparkSession: %s=%s is not applied (the Context "
                            "runs with %s); only runtime settings take effect", key, text,
                            context_conf.get(key))

    # --- the session --------------------------------------------------------------

    @classmethod
    def getActiveSession(cls) -> "SparkSession | None":
        """The session used or made last, while its Context runs; else None."""
        session = cls._activeSession
        if session is None or session._sc._stopped:
            return None
        return session

    @classmethod
    def active(cls) -> "SparkSession":
        """The active session, else the default one; an error if neither runs."""
        session = cls.getActiveSession()
        if session is None:
            default = cls._instantiatedSession
            if default is not None and not default._sc._stopped:
                return default
            raise RuntimeError("No active or default Spark session found. Please create a new "
                               "Spark session before running the code "
                               "(SparkSession.builder.getOrCreate()).")
        return session

    @property
    def sparkContext(self) -> Context:
        return self._sc

    @property
    def conf(self) -> RuntimeConfig:
        return self._conf

    @property
    def version(self) -> str:
        """ember's version (the session's engine), as ``sc.version``."""
        return self._sc.version

    @property
    def read(self) -> DataFrameReader:
        return DataFrameReader(self)

    def newSession(self) -> "SparkSession":
        """Another session over the same Context, with its own runtime settings."""
        return SparkSession(self._sc)

    def stop(self) -> None:
        """Stop the Context; no session is default or active any more."""
        self._sc.stop()
        with SparkSession.Builder._lock:
            SparkSession._instantiatedSession = None
            SparkSession._activeSession = None

    def __enter__(self) -> "SparkSession":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def __getstate__(self):
        raise DriverOnlyError(
            "A function shipped to workers captures the SparkSession. It exists only on the "
            "driver: use it in the driver program, not inside transformations or actions.")

    def __repr__(self) -> str:
        return f"<SparkSession over {self._sc!r}>"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        way = _SESSION_WAYS.get(name, "work with spark.sparkContext and RDDs")
        raise NotImplementedError(f"SparkSession.{name} is not available on ember (ember.sql "
                                  f"is the entry point of RDD programs, not a SQL engine): {way}")

    # --- DataFrames ---------------------------------------------------------------------

    def range(self, start: int, end: int | None = None, step: int = 1,
              numPartitions: int | None = None) -> DataFrame:
        """A DataFrame of one long column, ``id``: ``range(start, end, step)``.

        >>> spark.range(3).collect()
        [Row(id=0), Row(id=1), Row(id=2)]
        """
        rdd = self._sc.range(start, end, step, numPartitions).map(_id_row)
        return DataFrame(rdd, StructType([StructField("id", LongType(), False)]), self)

    def createDataFrame(self, data: Any, schema: Any = None, samplingRatio: float | None = None,
                        verifySchema: bool = True) -> DataFrame:
        """A DataFrame of ``data`` (an RDD, a list of rows, tuples, dicts or
        values, a pandas DataFrame). ``schema``: None (inferred as PySpark
        infers it), a list of column names (types inferred), a StructType,
        a DDL string (``"a int, b string"``) or one data type (the rows are
        then values, in a column named ``value``).

        >>> spark.createDataFrame([{"b": 1, "a": "x"}]).columns
        ['a', 'b']
        >>> spark.createDataFrame([(1,), (2.5,)])
        Traceback (most recent call last):
            ...
        TypeError: Can not merge type `LongType` and `DoubleType`
        """
        if isinstance(data, DataFrame):
            raise TypeError("createDataFrame: data is already a DataFrame")
        names: list[str] | None = None
        if type(data).__module__.split(".")[0] == "pandas" and hasattr(data, "itertuples"):
            names = [str(column) for column in data.columns]
            data = list(data.itertuples(index=False, name=None))
        elif type(data).__module__ == "numpy" and hasattr(data, "tolist"):
            data = data.tolist()
        if isinstance(schema, str):
            schema = parse_type(schema)
        if isinstance(schema, (list, tuple)):
            names, schema = [str(name) for name in schema], None
        if schema is not None and not isinstance(schema, DataType):
            raise TypeError(f"createDataFrame: schema must be a StructType, a DataType, a DDL "
                            f"string or a list of column names, got {type(schema).__name__}")
        if isinstance(data, RDD):
            return self._from_rdd(data, schema, names, samplingRatio, verifySchema)
        if not isinstance(data, list):
            data = list(data) if isinstance(data, Iterable) else data
        if not isinstance(data, list):
            raise TypeError(f"createDataFrame: data must be an RDD, a list or a pandas "
                            f"DataFrame, got {type(data).__name__}")
        return self._from_list(data, schema, names, verifySchema)

    def _from_list(self, data: list, schema: DataType | None, names: list[str] | None,
                   verify_rows: bool) -> DataFrame:
        if schema is not None and not isinstance(schema, StructType):  # one column of values
            field = StructField("value", schema, True)
            if verify_rows:
                for value in data:
                    verify(value, schema, "value")
            rows = [_create_row(["value"], (value,)) for value in data]
            return self._frame(self._sc.parallelize(rows), StructType([field]))
        if schema is None:
            if not data:
                raise ValueError("can not infer schema from empty dataset")
            schema = reduce(merge_types, (infer_schema(row, names) for row in data))
            if has_null_type(schema):
                raise ValueError("Some of types cannot be determined after inferring (a column "
                                 "is None in every row: give a schema)")
            schema = _renamed(schema, names)
        elif verify_rows:
            for row in data:
                verify(row, schema, "")
        struct = schema
        rows = [to_row(row, struct) for row in data]
        return self._frame(self._sc.parallelize(rows), struct)

    def _from_rdd(self, rdd: RDD, schema: DataType | None, names: list[str] | None,
                  sampling_ratio: float | None, verify_rows: bool) -> DataFrame:
        if schema is not None and not isinstance(schema, StructType):
            data_type = schema
            return self._frame(rdd.map(lambda value: _value_row(value, data_type, verify_rows)),
                               StructType([StructField("value", data_type, True)]))
        if schema is None:
            schema = _renamed(_infer_from_rdd(rdd, names, sampling_ratio), names)
            verify_rows = False
        struct = schema
        return self._frame(rdd.map(lambda row: _checked_row(row, struct, verify_rows)), struct)

    def _frame(self, rdd: RDD, schema: StructType) -> DataFrame:
        SparkSession._activeSession = self
        return DataFrame(rdd, schema, self)


def _id_row(value: int) -> Any:
    return _create_row(["id"], (value,))


def _value_row(value: Any, data_type: DataType, verify_rows: bool) -> Any:
    if verify_rows:
        verify(value, data_type, "value")
    return _create_row(["value"], (value,))


def _checked_row(row: Any, schema: StructType, verify_rows: bool) -> Any:
    if verify_rows:
        verify(row, schema, "")
    return to_row(row, schema)


def _renamed(schema: StructType, names: list[str] | None) -> StructType:
    """Inferred fields renamed by position with the names given."""
    if not names:
        return schema
    fields = [StructField(names[i] if i < len(names) else field.name, field.dataType,
                          field.nullable) for i, field in enumerate(schema.fields)]
    return StructType(fields)


def _infer_from_rdd(rdd: RDD, names: list[str] | None, sampling_ratio: float | None) -> StructType:
    """PySpark's way: the first row, and the next 99 while a column is
    still None everywhere; or, with a sampling ratio, a sample of them all."""
    if sampling_ratio is None:
        rows = rdd.take(1)
        if not rows:
            raise ValueError("can not infer schema from empty dataset")
        schema = infer_schema(rows[0], names)
        if has_null_type(schema):
            for row in rdd.take(100)[1:]:
                schema = merge_types(schema, infer_schema(row, names))
                if not has_null_type(schema):
                    break
            else:
                raise ValueError("Some of types cannot be determined by the first 100 rows, "
                                 "please try again with sampling")
        return schema
    sample = rdd.sample(False, float(sampling_ratio)) if sampling_ratio < 0.99 else rdd
    return sample.map(lambda row: infer_schema(row, names)).reduce(merge_types)


def _rdd_to_dataframe(rdd: RDD, schema: Any = None, sampleRatio: float | None = None) -> DataFrame:
    """``rdd.toDF``: ``createDataFrame`` of the session running over the
    RDD's Context (a new one if none does)."""
    session = SparkSession.getActiveSession()
    if session is None or session._sc is not rdd.context:
        default = SparkSession._instantiatedSession
        session = default if default is not None and default._sc is rdd.context \
            else SparkSession(rdd.context)
    return session.createDataFrame(rdd, schema, sampleRatio)
