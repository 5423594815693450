"""Child process for the consumer-group tests: joins a group, and for each
poll prints the records it got as JSON lines, then commits them; after
``commits`` commits it prints what it got once more and then "processing",
and sleeps without committing, to be SIGKILLed there.

The broker's address and secret arrive as one JSON line on stdin (never argv).
"""

import json
import sys
import time

from ember.ingest import connect


def main() -> None:
    bootstrap = json.loads(sys.stdin.readline())
    store = connect(bootstrap["address"], bootstrap["secret"])
    consumer = store.consumer(bootstrap["topic"], group_id=bootstrap["group"],
                              auto_offset_reset="earliest", enable_auto_commit=False,
                              max_poll_records=bootstrap["batch"], session_timeout_ms=1500,
                              heartbeat_interval_ms=200)
    commits = 0
    while True:
        batch = consumer.poll(timeout_ms=500)
        records = [[r.partition, r.offset] for records in batch.values() for r in records]
        if not records:
            continue
        print(json.dumps(records), flush=True)
        if commits == bootstrap["commits"]:
            print("processing", flush=True)
            time.sleep(60)  # SIGKILLed here: these records are processed, not committed
        consumer.commit()
        commits += 1


if __name__ == "__main__":
    main()
