"""Conf: ember's settings, declared once, with PySpark's ``SparkConf`` API.

Every setting ember reads is declared in ``SETTINGS`` with its key, parser,
default, check and documentation; values are stored as strings (as in
SparkConf) and checked when set, so a bad value fails at ``set`` with the key,
the value and what was expected.

Unknown keys: an unknown ``ember.*`` key is an error that suggests the closest
known key. An unknown ``spark.*`` key is accepted and ignored (with a logged
warning naming the closest known key), so that a PySpark program's
configuration runs unchanged; only the ``spark.*`` keys declared below have an
effect in ember.

Defaults from outside the program (what ``ember submit`` passes, as
spark-submit passes its ``--master`` and ``--conf``): a Conf made with
``loadDefaults`` first takes the environment variables ``EMBER_MASTER`` (a
master URL, becoming ``spark.master``) and ``EMBER_CONF`` (a JSON object of
settings, ``{"spark.task.maxFailures": "2"}``), then the ``spark.*`` system
properties; anything the program sets afterwards wins. A malformed
``EMBER_CONF`` is a ConfigError naming the variable.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from ember.engine.errors import ConfigError
from ember.engine.units import parse_size
from ember.engine.wire.framing import MIN_FRAME_LIMIT

log = logging.getLogger("ember.conf")

_TIME_UNITS = {"": 1.0, "s": 1.0, "ms": 0.001, "us": 1e-6, "m": 60.0, "min": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Seconds from '3s', '100ms', '2min', '5' (seconds)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", str(text))
    if not match or match.group(2).lower() not in _TIME_UNITS:
        raise ValueError("a duration such as 3s, 100ms or 2min")
    return float(match.group(1)) * _TIME_UNITS[match.group(2).lower()]


def parse_bool(text: str) -> bool:
    lowered = str(text).strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise ValueError("true or false")


def parse_int(text: str) -> int:
    try:
        return int(str(text).strip())
    except ValueError:
        raise ValueError("an integer") from None


def parse_float(text: str) -> float:
    try:
        return float(str(text).strip())
    except ValueError:
        raise ValueError("a number") from None


def between(low: float, high: float) -> Callable[[Any], str | None]:
    return lambda value: None if low <= value <= high else f"a value between {low} and {high}"


def at_least(minimum: float) -> Callable[[Any], str | None]:
    return lambda value: None if value >= minimum else f"at least {minimum}"


@dataclass(frozen=True)
class Setting:
    key: str
    parse: Callable[[str], Any]
    default: str | None
    doc: str
    check: Callable[[Any], str | None] | None = None


SETTINGS: dict[str, Setting] = {s.key: s for s in [
    Setting("spark.master", str, None,
            "Where to run: local, local[N], local[*], local[N,F], or ember://HOST:PORT (a "
            "driver that waits for workers started with 'ember worker')."),
    Setting("spark.app.name", str, "ember", "The application's name."),
    Setting("spark.task.maxFailures", parse_int, "4",
            "Attempts of one task (failures raised by the task) before its job is aborted.",
            at_least(1)),
    Setting("ember.task.maxWorkerDeaths", parse_int, "4",
            "Deaths of the workers running one task before that task is taken to be killing "
            "them and its job is aborted (worker deaths are not task failures).", at_least(1)),
    Setting("spark.stage.maxConsecutiveAttempts", parse_int, "4",
            "Consecutive attempts of a stage ended by fetch failures before its jobs abort.",
            at_least(1)),
    Setting("spark.default.parallelism", parse_int, None,
            "Default number of partitions of parallelize and of shuffles; by default the "
            "number of task slots (parallelize) or of parent partitions (shuffles).", at_least(1)),
    Setting("spark.driver.maxResultSize", parse_size, "1g",
            "Largest total size of the serialized results of one job; 0 means no limit."),
    Setting("spark.locality.wait", parse_duration, "3s",
            "How long a task waits for a slot on the worker holding its cached input."),
    Setting("spark.local.dir", str, None,
            "Directory for ember's temporary files (shuffle output, spilled blocks); the "
            "system temporary directory by default."),
    Setting("spark.executor.cores", parse_int, "1", "Task slots per worker process.", at_least(1)),
    Setting("spark.executor.memory", parse_size, None,
            "Memory budget of one worker process; by default 60% of this machine's memory "
            "shared among the workers of a local cluster (a worker started by hand takes "
            "its --memory)."),
    Setting("spark.memory.fraction", parse_float, "0.6",
            "Share of a worker's memory that cached partitions may hold; past it, the least "
            "recently used blocks of other RDDs are evicted (MEMORY_AND_DISK ones to disk).",
            between(0.0, 1.0)),
    Setting("spark.python.worker.memory", parse_size, "512m",
            "Memory one task may use for a key aggregation or a sort before it spills to "
            "disk (an estimate of the data held, checked as records arrive).", at_least(1)),
    Setting("spark.reducer.maxSizeInFlight", parse_size, "48m",
            "Shuffle bytes a reduce task fetches from other workers at once; it reads the "
            "rest in later rounds, in map order.", at_least(1)),
    Setting("spark.executor.heartbeatInterval", parse_duration, "1s",
            "How often a worker tells the driver it is alive."),
    Setting("spark.network.timeout", parse_duration, "120s",
            "Silence after which the driver declares a worker lost (and a worker fences "
            "itself from a silent driver)."),
    Setting("ember.task.killTimeout", parse_duration, "10s",
            "How long a killed task may take to stop before its worker process exits to "
            "free the slot (a local cluster replaces it)."),
    Setting("ember.worker.maxRespawnsPerMinute", parse_int, "60",
            "Most replacement workers a local cluster starts per minute.", at_least(0)),
    Setting("spark.speculation", parse_bool, "false",
            "Launch a copy of a straggling task on another worker; the first attempt to "
            "finish wins and the other is killed."),
    Setting("spark.speculation.interval", parse_duration, "100ms",
            "How often to look for stragglers."),
    Setting("spark.speculation.multiplier", parse_float, "1.5",
            "A task is a straggler when it runs this many times longer than the median "
            "successful task of its stage.", at_least(1.0)),
    Setting("spark.speculation.quantile", parse_float, "0.75",
            "Fraction of a stage's tasks that must finish before stragglers are looked for.",
            between(0.0, 1.0)),
    Setting("spark.speculation.minTaskRuntime", parse_duration, "100ms",
            "A task is never a straggler before running this long."),
    Setting("spark.python.profile", parse_bool, "false",
            "Profile the Python code of every task (see sc.show_profiles and sc.dump_profiles)."),
    Setting("spark.submit.pyFiles", str, None,
            "Comma-separated .py, .zip or .egg files added with addPyFile when the Context "
            "starts (``ember submit --py-files``)."),
    Setting("spark.python.profile.dump", str, None,
            "A directory where the profiles are dumped when the Context stops."),
    Setting("ember.worker.startTimeout", parse_duration, "60s",
            "How long the driver waits for local workers to start and register."),
    Setting("ember.shuffle.fetchTimeout", parse_duration, "60s",
            "How long a reducer waits for a silent peer before reporting a fetch failure."),
    Setting("ember.network.maxMessageSize", parse_size, "1m",
            "Largest ZeroMQ frame an ember process accepts from a peer, before or after it "
            "authenticated (ZMQ_MAXMSGSIZE): what a peer without the cluster secret can make "
            "it buffer per connection. Larger payloads travel in 512 KiB frames, so this "
            "bounds no job.", at_least(MIN_FRAME_LIMIT)),
    Setting("ember.driver.bindAddress", str, "127.0.0.1",
            "Address the driver's socket binds to; loopback unless set. With an ember://HOST:PORT "
            "master, HOST unless this is set."),
    Setting("ember.driver.advertiseAddress", str, None,
            "With an ember:// master: the address workers are told to reach the driver at "
            "(printed in the start-up line); HOST of the master URL by default."),
    Setting("spark.driver.port", parse_int, None,
            "With an ember:// master: the port the driver's socket bound to (set by the "
            "Context; the master URL's port, or the port picked for port 0)."),
    Setting("ember.driver.minWorkers", parse_int, "0",
            "With an ember:// master: the Context waits until this many workers have "
            "registered (at most ember.worker.startTimeout) before returning; jobs submitted "
            "before any worker joined wait for one anyway.", at_least(0)),
    Setting("ember.secretFile", str, None,
            "With an ember:// master: the file holding the cluster secret (hex, mode 0600; "
            "'ember secret new --out F' makes one); the EMBER_SECRET_FILE environment "
            "variable by default."),
    Setting("ember.worker.bindAddress", str, "127.0.0.1",
            "Address the shuffle service of a local cluster's workers binds and advertises "
            "(workers started by hand take it from --host)."),
    Setting("spark.ui.enabled", parse_bool, "true",
            "Serve the live status page (Context.uiWebUrl) from the driver, on 127.0.0.1."),
    Setting("spark.ui.showConsoleProgress", parse_bool, "true",
            "Show a progress bar per running stage while an action runs (on a terminal or "
            "in a notebook; never when stderr is redirected)."),
    # ember.streaming (streaming/): micro-batches over topics
    Setting("spark.streaming.concurrentJobs", parse_int, "1",
            "Batches of a StreamingContext run at once; 1 runs them in order, one at a time.",
            at_least(1)),
    Setting("spark.streaming.kafka.maxRatePerPartition", parse_int, "0",
            "Most records per second a topic stream reads from one partition (0: no limit).",
            at_least(0)),
    Setting("spark.streaming.kafka.minRatePerPartition", parse_int, "1",
            "Fewest records per second backpressure lets a topic stream read from a partition.",
            at_least(1)),
    Setting("spark.streaming.backpressure.enabled", parse_bool, "false",
            "Let topic streams read at the rate a PID estimator derives from the last "
            "batches' processing and scheduling delays."),
    Setting("spark.streaming.backpressure.initialRate", parse_int, None,
            "Records per second a topic stream reads before backpressure has an estimate.",
            at_least(1)),
    Setting("spark.streaming.backpressure.pid.proportional", parse_float, "1.0",
            "The PID rate estimator's weight of the current error.", at_least(0.0)),
    Setting("spark.streaming.backpressure.pid.integral", parse_float, "0.2",
            "The PID rate estimator's weight of the accumulated error (scheduling delay).",
            at_least(0.0)),
    Setting("spark.streaming.backpressure.pid.derived", parse_float, "0.0",
            "The PID rate estimator's weight of the error's rate of change.", at_least(0.0)),
    Setting("spark.streaming.backpressure.pid.minRate", parse_float, "100",
            "The lowest rate (records per second) the PID rate estimator gives.",
            at_least(1e-9)),
    Setting("ember.streaming.topic.retryWindow", parse_duration, "60s",
            "How long a topic stream keeps asking an unreachable broker for its latest "
            "offsets (a warning per attempt) before the stream fails."),
]}


class Conf:
    """Configuration for a Context: key-value pairs of strings, as in PySpark.

    >>> conf = Conf().setMaster("local[2]").setAppName("wordcount")
    >>> conf.get("spark.master"), conf.get("spark.app.name")
    ('local[2]', 'wordcount')
    >>> conf.set("spark.task.maxFailures", "x")
    Traceback (most recent call last):
        ...
    ember.engine.errors.ConfigError: spark.task.maxFailures = 'x' is invalid: expected an integer
    """

    def __init__(self, loadDefaults: bool = True, _jvm: Any = None, _jconf: Any = None):
        self._values: dict[str, str] = {}
        if loadDefaults:
            self.setAll(environment_defaults())
            # then spark.* system properties, as a JVM SparkConf loads them
            from ember.driver.context import Context

            for key, value in Context._system_properties.items():
                if key.startswith("spark."):
                    self.set(key, value)

    def set(self, key: str, value: Any) -> "Conf":
        if not isinstance(key, str) or not key:
            raise ConfigError(f"a setting key must be a non-empty string, got {key!r}")
        text = str(value).lower() if isinstance(value, bool) else str(value)
        setting = SETTINGS.get(key)
        if setting is None:
            self._unknown(key)
        else:
            _parse(setting, text)
        self._values[key] = text
        return self

    @staticmethod
    def _unknown(key: str) -> None:
        close = difflib.get_close_matches(key, SETTINGS, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        if key.startswith("spark."):
            log.warning("setting %s is not used by ember and is ignored%s", key, hint)
            return
        if key.startswith("ember.") or close:
            raise ConfigError(f"unknown setting {key!r}{hint}")

    def setIfMissing(self, key: str, value: Any) -> "Conf":
        if key not in self._values:
            self.set(key, value)
        return self

    def setMaster(self, value: str) -> "Conf":
        return self.set("spark.master", value)

    def setAppName(self, value: str) -> "Conf":
        return self.set("spark.app.name", value)

    def setSparkHome(self, value: str) -> "Conf":
        self._values["spark.home"] = str(value)
        return self

    def setExecutorEnv(self, key: str | None = None, value: str | None = None,
                       pairs: Iterable[tuple[str, str]] | None = None) -> "Conf":
        if (key is not None and pairs is not None) or (key is None and pairs is None):
            raise ValueError("setExecutorEnv: give either key and value, or pairs")
        for name, text in ([(key, value)] if key is not None else pairs):
            self._values[f"spark.executorEnv.{name}"] = str(text)
        return self

    def setAll(self, pairs: Iterable[tuple[str, Any]]) -> "Conf":
        for key, value in pairs:
            self.set(key, value)
        return self

    def get(self, key: str, defaultValue: str | None = None) -> str | None:
        return self._values.get(key, defaultValue)

    def getAll(self) -> list[tuple[str, str]]:
        return list(self._values.items())

    def contains(self, key: str) -> bool:
        return key in self._values

    def toDebugString(self) -> str:
        return "\n".join(f"{key}={value}" for key, value in sorted(self._values.items()))

    def copy(self) -> "Conf":
        clone = Conf()
        clone._values = dict(self._values)
        return clone

    def value(self, key: str) -> Any:
        """The parsed value of a declared setting (its default when unset)."""
        setting = SETTINGS[key]
        text = self._values.get(key, setting.default)
        return None if text is None else _parse(setting, text)

    def __repr__(self) -> str:
        return f"Conf({dict(sorted(self._values.items()))!r})"


def _parse(setting: Setting, text: str) -> Any:
    try:
        value = setting.parse(text)
    except ValueError as error:
        raise ConfigError(f"{setting.key} = {text!r} is invalid: expected {error}") from None
    problem = setting.check(value) if setting.check else None
    if problem:
        raise ConfigError(f"{setting.key} = {text!r} is invalid: expected {problem}")
    return value


ENV_MASTER = "EMBER_MASTER"
ENV_CONF = "EMBER_CONF"


def environment_defaults(environ: "os._Environ | dict | None" = None) -> list[tuple[str, str]]:
    """Settings handed to this process in ``EMBER_CONF`` and ``EMBER_MASTER``."""
    environ = os.environ if environ is None else environ
    pairs: list[tuple[str, str]] = []
    text = environ.get(ENV_CONF, "").strip()
    if text:
        try:
            values = json.loads(text)
        except ValueError as error:
            raise ConfigError(f"{ENV_CONF} is not valid JSON ({error}); expected an object of "
                              f"settings such as {{\"spark.task.maxFailures\": \"2\"}}") from None
        if not isinstance(values, dict):
            raise ConfigError(f"{ENV_CONF} must hold a JSON object of settings, got "
                              f"{type(values).__name__}")
        pairs += [(str(key), value) for key, value in values.items()]
    if environ.get(ENV_MASTER, "").strip():
        pairs.append(("spark.master", environ[ENV_MASTER].strip()))
    return pairs


def default_local_dir() -> str:
    return tempfile.gettempdir()


SparkConf = Conf
