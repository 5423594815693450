"""One pysyncobj member for ``python -m benchmarks controller --engines pysyncobj``.

``python -m benchmarks.pysyncobj_member SELF OTHER,OTHER JOURNAL`` starts a
SyncObj holding a replicated dict, with the same Raft timeouts as ember's
controller quorum, then answers JSON lines on stdin: ``{"op": "status"}``
(its leader and whether it is ready) and ``{"op": "commit", "n": N}`` (N
synchronous writes, each one's latency measured in this process).
"""

from __future__ import annotations

import json
import sys
import time


def main() -> int:
    from pysyncobj import SyncObj, SyncObjConf
    from pysyncobj.batteries import ReplDict

    me, others, journal = sys.argv[1], sys.argv[2].split(","), sys.argv[3]
    values = ReplDict()
    conf = SyncObjConf(raftMinTimeout=1.0, raftMaxTimeout=2.0, appendEntriesPeriod=0.15,
                       journalFile=journal, fullDumpFile=journal + ".dump",
                       connectionRetryTime=0.5, logCompactionMinEntries=1000,
                       appendEntriesUseBatch=False)
    member = SyncObj(me, others, conf, consumers=[values])
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        if command["op"] == "status":
            leader = member._getLeader()
            print(json.dumps({"leader": str(leader) if leader is not None else None,
                              "self": me, "ready": member.isReady()}), flush=True)
        elif command["op"] == "commit":
            latencies = []
            for i in range(command["n"]):
                started = time.perf_counter()
                values.set(f"k{i}", i, sync=True, timeout=10)
                latencies.append(time.perf_counter() - started)
            print(json.dumps({"latencies": latencies}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
