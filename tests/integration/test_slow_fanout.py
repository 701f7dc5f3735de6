"""A stuck client does not slow the others down (issue 6): scopebench's
fanout (100 subscribers, a fake Seestar emitting PiStatus events, latency
from the device's event to each client's receipt) runs with and without
two extra subscribers that stop reading, alternately, twice each. The
readers' p90 latency with the stuck clients must stay within 2x of the
run without them (plus 3 ms of slack for a busy 2-core machine), every
update must reach every reader, and the server's memory must stay
bounded (the stuck clients' deltas are conflated, not queued).
"""

import json
import os
import statistics
import subprocess

from scopehub_testlib import Failure, bin_dir, check, note, run


def fanout(slow):
    argv = [os.path.join(bin_dir(), "scopebench"), "fanout",
            f"--server={os.path.join(bin_dir(), 'scopehub')}",
            "--subs=100", "--rate=50", "--duration=4", f"--slow={slow}",
            "--server-arg=--server.backlog-soft-limit=16384",
            "--server-arg=--server.write-queue-limit=1048576"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=90)
    lines = [x for x in out.stdout.splitlines() if x.startswith("{")]
    if out.returncode != 0 or not lines:
        raise Failure(f"scopebench exited {out.returncode}: "
                      f"{out.stdout[-500:]} {out.stderr[-1500:]}")
    res = json.loads(lines[-1])
    note(f"slow={slow}: p50 {res['p50_us']:.0f} us, p90 {res['p90_us']:.0f} "
         f"us, p99 {res['p99_us']:.0f} us, delivered "
         f"{res['delivered_pct']:.1f}%, server RSS "
         f"{res['server_rss_kb'] / 1024:.1f} MiB")
    if not res.get("ok"):
        raise Failure(f"scopebench run failed: {res}")
    return res


async def main():
    runs = {0: [], 2: []}
    for _ in range(2):
        for slow in (0, 2):
            runs[slow].append(fanout(slow))
    for slow, rs in runs.items():
        check(all(r["delivered_pct"] == 100.0 and r["duplicates"] == 0
                  for r in rs),
              f"with {slow} stuck clients every reader got every update once")
    base = statistics.median(r["p90_us"] for r in runs[0])
    stuck = statistics.median(r["p90_us"] for r in runs[2])
    check(stuck <= 2 * base + 3000,
          f"readers' p90 latency with 2 stuck clients {stuck:.0f} us is "
          f"within 2x of {base:.0f} us (+3 ms)")
    rss0 = max(r["server_rss_kb"] for r in runs[0])
    rss2 = max(r["server_rss_kb"] for r in runs[2])
    check(rss2 <= rss0 + 32 * 1024,
          f"server RSS with stuck clients {rss2 / 1024:.1f} MiB stays within "
          f"32 MiB of {rss0 / 1024:.1f} MiB")


if __name__ == "__main__":
    run(main, "slow fan-out")
