"""Child process for the SIGKILL tests: appends numbered records to one
partition forever, flushing every few batches, and prints the high watermark
after each flush. The parent kills it with SIGKILL at a moment of its choosing.

usage: python appender_child.py LOG_DIR SEED
Record n has value b"r<n>", so after recovery record n must sit at offset n.
"""

import random
import sys

from ember.ingest.log.log_manager import LogManager
from ember.ingest.log.record_batch import SimpleRecord, encode_batch


def main() -> None:
    log_dir, seed = sys.argv[1], int(sys.argv[2])
    rng = random.Random(seed)
    manager = LogManager(log_dir)
    if "events" not in manager.topics():
        manager.create_topic("events", 1, {"segment.bytes": 20_000,
                                           "index.interval.bytes": 512})
    log = manager.get_log("events", 0)
    n = log.log_end_offset
    while True:
        for _ in range(rng.randint(1, 4)):
            count = rng.randint(1, 20)
            records = [SimpleRecord(None, b"r%d" % (n + i) + b"." * rng.randint(0, 200))
                       for i in range(count)]
            log.append(encode_batch(records, timestamp=1_700_000_000_000 + n))
            n += count
        print(log.flush(), flush=True)


if __name__ == "__main__":
    main()
