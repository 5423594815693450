"""PySpark's Hadoop-format methods, mapped onto what has a Python meaning.

Hadoop's formats are Java classes; ember has no JVM. The formats that have a
plain equivalent are implemented, by class name, for both Hadoop APIs (the
old ``org.apache.hadoop.mapred`` one for ``saveAsHadoop*``/``hadoop*``, the new
``org.apache.hadoop.mapreduce`` one for the ``NewAPI`` methods):

* TextOutputFormat: one ``key<TAB>value`` line per pair (a None key or value
  is left out with its tab, as Hadoop leaves out nulls), through
  ``saveAsTextFile``'s commit protocol and codecs.
* TextInputFormat: ``(byte offset, line)`` pairs, split like ``textFile``;
  the offset counts bytes of the decompressed stream for ``.gz``/``.bz2``.
* KeyValueTextInputFormat: each line cut at its first separator (TAB unless
  the conf sets one) into ``(key, value)``; a line without it is
  ``(line, "")``.
* SequenceFileOutputFormat / SequenceFileInputFormat: ember's pickle files
  of ``(key, value)`` pairs (``ember.engine.io.picklefile``), so keys and values
  of any picklable type come back as they went in. They are not Hadoop
  SequenceFiles: Spark cannot read them, nor ember Spark's.

Any other format class, and any key/value converter (converters are Java
classes), raises ``NotImplementedError`` naming the method, the class and
the ember alternative. Key and value classes are accepted and ignored:
Python values carry their own types.
"""

from __future__ import annotations

from typing import Any, Iterator

from ember.engine.io import filesystem

_OLD, _NEW = "org.apache.hadoop.mapred.", "org.apache.hadoop.mapreduce.lib."

INPUT_FORMATS = {
    "old": {_OLD + "TextInputFormat": "text", _OLD + "KeyValueTextInputFormat": "keyvalue",
            _OLD + "SequenceFileInputFormat": "sequence"},
    "new": {_NEW + "input.TextInputFormat": "text",
            _NEW + "input.KeyValueTextInputFormat": "keyvalue",
            _NEW + "input.SequenceFileInputFormat": "sequence"},
}
OUTPUT_FORMATS = {
    "old": {_OLD + "TextOutputFormat": "text", _OLD + "SequenceFileOutputFormat": "sequence"},
    "new": {_NEW + "output.TextOutputFormat": "text",
            _NEW + "output.SequenceFileOutputFormat": "sequence"},
}

# Conf keys, newest name first (Hadoop still honours the old ones).
INPUT_DIR = ("mapreduce.input.fileinputformat.inputdir", "mapred.input.dir")
OUTPUT_DIR = ("mapreduce.output.fileoutputformat.outputdir", "mapred.output.dir")
OUTPUT_FORMAT_CLASS = {"old": ("mapred.output.format.class",),
                       "new": ("mapreduce.job.outputformat.class",)}
INPUT_FORMAT_CLASS = {"old": ("mapred.input.format.class",),
                      "new": ("mapreduce.job.inputformat.class",)}
COMPRESS = ("mapreduce.output.fileoutputformat.compress", "mapred.output.compress")
COMPRESS_CODEC = ("mapreduce.output.fileoutputformat.compress.codec",
                  "mapred.output.compression.codec")
TEXT_SEPARATOR = ("mapreduce.output.textoutputformat.separator",
                  "mapred.textoutputformat.separator")
KEY_VALUE_SEPARATOR = ("mapreduce.input.keyvaluelinerecordreader.key.value.separator",
                       "key.value.separator.in.input.line")

ALTERNATIVES = {
    "input": "sc.textFile, sc.wholeTextFiles, sc.binaryFiles, sc.binaryRecords or sc.pickleFile",
    "output": "saveAsTextFile or saveAsPickleFile",
}


def conf_value(conf: dict | None, keys: tuple[str, ...], default: Any = None) -> Any:
    for key in keys:
        if conf and key in conf:
            return conf[key]
    return default


def require_conf(method: str, conf: dict | None, keys: tuple[str, ...]) -> str:
    value = conf_value(conf, keys)
    if not value:
        raise ValueError(f"{method}: conf must set {keys[0]!r}, got {conf!r}")
    return value


def check_converters(method: str, keyConverter: Any, valueConverter: Any) -> None:
    for name, value in (("keyConverter", keyConverter), ("valueConverter", valueConverter)):
        if value is not None:
            raise NotImplementedError(
                f"{method}: {name}={value!r} names a Java converter class, which ember cannot "
                f"run; leave it None and convert the records with map() instead")


def format_kind(method: str, class_name: str, api: str, direction: str) -> str:
    formats = (INPUT_FORMATS if direction == "input" else OUTPUT_FORMATS)[api]
    kind = formats.get(class_name)
    if kind is None:
        argument = "inputFormatClass" if direction == "input" else "outputFormatClass"
        raise NotImplementedError(
            f"{method}: {argument} {class_name!r} is not supported: ember implements "
            f"{', '.join(sorted(formats))}; otherwise use {ALTERNATIVES[direction]}")
    return kind


def output_codec(conf: dict | None, codec_class: str | None) -> str | None:
    """The codec class: the argument, else the conf's when it turns compression on."""
    if codec_class is not None:
        return codec_class
    if str(conf_value(conf, COMPRESS, "false")).lower() == "true":
        return conf_value(conf, COMPRESS_CODEC, "org.apache.hadoop.io.compress.DefaultCodec")
    return None


class TextPair:
    """Formats a (key, value) pair as one line of Hadoop's TextOutputFormat."""

    def __init__(self, separator: str):
        self.separator = separator

    def __call__(self, pair: Any) -> str:
        try:
            key, value = pair
        except (TypeError, ValueError) as error:
            raise type(error)(f"Hadoop text output needs (key, value) pairs, got {pair!r}") from None
        if key is None:
            return "" if value is None else str(value)
        if value is None:
            return str(key)
        return f"{key}{self.separator}{value}"


class SplitKeyValue:
    """Cuts a line at its first separator (KeyValueTextInputFormat)."""

    def __init__(self, separator: str):
        self.separator = separator

    def __call__(self, line: str) -> tuple[str, str]:
        key, _, value = line.partition(self.separator)
        return key, value


def save(rdd: Any, method: str, path: str, format_class: str, api: str, conf: dict | None,
         codec_class: str | None) -> None:
    """Write ``rdd``'s pairs in the format ``format_class`` names."""
    kind = format_kind(method, format_class, api, "output")
    codec = output_codec(conf, codec_class)
    if kind == "text":
        separator = conf_value(conf, TEXT_SEPARATOR, "\t")
        rdd.map(TextPair(separator)).saveAsTextFile(path, codec)
    else:
        rdd._save_pickled(path, 10, codec, pairs_only=True, method=method)


def read_offset_lines(path: str, start: int, length: int, whole_file: bool) -> Iterator[tuple[int, str]]:
    """(offset, line) for the lines starting in this split (``textFile``'s
    ownership rule: a line starting exactly at the split's end is this
    split's; the line in progress at its start is the previous split's)."""
    with filesystem.open_input(path) as stream:
        end = None if whole_file else start + length
        if start:
            stream.seek(start)
            stream.readline()
        position = stream.tell() if start else 0
        while end is None or position <= end:
            line = stream.readline()
            if not line:
                return
            text = line.decode("utf-8").rstrip("\n")
            yield position, text[:-1] if text.endswith("\r") else text
            position += len(line)
