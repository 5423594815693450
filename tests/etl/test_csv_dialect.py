"""CSV quoting and escaping as Spark's CSV source does it: the writer's output
for tricky values is what PySpark 4's DataFrameWriter.csv writes for them
(recorded from a real run, by option set), and the reader cuts Spark's
escapes (inside quotes only, before a quote or the escape itself) as a
character-by-character reference of the same rules does."""

from __future__ import annotations

import csv
import datetime
import io
import random

import pytest

from ember.etl.csv_dialect import Dialect, FieldWriter, UnclosedQuote

VALUES = ["plain", 'with "quote"', "a,b", "line\nbreak", "cr\rx", "", None, " lead", "trail ",
          "back\\slash", 'back\\"q', '"', '""', 'x"', "\\", "tab\there", "#hash", "é", "\tx",
          "x\n", " ", "  a b  ", "\x01y", "y\x1f", "\u00a0nb", "a,b\\c", '\\"', 'q"\\', "a\\,b",
          "\r\n", "end\\", '"start', ' "sp', "x\r", '\\\\"', "'single'", "a\x00b", "\x00"]

# What PySpark 4.3's df.write.csv(path, **options) wrote for VALUES, one field each.
SPARK_WRITES = {
    "defaults": ({}, [
        "plain", '"with \\"quote\\""', '"a,b"', '"line\nbreak"', '"cr\rx"', '""', "", "lead",
        "trail", "back\\slash", '"back\\\\\\"q"', '"\\""', '"\\"\\""', '"x\\""', "\\",
        "tab\there", "#hash", "é", "x", '"x"', '""', "a b", "y", "y", "\u00a0nb",
        '"a,b\\\\c"', '"\\\\\\""', '"q\\"\\\\"', '"a\\\\,b"', '""', "end\\", '"\\"start"',
        '"\\"sp"', '"x"', '"\\\\\\\\\\""', "'single'", "a\x00b", '""']),
    "rfc 4180": ({"escape": '"'}, [
        "plain", '"with ""quote"""', '"a,b"', '"line\nbreak"', '"cr\rx"', '""', "", "lead",
        "trail", "back\\slash", '"back\\""q"', '""""', '""""""', '"x"""', "\\", "tab\there",
        "#hash", "é", "x", '"x"', '""', "a b", "y", "y", "\u00a0nb", '"a,b\\c"', '"\\"""',
        '"q""\\"', '"a\\,b"', '""', "end\\", '"""start"', '"""sp"', '"x"', '"\\\\"""',
        "'single'", "a\x00b", '""']),
    "quoteAll": ({"quote_all": True}, [
        '"plain"', '"with \\"quote\\""', '"a,b"', '"line\nbreak"', '"cr\rx"', '""', '""',
        '"lead"', '"trail"', '"back\\\\slash"', '"back\\\\\\"q"', '"\\""', '"\\"\\""',
        '"x\\""', '"\\\\"', '"tab\there"', '"#hash"', '"é"', '"x"', '"x"', '""', '"a b"',
        '"y"', '"y"', '"\u00a0nb"', '"a,b\\\\c"', '"\\\\\\""', '"q\\"\\\\"', '"a\\\\,b"',
        '""', '"end\\\\"', '"\\"start"', '"\\"sp"', '"x"', '"\\\\\\\\\\""', "\"'single'\"",
        '"a\x00b"', '""']),
    "escapeQuotes off": ({"escape_quotes": False}, [
        "plain", 'with "quote"', '"a,b"', '"line\nbreak"', '"cr\rx"', '""', "", "lead",
        "trail", "back\\slash", 'back\\"q', '"\\""', '"\\"\\""', 'x"', "\\", "tab\there",
        "#hash", "é", "x", '"x"', '""', "a b", "y", "y", "\u00a0nb", '"a,b\\\\c"', '\\"',
        'q"\\', '"a\\\\,b"', '""', "end\\", '"\\"start"', '"\\"sp"', '"x"', '\\\\"',
        "'single'", "a\x00b", '""']),
    "no trimming": ({"ignore_leading": False, "ignore_trailing": False}, [
        "plain", '"with \\"quote\\""', '"a,b"', '"line\nbreak"', '"cr\rx"', '""', "",
        " lead", "trail ", "back\\slash", '"back\\\\\\"q"', '"\\""', '"\\"\\""', '"x\\""',
        "\\", "tab\there", "#hash", "é", "\tx", '"x\n"', " ", "  a b  ", "\x01y", "y\x1f",
        "\u00a0nb", '"a,b\\\\c"', '"\\\\\\""', '"q\\"\\\\"', '"a\\\\,b"', '"\r\n"', "end\\",
        '"\\"start"', '" \\"sp"', '"x\r"', '"\\\\\\\\\\""', "'single'", "a\x00b", "\x00"]),
}


@pytest.mark.parametrize("name", SPARK_WRITES)
def test_fields_are_written_as_pyspark_writes_them(name):
    options, expected = SPARK_WRITES[name]
    writer = FieldWriter(**options)
    assert [writer.field(value) for value in VALUES] == expected


def test_null_and_empty_values_types_and_header_as_pyspark_writes_them():
    writer = FieldWriter(null_value="NA", empty_value="EMPTY")
    assert [writer.field(value) for value in ("", None, " ")] == ["EMPTY", "NA", "EMPTY"]
    assert FieldWriter(quote="'").field("") == '""'  # Spark's emptyValue is "" whatever the quote
    assert FieldWriter(quote="'").field("a,b") == "'a,b'"
    assert FieldWriter(sep=";").line(["a,b", "c;d", None]) == 'a,b;"c;d";'
    assert FieldWriter().line(["a,b", ' c"d']) == '"a,b","c\\"d"'  # the header Spark wrote
    assert FieldWriter().line([True, False, 1.5, 7, datetime.date(2024, 1, 2)]) == \
        "true,false,1.5,7,2024-01-02"


def test_without_quotes_separators_are_escaped_or_refused():
    assert FieldWriter(quote="").line(["a,b", "c"]) == "a\\,b,c"
    with pytest.raises(ValueError, match="needs an escape character"):
        FieldWriter(quote="", escape="").field("a,b")


# What PySpark 4.3's spark.read.csv(path, header=True) read from each line as
# the second field, with its default escape and with escape='"'.
SPARK_READS = [
    ("a\\b", "a\\b", "a\\b"), ("a\\\\b", "a\\\\b", "a\\\\b"), ('a\\"b', 'a\\"b', 'a\\"b'),
    ("end\\", "end\\", "end\\"), ('"a\\b"', "a\\b", "a\\b"), ('"a\\\\b"', "a\\b", "a\\\\b"),
    ('"a\\"b"', 'a"b', '"a\\"b"'), ('"a\\\\"', "a\\", "a\\\\"), ('a"b', 'a"b', 'a"b'),
    ('"x"y', '"x"y', '"x"y'), ('""', None, None), ("", None, None), (" sp ", " sp ", " sp "),
    ('" sp "', " sp ", " sp "), ('"a,\\"b\\",c"', 'a,"b",c', '"a,\\"b\\"'),
    ('"a""b"', '"a""b"', 'a"b'),
]
# Where ember departs from it: text after a closing quote makes a bad record
# (BAD) instead of being kept raw, and a doubled quote inside quotes is read as
# one quote whatever the escape (so that RFC 4180 files read with the defaults).
BAD = object()
DEPARTURES = {('"x"y', 1): BAD, ('"x"y', 2): BAD, ('"a\\"b"', 2): BAD,
              ('"a,\\"b\\",c"', 2): BAD, ('"a""b"', 1): 'a"b'}


def test_the_reader_cuts_sparks_escapes_as_pyspark_reads_them(sc, tmp_path):
    path = tmp_path / "spark.csv"
    path.write_text("id,v\n" + "".join(f"{i},{line}\n" for i, (line, _, _) in enumerate(SPARK_READS)))
    for column, options in ((1, {}), (2, {"escape": '"'})):
        got = {}
        for record in sc.read.csv(str(path), header=True, **options).collect():
            if "_corrupt_record" in record:
                got[record["_corrupt_record"].split(",", 1)[0]] = BAD
            else:
                got[record["id"]] = record["v"]
        for i, case in enumerate(SPARK_READS):
            wanted = DEPARTURES.get((case[0], column), case[column])
            assert got[str(i)] is wanted if wanted is BAD else got[str(i)] == wanted, \
                (options, case, got[str(i)])


@pytest.mark.parametrize("options", [{}, {"escape": '"'}, {"quoteAll": True},
                                     {"escapeQuotes": False}, {"sep": "\t"}])
def test_what_the_writer_writes_the_reader_reads_back(sc, tmp_path, options):
    values = [value for value in VALUES if value is None or value.strip(
        "".join(map(chr, range(33)))) == value and value != ""]  # trimming aside
    records = [{"id": i, "v": value} for i, value in enumerate(values)]
    out = str(tmp_path / "out")
    sc.parallelize(records, 2).write.csv(out, header=True, **options)
    read_options = {key: options[key] for key in ("escape", "sep") if key in options}
    back = sc.read.csv(out, header=True, multiLine=True, inferSchema=False,
                       **read_options).collect()
    assert sorted(back, key=lambda r: int(r["id"])) == [
        {"id": str(r["id"]), "v": r["v"]} for r in records]


def _reference_fields(line: str, sep: str = ",", quote: str = '"', escape: str = "\\") -> list[str]:
    """Spark's reading rules, one character at a time (raises csv.Error)."""
    if line == "":
        return []
    fields, i, n = [], 0, len(line)
    while True:
        if i < n and line[i] == quote:
            i += 1
            value = []
            while True:
                if i >= n:
                    raise UnclosedQuote("open")
                char = line[i]
                if char == escape and i + 1 < n and line[i + 1] in (quote, escape):
                    value.append(line[i + 1])
                    i += 2
                elif char == quote and i + 1 < n and line[i + 1] == quote:
                    value.append(quote)
                    i += 2
                elif char == quote:
                    i += 1
                    break
                else:
                    value.append(char)
                    i += 1
            if i < n and line[i] != sep:
                raise csv.Error("text after a closing quote")
        else:
            value = []
            while i < n and line[i] != sep:
                if line[i] == "\r":
                    raise csv.Error("carriage return")
                value.append(line[i])
                i += 1
        fields.append("".join(value))
        if i == n:
            return fields
        i += 1


def test_lines_with_escapes_are_cut_as_a_reference_of_sparks_rules_cuts_them():
    rng = random.Random(11)
    dialect = Dialect()
    pieces = ["a", "b", ",", '"', "\\", " ", "xy"]
    for _ in range(20_000):
        line = "".join(rng.choice(pieces) for _ in range(rng.randrange(0, 9)))
        try:
            expected = _reference_fields(line)
        except UnclosedQuote:
            expected = UnclosedQuote
        except csv.Error:
            expected = csv.Error
        try:
            got = dialect.split_line(line)
        except UnclosedQuote:
            got = UnclosedQuote
        except csv.Error:
            got = csv.Error
        assert got == expected, line


def test_multiline_records_with_escapes_and_line_breaks_inside_quotes(sc, tmp_path):
    path = tmp_path / "multi.csv"
    text = ('id,note\r\n1,"two\r\nlines"\r\n2,"escaped \\"quote\\" and \\\\"\n'
            '3,C:\\temp\\x\n4,"a\n\nb"\n5,plain')
    path.write_text(text, newline="")
    assert [dict(record) for record in sc.read.csv(str(path), header=True, multiLine=True)
            .collect()] == [{"id": "1", "note": "two\r\nlines"},
                            {"id": "2", "note": 'escaped "quote" and \\'},
                            {"id": "3", "note": "C:\\temp\\x"}, {"id": "4", "note": "a\n\nb"},
                            {"id": "5", "note": "plain"}]
    stream = io.StringIO(text + '\n6,"never closed\n')
    records = Dialect().records(stream)
    assert [number for _, (number, _) in zip(range(6), records)] == [1, 2, 4, 5, 6, 9]
    with pytest.raises(UnclosedQuote, match="at line 10"):
        next(records)
    (tmp_path / "bad.csv").write_text('id,note\n1,"x"y\n2,z\n')
    with pytest.raises(Exception, match="at line 2"):
        sc.read.csv(str(tmp_path / "bad.csv"), header=True, multiLine=True,
                    mode="FAILFAST").collect()
