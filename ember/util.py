"""``ember.util``: the names of PySpark's ``pyspark.util`` that have a
meaning without a JVM."""

from ember.driver.threads import InheritableThread, inheritable_thread_target
from ember.engine.util import (
    JVM_BYTE_MAX,
    JVM_BYTE_MIN,
    JVM_INT_MAX,
    JVM_INT_MIN,
    JVM_LONG_MAX,
    JVM_LONG_MIN,
    JVM_SHORT_MAX,
    JVM_SHORT_MIN,
    VersionUtils,
    disable_gc,
    fail_on_stopiteration,
    keyword_only,
    print_exec,
    walk_tb,
)

__all__ = ["InheritableThread", "inheritable_thread_target", "fail_on_stopiteration",
           "keyword_only"]
