"""The PID rate estimator behind backpressure (Spark's PIDRateEstimator).

Owns one controller per input stream: after each completed batch it takes
the batch's record count, processing delay and scheduling delay and returns
a new rate (records per second) for the stream to read at, or None when it
has no estimate yet (the first usable batch only calibrates it) or the batch
told nothing (no records, no processing time, or not newer than the last).

The error is the gap between the rate it asked for last time and the rate
the batch was processed at; the integral term is the backlog the scheduling
delay stands for, expressed as a rate over one batch interval; the result
never goes below ``min_rate``.

Thread-safety: ``compute`` holds a lock; batches may complete on several
threads (``spark.streaming.concurrentJobs``).
"""

from __future__ import annotations

import threading


class PIDRateEstimator:
    def __init__(self, batch_interval_ms: int, proportional: float = 1.0, integral: float = 0.2,
                 derivative: float = 0.0, min_rate: float = 100.0):
        for name, value in (("proportional", proportional), ("integral", integral),
                            ("derivative", derivative)):
            if value < 0:
                raise ValueError(f"PIDRateEstimator: the {name} term must be >= 0, got {value}")
        if batch_interval_ms <= 0:
            raise ValueError(f"PIDRateEstimator: the batch interval must be positive, got "
                             f"{batch_interval_ms} ms")
        if min_rate <= 0:
            raise ValueError(f"PIDRateEstimator: the minimum rate must be > 0, got {min_rate}")
        self.batch_interval_ms = batch_interval_ms
        self.proportional, self.integral, self.derivative = proportional, integral, derivative
        self.min_rate = min_rate
        self._first = True
        self._latest_time = -1
        self._latest_rate = -1.0
        self._latest_error = -1.0
        self._lock = threading.Lock()

    def compute(self, time_ms: int, elements: int, processing_delay_ms: int,
                scheduling_delay_ms: int) -> float | None:
        with self._lock:
            if not (time_ms > self._latest_time and elements > 0 and processing_delay_ms > 0):
                return None
            since_update = (time_ms - self._latest_time) / 1000.0
            processing_rate = elements / processing_delay_ms * 1000.0
            error = self._latest_rate - processing_rate
            historical_error = scheduling_delay_ms * processing_rate / self.batch_interval_ms
            d_error = (error - self._latest_error) / since_update
            new_rate = max(self._latest_rate - self.proportional * error
                           - self.integral * historical_error
                           - self.derivative * d_error, self.min_rate)
            self._latest_time = time_ms
            if self._first:
                self._latest_rate, self._latest_error, self._first = processing_rate, 0.0, False
                return None
            self._latest_rate, self._latest_error = new_rate, error
            return new_rate
