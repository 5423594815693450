"""ember.sql as PySpark programs use it: the SparkSession builder and its
lifecycle, Row, spark.read.text, createDataFrame and toDF, what the small
DataFrame prints, and a clear NotImplementedError for the rest."""

from __future__ import annotations

import gzip
import logging
import pickle

import pytest

from ember import SparkConf, SparkContext
from ember.engine.errors import ConfigError, NoSuchElementError
from ember.sql import DataFrame, Row, SparkSession
from ember.sql.types import (
    ArrayType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
)


@pytest.fixture(scope="module")
def spark():
    session = SparkSession.builder.master("local[2]").appName("sql-tests").getOrCreate()
    yield session
    session.stop()


# --- the session's lifecycle -----------------------------------------------------------


def test_builder_settings_getorcreate_conf_and_stop(caplog, monkeypatch):
    monkeypatch.delenv("EMBER_MASTER", raising=False)
    assert SparkSession.getActiveSession() is None
    with pytest.raises(RuntimeError, match="No active or default Spark session"):
        SparkSession.active()
    conf = SparkConf().set("spark.task.maxFailures", "2")
    with caplog.at_level(logging.DEBUG, logger="ember.sql"):
        spark = (SparkSession.builder.appName("lifecycle").master("local[1]")
                 .config("k1", "v1").config("flag", True).config(conf=conf)
                 .config(map={"k2": 2}).enableHiveSupport().getOrCreate())
    try:
        assert "enableHiveSupport" in caplog.text and "no effect" in caplog.text
        sc = spark.sparkContext
        assert (sc.master, sc.appName) == ("local[1]", "lifecycle")
        assert SparkContext._active_spark_context is sc
        assert sc.getConf().get("spark.task.maxFailures") == "2"
        assert (spark.conf.get("k1"), spark.conf.get("flag"), spark.conf.get("k2")) == ("v1", "true", "2")
        assert spark.conf.get("spark.app.name") == "lifecycle"
        assert spark.conf.get("missing", "fallback") == "fallback"
        with pytest.raises(NoSuchElementError, match="missing"):
            spark.conf.get("missing")
        spark.conf.set("k1", "v1_new")
        assert spark.conf.get("k1") == "v1_new"
        with pytest.raises(ConfigError, match="Cannot modify the value of a Spark config: spark.master"):
            spark.conf.set("spark.master", "local[3]")
        assert SparkSession.builder.config("k3", "v3").getOrCreate() is spark  # the running one
        assert spark.conf.get("k3") == "v3"
        assert SparkSession.getActiveSession() is spark and SparkSession.active() is spark
        assert spark.version == sc.version

        other = spark.newSession()
        assert other is not spark and other.sparkContext is sc
        assert other.conf.get("k1") == "v1", "the Context's settings are every session's"
        assert other.conf.get("k3", None) is None, "a new session has its own runtime settings"
        assert spark.sparkContext.parallelize(range(5)).sum() == 10
        with pytest.raises(pickle.PicklingError, match="SparkSession"):
            sc.parallelize([1]).map(lambda x: spark).collect()
    finally:
        spark.stop()
    assert sc._stopped and SparkSession.getActiveSession() is None
    with SparkSession.builder.master("local[1]").getOrCreate() as again:  # a fresh one after stop
        assert again is not spark and not again.sparkContext._stopped
    assert again.sparkContext._stopped


def test_a_context_made_first_is_the_one_the_session_wraps():
    with SparkContext("local[1]", "made-first") as sc:
        spark = SparkSession.builder.appName("ignored").getOrCreate()
        assert spark.sparkContext is sc and sc.appName == "made-first"
        assert sc.parallelize([(1, "a")]).toDF(["n", "s"]).collect() == [Row(n=1, s="a")]
    with pytest.raises(Exception):
        spark.sparkContext.parallelize([1]).count()  # stopped with its Context


# --- Row ---------------------------------------------------------------------------------


def test_row_behaves_as_pysparks():
    row = Row(name="Alice", age=11)
    assert row == ("Alice", 11) and tuple(row) == ("Alice", 11)
    assert (row.name, row["age"], row[0], row[-1]) == ("Alice", 11, "Alice", 11)
    assert "name" in row and "Alice" not in row
    assert row.asDict() == {"name": "Alice", "age": 11}
    assert repr(row) == "Row(name='Alice', age=11)"
    nested = Row(a=1, b=Row(c=[Row(d=2)]))
    assert nested.asDict(recursive=True) == {"a": 1, "b": {"c": [{"d": 2}]}}
    person = Row("name", "age")
    assert repr(person) == "<Row('name', 'age')>"
    assert person("Bob", 3) == Row(name="Bob", age=3) and person("Bob", 3).age == 3
    assert pickle.loads(pickle.dumps(row)).asDict() == row.asDict()
    with pytest.raises(AttributeError, match="missing"):
        row.missing
    with pytest.raises(ValueError, match="missing"):
        row["missing"]
    with pytest.raises(ValueError, match="args and kwargs"):
        Row("a", b=1)
    with pytest.raises(ValueError, match="too many values"):
        person(1, 2, 3)
    with pytest.raises(RuntimeError, match="read-only"):
        row.age = 12
    with pytest.raises(TypeError):
        Row(1, 2).asDict()


# --- reading text ------------------------------------------------------------------------


def test_read_text_gives_rows_of_lines_files_or_pieces(spark, tmp_path):
    first, second = tmp_path / "a.txt", tmp_path / "b.txt.gz"
    first.write_text("one two\nthree\r\n\nfour\n")
    with gzip.open(second, "wt") as out:
        out.write("five\nsix")
    df = spark.read.text(str(first))
    assert isinstance(df, DataFrame) and df.columns == ["value"]
    assert df.collect() == [Row(value="one two"), Row(value="three"), Row(value=""),
                            Row(value="four")]
    assert df.rdd.map(lambda r: r[0]).collect() == first.read_text().replace("\r", "").splitlines()
    both = spark.read.text([str(first), str(second)])
    assert both.count() == 6 and both.rdd.map(lambda r: r.value).collect()[-2:] == ["five", "six"]
    assert spark.read.text(str(tmp_path)).count() == 6, "a directory: every file in it"
    content = first.read_bytes().decode()
    whole = spark.read.text(str(first), wholetext=True).collect()
    assert whole == [Row(value=content)]
    pieces = spark.read.text(str(first), lineSep="t").rdd.map(lambda r: r.value).collect()
    assert pieces == content.split("t")
    assert spark.read.format("text").load(str(first)).count() == 4
    (tmp_path / "empty.txt").write_text("")
    empty = spark.read.text(str(tmp_path / "empty.txt"))
    assert empty.first() is None and empty.head() is None and empty.take(3) == []


def test_show_and_print_schema_print_as_pyspark(spark, capsys):
    df = spark.createDataFrame([(1, 0.1, "a" * 25, True, None, [1, 2], {"k": 1}, Row(x=1, y="z"),
                                 b"\x01\x02", 1e20),
                                (2, 2.0, "bb", False, "x", [], {}, Row(x=2, y=None),
                                 bytearray(b"a"), 1234567.0)],
                               ["i", "d", "s", "b", "n", "arr", "m", "st", "bin", "big"])
    df.show()
    df.show(1, truncate=False)
    df.show(truncate=5)
    df.printSchema()
    # What PySpark 4.3 prints for the same calls.
    assert capsys.readouterr().out == """\
+---+---+--------------------+-----+----+------+--------+---------+-------+---------+
|  i|  d|                   s|    b|   n|   arr|       m|       st|    bin|      big|
+---+---+--------------------+-----+----+------+--------+---------+-------+---------+
|  1|0.1|aaaaaaaaaaaaaaaaa...| true|NULL|[1, 2]|{k -> 1}|   {1, z}|[01 02]|   1.0E20|
|  2|2.0|                  bb|false|   x|    []|      {}|{2, NULL}|   [61]|1234567.0|
+---+---+--------------------+-----+----+------+--------+---------+-------+---------+

+---+---+-------------------------+----+----+------+--------+------+-------+------+
|i  |d  |s                        |b   |n   |arr   |m       |st    |bin    |big   |
+---+---+-------------------------+----+----+------+--------+------+-------+------+
|1  |0.1|aaaaaaaaaaaaaaaaaaaaaaaaa|true|NULL|[1, 2]|{k -> 1}|{1, z}|[01 02]|1.0E20|
+---+---+-------------------------+----+----+------+--------+------+-------+------+
only showing top 1 row
+---+---+-----+-----+----+-----+-----+-----+-----+-----+
|  i|  d|    s|    b|   n|  arr|    m|   st|  bin|  big|
+---+---+-----+-----+----+-----+-----+-----+-----+-----+
|  1|0.1|aa...| true|NULL|[1...|{k...|{1...|[0...|1....|
|  2|2.0|   bb|false|   x|   []|   {}|{2...| [61]|12...|
+---+---+-----+-----+----+-----+-----+-----+-----+-----+

root
 |-- i: long (nullable = true)
 |-- d: double (nullable = true)
 |-- s: string (nullable = true)
 |-- b: boolean (nullable = true)
 |-- n: string (nullable = true)
 |-- arr: array (nullable = true)
 |    |-- element: long (containsNull = true)
 |-- m: map (nullable = true)
 |    |-- key: string
 |    |-- value: long (valueContainsNull = true)
 |-- st: struct (nullable = true)
 |    |-- x: long (nullable = true)
 |    |-- y: string (nullable = true)
 |-- bin: binary (nullable = true)
 |-- big: double (nullable = true)

"""
    assert repr(df) == ("DataFrame[i: bigint, d: double, s: string, b: boolean, n: string, "
                        "arr: array<bigint>, m: map<string,bigint>, st: struct<x:bigint,y:string>, "
                        "bin: binary, big: double]")
    spark.createDataFrame([("x",)], ["value"]).show(vertical=True)
    spark.createDataFrame([("x",)], ["value"]).show(0, vertical=True)
    assert capsys.readouterr().out == "-RECORD 0----\n value | x   \n\n(0 rows)\n"


# --- making DataFrames ---------------------------------------------------------------------


def test_create_data_frame_infers_as_pyspark(spark):
    assert spark.createDataFrame([{"b": 1, "a": "x"}]).columns == ["a", "b"], "dict keys sorted"
    assert spark.createDataFrame([[1, 2]]).columns == ["_1", "_2"]
    df = spark.createDataFrame([(1, None), (2, "b")], ["n", "s"])
    assert df.schema == StructType([StructField("n", LongType(), True),
                                    StructField("s", StringType(), True)])
    assert df.collect() == [Row(n=1, s=None), Row(n=2, s="b")]
    assert spark.createDataFrame([Row(a=1, b=[1.5])]).dtypes == [("a", "bigint"), ("b", "array<double>")]
    values = spark.createDataFrame([1, 2], "int")
    assert values.collect() == [Row(value=1), Row(value=2)]
    assert values.schema == StructType([StructField("value", IntegerType(), True)])
    ddl = spark.createDataFrame([(1, ["x"])], "a long, b array<string>")
    assert ddl.schema == StructType([StructField("a", LongType(), True),
                                     StructField("b", ArrayType(StringType(), True), True)])
    with pytest.raises(TypeError, match="Can not merge type `LongType` and `DoubleType`"):
        spark.createDataFrame([(1,), (1.5,)])
    with pytest.raises(ValueError, match="Some of types cannot be determined"):
        spark.createDataFrame([(None,)])
    with pytest.raises(ValueError, match="empty dataset"):
        spark.createDataFrame([])
    with pytest.raises(TypeError, match="field a: DoubleType\\(\\) can not accept object 1 in type"):
        spark.createDataFrame([(1,)], "a double")
    strict = StructType([StructField("a", LongType(), nullable=False)])
    with pytest.raises(ValueError, match="not nullable"):
        spark.createDataFrame([(None,)], strict)
    with pytest.raises(ValueError, match="cannot parse data type"):
        spark.createDataFrame([(1,)], "a int,, b")


def test_rdds_become_data_frames_with_create_data_frame_and_to_df(spark):
    sc = spark.sparkContext
    pairs = sc.parallelize([(i, f"v{i}" if i > 2 else None) for i in range(6)], 3)
    df = pairs.toDF(["n", "s"])  # the first row's None is typed by the rows after it
    assert df.dtypes == [("n", "bigint"), ("s", "string")]
    assert df.collect() == [Row(n=i, s=f"v{i}" if i > 2 else None) for i in range(6)]
    assert df.rdd.map(lambda row: row.n * 2).sum() == 30
    typed = spark.createDataFrame(sc.parallelize([(1.5, "a")]), StructType(
        [StructField("x", DoubleType()), StructField("y", StringType())]))
    assert typed.first() == Row(x=1.5, y="a")
    bad = spark.createDataFrame(sc.parallelize([("not a double", "a")]), "x double, y string")
    with pytest.raises(TypeError, match="field x: DoubleType"):
        bad.collect()
    sampled = spark.createDataFrame(sc.parallelize([(1,), (2,)]), ["k"], samplingRatio=1.0)
    assert sampled.collect() == [Row(k=1), Row(k=2)]
    assert spark.range(3).collect() == [Row(id=0), Row(id=1), Row(id=2)]
    with pytest.raises(ValueError, match="empty dataset"):
        sc.emptyRDD().toDF()


def test_the_rest_of_the_dataframe_api_names_itself_and_the_rdd_way(spark, tmp_path):
    df = spark.createDataFrame([(1, "a")], ["n", "s"])
    for call, method, way in ((lambda: df.select("n"), "DataFrame.select", "df.rdd.map"),
                              (lambda: df.groupBy("s"), "DataFrame.groupBy", "reduceByKey"),
                              (lambda: df.filter, "DataFrame.filter", "df.rdd.filter"),
                              (lambda: df.n, "DataFrame.n", "df.rdd"),
                              (lambda: df.write, "DataFrame.write", "saveAsTextFile"),
                              (lambda: df["n"], "DataFrame['n']", "row['n']"),
                              (lambda: spark.sql("select 1"), "SparkSession.sql", "RDD"),
                              (lambda: spark.read.csv(str(tmp_path)), "'csv' source", "csv.reader"),
                              (lambda: spark.read.json(str(tmp_path)), "'json' source", "json.loads")):
        with pytest.raises(NotImplementedError) as raised:
            call()
        assert method in str(raised.value) and way in str(raised.value), str(raised.value)
    with pytest.raises(NotImplementedError, match="ember.sql.functions.col"):
        from ember.sql.functions import col  # noqa: F401
