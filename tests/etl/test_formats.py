"""Record readers and writers against the standard library's parse of the
whole file; parse modes on crafted bad input; codecs and save modes."""

from __future__ import annotations

import bz2
import csv
import gzip
import json
import lzma
import os
import random
import xml.etree.ElementTree as ElementTree

import pytest

from ember.engine.errors import MalformedRecordError
from ember.etl.testing import bin_dir  # noqa: F401 - the module imports without psycopg


def _rows(count: int, seed: int = 3) -> list[dict]:
    rng = random.Random(seed)
    words = ["alpha", "beta", "gamma, delta", 'say "hi"', "ünïcode", "tab\there", ""]
    return [{"id": i, "name": rng.choice(words), "score": round(rng.uniform(-5, 5), 3),
             "ok": rng.random() < 0.5} for i in range(count)]


def test_json_lines_equal_the_standard_library_parse_over_many_splits(sc, tmp_path):
    path = tmp_path / "events.jsonl"
    rows = _rows(5000)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    rdd = sc.read.json(str(path), minPartitions=7)
    assert rdd.getNumPartitions() >= 7
    oracle = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert rdd.collect() == oracle


def test_multiline_json_reads_each_file_as_one_document(sc, tmp_path):
    (tmp_path / "a.json").write_text(json.dumps(_rows(20), indent=2))
    (tmp_path / "b.json").write_text(json.dumps({"id": 99, "nested": {"x": [1, 2]}}, indent=2))
    got = sc.read.json(str(tmp_path), multiLine=True).collect()
    oracle = json.loads((tmp_path / "a.json").read_text()) + [
        json.loads((tmp_path / "b.json").read_text())]
    assert got == oracle


def test_csv_with_header_equals_dictreader_over_many_splits(sc, tmp_path):
    path = tmp_path / "people.csv"
    rows = _rows(4000)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ["id", "name", "score", "ok"])
        writer.writeheader()
        writer.writerows(rows)
    got = sc.read.csv(str(path), header=True, minPartitions=6).collect()
    with open(path, newline="", encoding="utf-8") as handle:  # nullValue "": empty is None
        oracle = [{key: value or None for key, value in row.items()}
                  for row in csv.DictReader(handle)]
    assert got == oracle


def test_csv_infer_schema_and_given_schema_type_the_columns(sc, tmp_path):
    path = tmp_path / "typed.csv"
    path.write_text("id;score;ok;name\n1;2.5;true;a\n2;;false;\n3;4;TRUE;c\n")
    inferred = sc.read.csv(str(path), header=True, sep=";", inferSchema=True).collect()
    assert inferred == [{"id": 1, "score": 2.5, "ok": True, "name": "a"},
                        {"id": 2, "score": None, "ok": False, "name": None},
                        {"id": 3, "score": 4.0, "ok": True, "name": "c"}]
    given = sc.read.csv(str(path), header=True, sep=";",
                        schema="id LONG, score DOUBLE, ok BOOLEAN, name STRING").collect()
    assert given == inferred
    no_header = sc.read.csv(str(path), sep=";").first()
    assert no_header == {"_c0": "id", "_c1": "score", "_c2": "ok", "_c3": "name"}


def test_csv_quote_escape_and_null_value_options(sc, tmp_path):
    path = tmp_path / "odd.csv"
    path.write_text("a|b\n'x|y'|NA\n'it''s'|'q\\'s'\n")
    got = sc.read.csv(str(path), header=True, sep="|", quote="'", nullValue="NA").collect()
    assert got == [{"a": "x|y", "b": None}, {"a": "it's", "b": "q's"}]


def _xml_oracle(path, tag):
    def value(element):
        if not element.attrib and not len(element):
            return element.text
        record = {"_" + k: v for k, v in element.attrib.items()}
        for child in element:
            child_value = value(child)
            if child.tag in record:
                current = record[child.tag]
                record[child.tag] = (current if isinstance(current, list) else [current]) + [child_value]
            else:
                record[child.tag] = child_value
        return record

    return [value(element) for element in ElementTree.parse(path).getroot().iter(tag)]


def test_xml_rows_equal_elementtree_over_many_splits(sc, tmp_path):
    path = tmp_path / "feed.xml"
    rows = _rows(3000)
    body = "".join(
        f'<book id="b{r["id"]}" lang="en"><title>{r["name"].replace("&", "&amp;")}x</title>'
        f'<tag>t{r["id"] % 3}</tag><tag>u</tag><price>p{r["score"]}</price></book>\n'
        for r in rows)
    path.write_text(f'<?xml version="1.0" encoding="UTF-8"?>\n<catalog>\n{body}</catalog>\n',
                    encoding="utf-8")
    got = sc.read.xml(str(path), rowTag="book", inferSchema=False, minPartitions=5).collect()
    assert sc.read.xml(str(path), rowTag="book", minPartitions=5).getNumPartitions() >= 5
    assert got == _xml_oracle(path, "book")


def test_xml_nested_elements_values_and_inferred_types(sc, tmp_path):
    path = tmp_path / "nested.xml"
    path.write_text('<rows><ROW a="1"><p x="y">text</p><q><r>2.5</r><r>true</r></q>'
                    '<e/></ROW><ROW><ROW>inner</ROW></ROW></rows>')
    got = sc.read.xml(str(path)).collect()
    assert got == [{"_a": 1, "p": {"_x": "y", "_VALUE": "text"}, "q": {"r": [2.5, True]},
                    "e": None},
                   {"ROW": "inner"}]


BAD_JSON = b'{"id": 1}\n{"id": 2, "name": \n\xff\xfe{"id": 3}\n{"id": 4}\n'


@pytest.mark.parametrize("fmt, content, good, bad", [
    ("json", BAD_JSON, [{"id": 1}, {"id": 4}], [b'{"id": 2, "name": ', b'\xff\xfe{"id": 3}']),
    ("csv", b"id,name\r\n1,a\r\n2,b,extra\r\n3\r\n4,\xffd\r\n5,e\r\n",
     [{"id": "1", "name": "a"}, {"id": "5", "name": "e"}],
     [b"2,b,extra", b"3", b"4,\xffd"]),
    ("xml", b"<r><ROW><a>1</a></ROW><ROW><a>2</b></ROW><ROW><a>\xff</a></ROW><ROW><a>4</a>",
     [{"a": 1}], [b"<ROW><a>2</b></ROW>", b"<ROW><a>\xff</a></ROW>", b"<ROW><a>4</a>"]),
])
def test_each_parse_mode_on_crafted_bad_input(sc, tmp_path, fmt, content, good, bad):
    path = tmp_path / f"bad.{fmt}"
    path.write_bytes(content)
    read = getattr(sc.read, fmt)
    options = {"header": True} if fmt == "csv" else {}
    permissive = read(str(path), **options).collect()
    corrupt = [record["_corrupt_record"] for record in permissive if "_corrupt_record" in record]
    assert corrupt == [raw.decode("utf-8", "replace") for raw in bad]
    assert [record for record in permissive if "_corrupt_record" not in record] == good
    renamed = read(str(path), columnNameOfCorruptRecord="broken", **options).collect()
    assert sum("broken" in record for record in renamed) == len(bad)
    assert read(str(path), mode="dropMalformed", **options).collect() == good
    with pytest.raises(MalformedRecordError) as failure:
        read(str(path), mode="FAILFAST", minPartitions=1, **options).collect()
    error = failure.value
    assert error.path == str(path)
    first = content.index(bad[0])
    assert error.offset == first
    assert error.snippet == bad[0][:64]
    assert str(path) in str(error) and f"byte offset {first}" in str(error)
    if fmt != "xml":
        assert error.line == content[:first].count(b"\n") + 1
        assert f"line {error.line}" in str(error)


def test_bom_crlf_empty_file_and_header_only(sc, tmp_path):
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbfid,name\r\n1,a\r\n")
    assert sc.read.csv(str(tmp_path / "bom.csv"), header=True).collect() == [
        {"id": "1", "name": "a"}]
    (tmp_path / "bom.jsonl").write_bytes(b'\xef\xbb\xbf{"a": 1}\r\n{"a": 2}\r\n')
    assert sc.read.json(str(tmp_path / "bom.jsonl"), mode="FAILFAST").collect() == [
        {"a": 1}, {"a": 2}]
    (tmp_path / "bom.xml").write_bytes(b'\xef\xbb\xbf<?xml version="1.0"?>\r\n<x>\r\n'
                                       b'<ROW>\r\n<a>1</a></ROW></x>')
    assert sc.read.xml(str(tmp_path / "bom.xml"), mode="FAILFAST").collect() == [{"a": 1}]
    for name in ("empty.json", "empty.csv", "empty.xml"):
        (tmp_path / name).write_bytes(b"")
    assert sc.read.json(str(tmp_path / "empty.json")).collect() == []
    assert sc.read.csv(str(tmp_path / "empty.csv"), header=True).collect() == []
    assert sc.read.xml(str(tmp_path / "empty.xml")).collect() == []
    (tmp_path / "header.csv").write_text("id,name\r\n")
    assert sc.read.csv(str(tmp_path / "header.csv"), header=True,
                       mode="FAILFAST").collect() == []


def test_unknown_mode_option_and_format_are_named_errors(sc, tmp_path):
    (tmp_path / "a.json").write_text('{"a": 1}\n')
    with pytest.raises(ValueError, match="unknown parse mode 'SLOPPY'"):
        sc.read.json(str(tmp_path / "a.json"), mode="SLOPPY")
    with pytest.raises(ValueError, match="unknown option 'heder'.*header"):
        sc.read.csv(str(tmp_path / "a.json"), heder=True)
    with pytest.raises(ValueError, match="unknown format 'parquet'"):
        sc.read.format("parquet")
    with pytest.raises(FileNotFoundError, match="missing"):
        sc.read.json(str(tmp_path / "missing")).collect()


CODEC_FILES = {"gzip": (".gz", gzip.decompress), "bzip2": (".bz2", bz2.decompress),
               "xz": (".xz", lzma.decompress)}


@pytest.mark.parametrize("codec", ["none", "gzip", "bzip2", "xz", "zstd", "lz4"])
def test_round_trip_through_every_codec(sc, tmp_path, codec):
    rows = _rows(500)
    rdd = sc.parallelize(rows, 3)
    rdd.write.json(str(tmp_path / "j"), compression=codec)
    rdd.write.csv(str(tmp_path / "c"), compression=codec, header=True)
    rdd.write.xml(str(tmp_path / "x"), compression=codec, rowTag="r")
    rdd.map(json.dumps).saveAsTextFile(str(tmp_path / "t"), {
        "none": None, "gzip": "org.apache.hadoop.io.compress.GzipCodec",
        "bzip2": "org.apache.hadoop.io.compress.BZip2Codec",
        "zstd": "org.apache.hadoop.io.compress.ZStandardCodec",
        "lz4": "org.apache.hadoop.io.compress.Lz4Codec", "xz": None}[codec])
    parts = sorted(name for name in os.listdir(tmp_path / "j") if name.startswith("part-"))
    suffix = {"none": "", "gzip": ".gz", "bzip2": ".bz2", "xz": ".xz", "zstd": ".zst",
              "lz4": ".lz4"}[codec]
    assert parts and all(name.endswith(".json" + suffix) for name in parts)
    if codec in CODEC_FILES:  # the standard library reads what ember wrote
        data = CODEC_FILES[codec][1]((tmp_path / "j" / parts[0]).read_bytes())
        assert json.loads(data.splitlines()[0]) == rows[0]
    assert sc.read.json(str(tmp_path / "j")).collect() == rows
    as_text = [{key: str(value).lower() if isinstance(value, bool) else str(value)
                for key, value in row.items()} for row in rows]  # booleans as Spark writes them
    back = sc.read.csv(str(tmp_path / "c"), header=True).collect()
    assert back == [{**row, "name": row["name"] or None} for row in as_text]
    assert sc.read.xml(str(tmp_path / "x"), rowTag="r", inferSchema=False).collect() == [
        {key: (str(value).lower() if isinstance(value, bool) else str(value)) or None
         for key, value in row.items()} for row in rows]
    if codec != "xz":
        assert [json.loads(line) for line in sc.textFile(str(tmp_path / "t")).collect()] == rows
    assert sorted(name for _, name in sc.wholeTextFiles(str(tmp_path / "j")).collect()) == sorted(
        "".join(json.dumps(row, separators=(",", ":"), ensure_ascii=False) + "\n"
                for row in part) for part in sc.parallelize(rows, 3).glom().collect())


def test_save_modes_error_overwrite_append_ignore(sc, tmp_path):
    out = str(tmp_path / "out")
    first = sc.parallelize([{"v": 1}, {"v": 2}], 2)
    first.write.json(out)
    with pytest.raises(FileExistsError, match="already exists"):
        first.write.json(out)
    first.write.mode("append").json(out)
    assert sorted(r["v"] for r in sc.read.json(out).collect()) == [1, 1, 2, 2]
    sc.parallelize([{"v": 3}], 1).write.json(out, mode="overwrite")
    assert sc.read.json(out).collect() == [{"v": 3}]
    sc.parallelize([{"v": 4}], 1).write.mode("ignore").json(out)
    assert sc.read.json(out).collect() == [{"v": 3}]
    assert sorted(os.listdir(out)) == ["_SUCCESS", "part-00000.json"]
    with pytest.raises(ValueError, match="unknown save mode 'replace'"):
        first.write.json(out, mode="replace")
    with pytest.raises(ValueError, match="unknown compression 'snappy'"):
        first.write.json(out, mode="overwrite", compression="snappy")


def test_text_reader_and_writer_speak_value_records(sc, tmp_path):
    (tmp_path / "in.txt").write_text("a\nb\n")
    assert sc.read.text(str(tmp_path / "in.txt")).collect() == [{"value": "a"}, {"value": "b"}]
    assert sc.read.text(str(tmp_path / "in.txt"), wholetext=True).collect() == [{"value": "a\nb\n"}]
    sc.read.text(str(tmp_path / "in.txt")).write.text(str(tmp_path / "out"), compression="gzip")
    assert sc.textFile(str(tmp_path / "out")).collect() == ["a", "b"]


def test_builder_form_matches_the_method_form(sc, tmp_path):
    path = tmp_path / "b.csv"
    path.write_text("x,y\n1,2\n")
    built = sc.read.format("csv").option("header", "true").option("inferSchema", "true").load(str(path))
    assert built.collect() == sc.read.csv(str(path), header=True, inferSchema=True).collect() == [
        {"x": 1, "y": 2}]
    sc.parallelize([{"x": 1}]).write.format("json").mode("overwrite").save(str(tmp_path / "o"))
    assert sc.read.format("json").load(str(tmp_path / "o")).collect() == [{"x": 1}]


def _csv_oracle(data: bytes, names, types, options) -> list[dict]:
    """The CSV reader's documented rules applied one line at a time, each line
    cut by the standard library's csv reader: the oracle of the batched reader
    (the data's backslashes are never before a quote or a backslash, where
    Spark's escape rules and RFC 4180 agree)."""
    convert = {"int": int, "double": float, "string": str,
               "boolean": lambda text: {"true": True, "false": False}[text.strip().lower()]}
    null = options.get("nullValue", "")
    comment = options.get("comment")
    lines = data.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    lines = [line[:-1] if line.endswith(b"\r") else line for line in lines]
    records, header_seen = [], False
    for raw in lines:
        if not header_seen:
            header_seen = bool(raw.strip())
            continue
        try:
            row = next(csv.reader([raw.decode("utf-8")], delimiter=options.get("sep", ","),
                                  quotechar='"', escapechar=None, doublequote=True, strict=True,
                                  skipinitialspace=options.get("ignoreLeadingWhiteSpace", False)),
                       [])
        except (csv.Error, UnicodeDecodeError):
            records.append({"_corrupt_record": raw.decode("utf-8", "replace")})
            continue
        if not row or (comment and row[0].startswith(comment)):
            continue
        if options.get("ignoreTrailingWhiteSpace"):
            row = [field.rstrip() for field in row]
        row = [None if field == null else field for field in row]
        values, bad = {}, len(row) != len(names)
        for name, kind, field in zip(names, types, row):
            try:
                values[name] = None if field is None else convert[kind](field)
            except (ValueError, KeyError):
                values[name] = None
                if not bad:  # a refused value: the fields after it stay None
                    bad = True
                    values.update({rest: None for rest in names[len(values):]})
                    break
        if bad:
            values.update({name: None for name in names if name not in values})
            values["_corrupt_record"] = raw.decode("utf-8", "replace")
        records.append(values)
    return records


def _messy_csv(rng: random.Random, count: int, quoted: bool, sep: str, comment: bool,
               null: str) -> bytes:
    """Blocks of good lines (blank and comment lines, CRLF, nulls, odd but valid
    values) and, every fourth block, bad ones among them, so that the reader's
    batches come both clean and not; with ``quoted``, quoted fields (and lines
    that are not UTF-8) in the first half only, so that some chunks have
    quotes and some do not (lines that are not UTF-8 in one block only)."""
    names = ["alpha", "beta", "gamma delta", "", "NA", "x  "]
    odd = ['say "hi"', f"a{sep}b", "back\\slash"]
    scores = ["1.5", "-2", "-inf", "inf", " 3.25", null, "1e3"]
    flags = ["true", "False", "TRUE", " false", "tRuE", null]
    out = [f"id{sep}name{sep}score{sep}ok\r\n".encode()]
    for i in range(count):
        quotes = quoted and i < count // 2
        kind = rng.random() if (i // 2500) % 4 == 3 else 1.0
        if rng.random() < 0.01:
            out.append(b"\n")
        elif comment and rng.random() < 0.01:
            out.append(f"#{i}{sep}a comment{sep}line\n".encode())
        elif kind < 0.01:
            out.append(f"{i}{sep}short\n".encode())
        elif kind < 0.02:
            out.append(f"{i}{sep}a{sep}1{sep}true{sep}extra\r\n".encode())
        elif kind < 0.03:
            out.append(f"{i}{sep}a{sep}x{sep}true\n".encode())
        elif kind < 0.04:
            out.append(f"{i}{sep}a{sep}1{sep}yes\n".encode())
        elif kind < 0.05 and quotes and i < 10_000:
            out.append(b"\xff\xfe" + f"{sep}bytes{sep}1{sep}true\n".encode())
        elif kind < 0.06 and quotes:
            out.append(f'{i}{sep}"open{sep}1{sep}true\n'.encode())
        else:
            name = rng.choice(names + odd if quotes else names)
            if quotes and rng.random() < 0.5:
                name = '"' + name.replace('"', '""') + '"'
            ok = rng.choice(flags) if rng.random() < 0.3 else rng.choice(["true", "false"])
            score = rng.choice(scores) if rng.random() < 0.3 else str(rng.uniform(-9, 9))
            ending = "\r\n" if rng.random() < 0.1 else "\n"
            out.append(f"{i}{sep}{name}{sep}{score}{sep}{ok}{ending}".encode())
    return b"".join(out)


@pytest.mark.parametrize("quoted", [False, True], ids=["plain", "quoted"])
@pytest.mark.parametrize("options", [
    {}, {"nullValue": "NA", "ignoreTrailingWhiteSpace": True},
    {"comment": "#", "sep": ";"}, {"ignoreLeadingWhiteSpace": True}],
    ids=["defaults", "null-trailing", "comment-sep", "leading"])
def test_csv_batches_equal_the_line_by_line_standard_library_parse(sc, tmp_path, quoted, options):
    rng = random.Random(17)
    data = _messy_csv(rng, 30_000, quoted, options.get("sep", ","), "comment" in options,
                      options.get("nullValue", ""))
    path = tmp_path / "messy.csv"
    path.write_bytes(data)
    names, types = ["id", "name", "score", "ok"], ["int", "string", "double", "boolean"]
    oracle = _csv_oracle(data, names, types, options)
    typed = sc.read.csv(str(path), header=True, minPartitions=3,
                        schema="id INT, name STRING, score DOUBLE, ok BOOLEAN", **options)
    assert typed.collect() == oracle
    strings = sc.read.csv(str(path), header=True, minPartitions=3, **options).collect()
    assert strings == _csv_oracle(data, names, ["string"] * 4, options)


def test_json_batches_equal_the_line_by_line_standard_library_parse(sc, tmp_path):
    rng = random.Random(5)
    odd = [b"", b"   ", b'{"a": 1} ', b'  {"b": 2}', b'[{"c": 3}, {"d": 4}]', b"[]", b"7",
           b'"text"', b'{"e": ', b"\xef\xbb\xbf{\"bom\": 1}", b'{"f": "\xc3\xa9"}', b"\xff{}",
           b'{"g": 1}\r', b"null", b'[{"h": 1}, 2]', b'{"i": [1, {"j": null}]}']
    lines = [rng.choice(odd) if rng.random() < 0.05 else json.dumps(row).encode()
             for row in _rows(20_000)]
    data = b"\n".join(lines) + b"\n"
    path = tmp_path / "messy.jsonl"
    path.write_bytes(data)
    oracle = []
    for raw in data.split(b"\n")[:-1]:
        raw = raw[:-1] if raw.endswith(b"\r") else raw
        try:
            value = json.loads(raw)
        except ValueError:
            if raw.strip():
                oracle.append({"_corrupt_record": raw.decode("utf-8", "replace")})
            continue
        if isinstance(value, dict):
            oracle.append(value)
        elif isinstance(value, list) and all(isinstance(item, dict) for item in value):
            oracle.extend(value)
        else:
            oracle.append({"_corrupt_record": raw.decode("utf-8", "replace")})
    assert sc.read.json(str(path), minPartitions=3).collect() == oracle
