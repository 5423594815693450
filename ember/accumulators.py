"""``ember.accumulators``: the names of PySpark's ``pyspark.accumulators``."""

from ember.engine.api.accumulators import (
    COMPLEX_ACCUMULATOR_PARAM,
    FLOAT_ACCUMULATOR_PARAM,
    INT_ACCUMULATOR_PARAM,
    Accumulator,
    AccumulatorParam,
    AddingAccumulatorParam,
)
from ember.engine.wire.serializers import CPickleSerializer

pickleSer = CPickleSerializer()

__all__ = ["Accumulator", "AccumulatorParam", "AddingAccumulatorParam", "INT_ACCUMULATOR_PARAM",
           "FLOAT_ACCUMULATOR_PARAM", "COMPLEX_ACCUMULATOR_PARAM", "pickleSer"]
