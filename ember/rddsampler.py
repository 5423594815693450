"""``ember.rddsampler``: the names of PySpark's ``pyspark.rddsampler``."""

from ember.engine.api.samplers import (
    RDDRangeSampler,
    RDDSampler,
    RDDSamplerBase,
    RDDStratifiedSampler,
)

__all__ = ["RDDSamplerBase", "RDDSampler", "RDDRangeSampler", "RDDStratifiedSampler"]
