"""Data sizes per scale.

Every size the suite uses lives here, so a scale is one readable row and the
README can quote it. ``medium`` is the size the benchmark issue asks for;
``small`` keeps a full run within minutes on two cores; ``tiny`` exists to
develop the suite itself and its numbers mean nothing.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scale:
    name: str
    partitions: int          # input partitions (one data file each)
    text_mb: int             # wordcount input
    vocabulary: int          # distinct synthetic words the text draws from
    kv_rows: int             # reduceByKey input rows
    kv_keys: int             # distinct keys among them
    join_left_rows: int      # left side rows (many per key)
    join_right_keys: int     # key space of the join; the right side holds 80 % of it
    sort_rows: int
    points: int              # k-means points
    dims: int
    clusters: int
    spill_budget_mb: int     # memory budget per worker for the spill workloads
    log_records: int         # records produced, consumed and read by the log-store workloads
    ml_points: int           # mllib k-means points (ML_POINT_DIMS dimensions, ML_CLUSTERS centers)
    ml_rows: int             # mllib logistic regression rows (ML_FEATURES features)
    ml_ratings: int          # mllib ALS ratings
    ml_forest_rows: int      # mllib random forest rows (ML_FOREST_FEATURES features)
    timeout_s: int           # per run, covering context start and stop

    @property
    def spill_rows(self) -> int:
        """Rows whose raw payload is four times the worker budget."""
        return 4 * self.spill_budget_mb * 2**20 // SPILL_RECORD_BYTES


# An int64 key plus a 100-byte value: the on-disk size of one spill record.
# In Python memory a record is about twice that, so "4x the budget" is a
# lower bound on the pressure the engines see.
SPILL_VALUE_BYTES = 100
SPILL_RECORD_BYTES = 8 + SPILL_VALUE_BYTES

# Log-store records: LOG_RECORD_BYTES of ASCII each, an access-log-like head
# (user, page, status, size) padded with letters; LOG_USERS distinct users.
LOG_RECORD_BYTES = 100
# The large-record variant of the produce workloads: 1 KB records, a tenth as
# many, so the same bytes.
LOG_LARGE_RECORD_BYTES = 1000
LOG_LARGE_SHARE = 10
LOG_USERS = 10_000
# The concurrent variant of the produce workload runs this many producers,
# each in its own process, each sending an equal share of the records.
LOG_PRODUCERS = 4

KMEANS_STEPS = 10
TINY_TASKS = 1000

# ember.mllib against PySpark's MLlib and scikit-learn: the shapes the
# machine-learning issue asks for (sizes per scale below).
ML_POINT_DIMS = 20
ML_CLUSTERS = 10
ML_KMEANS_ITERATIONS = 10
ML_FEATURES = 50
ML_ALS_RANK = 10
ML_ALS_ITERATIONS = 10
ML_USERS = 6_000
ML_PRODUCTS = 4_000
ML_FOREST_FEATURES = 20
ML_FOREST_TREES = 20

# One row per setting, one column per scale.
_NAMES = ("tiny", "small", "medium")
_TABLE = {
    #                   tiny      small        medium
    "partitions":      (4,        8,           16),
    "text_mb":         (2,        20,          200),
    "vocabulary":      (5_000,    50_000,      200_000),
    "kv_rows":         (100_000,  1_000_000,   5_000_000),
    "kv_keys":         (5_000,    50_000,      100_000),
    "join_left_rows":  (100_000,  1_000_000,   5_000_000),
    "join_right_keys": (20_000,   250_000,     1_000_000),
    "sort_rows":       (100_000,  1_000_000,   5_000_000),
    "points":          (50_000,   1_000_000,   5_000_000),
    "dims":            (8,        10,          10),
    "clusters":        (5,        8,           8),
    "spill_budget_mb": (4,        16,          128),
    "log_records":     (20_000,   200_000,     1_000_000),
    "ml_points":       (50_000,   1_000_000,   1_000_000),
    "ml_rows":         (50_000,   1_000_000,   1_000_000),
    "ml_ratings":      (50_000,   1_000_000,   1_000_000),
    "ml_forest_rows":  (20_000,   200_000,     200_000),
    "timeout_s":       (300,      900,         3600),
}

SCALES = {
    name: Scale(name=name, **{field: column[i] for field, column in _TABLE.items()})
    for i, name in enumerate(_NAMES)
}
