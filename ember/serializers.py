"""``ember.serializers``: the names of PySpark's ``pyspark.serializers``."""

from ember.engine.wire.serializers import (
    AutoBatchedSerializer,
    AutoSerializer,
    BatchedSerializer,
    CartesianDeserializer,
    ChunkedStream,
    CloudPickleSerializer,
    CompressedSerializer,
    CPickleSerializer,
    FlattenedValuesSerializer,
    FramedSerializer,
    MarshalSerializer,
    NoOpSerializer,
    PairDeserializer,
    PickleSerializer,
    Serializer,
    SpecialLengths,
    UTF8Deserializer,
    pack_long,
    pickle_protocol,
    read_bool,
    read_int,
    read_long,
    write_int,
    write_long,
    write_with_length,
)

__all__ = ["PickleSerializer", "CPickleSerializer", "CloudPickleSerializer", "MarshalSerializer",
           "UTF8Deserializer"]
