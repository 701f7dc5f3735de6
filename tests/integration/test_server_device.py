#!/usr/bin/env python3
"""scopehub end to end: an external seestar-sim killed during a goto and
restarted on the same port.

scopehub runs with --sim.count=0 and one telescope `ext-1` from
--telescopes.connect pointing at a standalone seestar-sim (20x) on a free
127.0.0.1 port. Killing the simulator (SIGKILL) must give every session
telescope_lost and answer the pending goto TELESCOPE_UNAVAILABLE;
restarting it on the same port must give telescope_discovered (online)
and fresh full snapshots. Prints one line per passed check; exits
non-zero on the first failure.
"""

import asyncio
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scopehub_testlib import (  # noqa: E402
    CATEGORIES, Client, Server, Sim, check, free_port, is_discovered,
    is_progress, is_response, is_status, is_type, run, seq_problems,
    sky_target, topics_of, wait_online)

TID = "ext-1"


async def main():
    port = free_port()
    sim = await Sim(port, "--time-scale=20", name="seestar-sim-1").start()
    check(sim.port == port, f"seestar-sim listens on the chosen port {port}")
    srv = await Server("--sim.count=0",
                       f'--telescopes.connect=["{TID}=127.0.0.1:{port}"]',
                       "--telescopes.backoff-base=200ms",
                       "--telescopes.backoff-cap=500ms").start()
    a = await Client.connect(srv.url(), name="A")
    b = await Client.connect(srv.url(), name="B")
    await wait_online(a, [TID])
    await wait_online(b, [TID])
    _, d = await b.expect(is_discovered(TID, "online"), 1, "discovered")
    t = d["payload"]["telescope"]
    check(t["host"] == "127.0.0.1" and t["port"] == port and t["id"] == TID,
          "ext-1 is announced with the simulator's host and port", str(t))
    status, body, _ = srv.get("/api/ws/health")
    check(body["telescopes"] == {"total": 1, "online": 1},
          "health: 1 telescope, online", str(body))

    await a.subscribe(TID)
    await a.expect_count(is_status(TID, full=True), 4, 10, "4 snapshots")

    # A long goto; kill the simulator while it slews.
    gid = await a.command(TID, "goto", sky_target(-2.8, 22))
    await a.expect(lambda f: is_progress(gid)(f)
                   and f["payload"]["state"] == "working", 10,
                   "goto working")
    mark_a, mark_b = a.mark(), b.mark()
    sim.proc.send_signal(signal.SIGKILL)
    sim.proc.wait(5)
    check(sim.proc.returncode == -signal.SIGKILL,
          "seestar-sim killed with SIGKILL during the slew")

    r = await a.response(gid, 10)
    check(r["success"] is False and r["error_code"] == "TELESCOPE_UNAVAILABLE"
          and r["result"] is None and "lost" in (r["error"] or ""),
          "the pending goto is answered TELESCOPE_UNAVAILABLE", str(r))
    for c, mark in ((a, mark_a), (b, mark_b)):
        _, lost = await c.expect(is_type("telescope_lost"), 10,
                                 "telescope_lost", mark)
        reason = lost["payload"].get("reason")
        check(lost["telescope_id"] == TID and isinstance(reason, str)
              and reason, f"{c.name} gets telescope_lost for ext-1 "
              f"(reason: {reason!r})", str(lost))
    await a.expect(lambda f: is_status(TID, "system")(f)
                          and f["payload"]["status"].get("connected")
                          is False, 10, "connected false", mark_a)
    check(True, "subscriber A sees system.connected false")
    status, body, _ = srv.get("/api/ws/health")
    check(body["telescopes"] == {"total": 1, "online": 0},
          "health: 1 telescope, 0 online", str(body))
    cid = await b.command(TID, "get_status")
    r = await b.response(cid)
    check(r["error_code"] == "TELESCOPE_UNAVAILABLE",
          "a command to the lost telescope -> TELESCOPE_UNAVAILABLE", str(r))
    await asyncio.sleep(1.5)
    check(len(a.matching(is_response(gid))) == 1,
          "exactly one response to the goto")
    check(len(a.matching(is_type("telescope_lost"), mark_a)) == 1
          and len(b.matching(is_type("telescope_lost"), mark_b)) == 1,
          "exactly one telescope_lost per session while reconnects fail")
    check(not a.matching(is_discovered(), mark_a),
          "no telescope_discovered while the device is down")

    # Restart on the same port.
    mark_a, mark_b = a.mark(), b.mark()
    sim2 = await Sim(port, "--time-scale=20", name="seestar-sim-2").start()
    check(sim2.port == port, f"seestar-sim restarted on port {port}")
    for c, mark in ((a, mark_a), (b, mark_b)):
        _, d = await c.expect(is_discovered(TID), 15, "discovered", mark)
        check(d["payload"]["telescope"]["state"] == "online",
              f"{c.name} gets telescope_discovered ext-1 online", str(d))
    snaps = await a.expect_count(is_status(TID, full=True), 4, 10,
                                 "4 fresh snapshots", mark_a)
    check(sorted(f["payload"]["category"] for f in snaps) == sorted(
        CATEGORIES), "subscriber A gets a fresh full snapshot per category",
        str([f["payload"]["category"] for f in snaps]))
    sys_full = [f for f in snaps if f["payload"]["category"] == "system"][0]
    check(sys_full["payload"]["status"]["connected"] is True,
          "the fresh system snapshot says connected")
    check(not b.matching(is_type("status_update")),
          "B (no subscription) gets no status")
    for (t, cat), frames in topics_of(a.frames).items():
        problem = seq_problems(frames)
        check(not problem, f"{cat}: seq consecutive across the outage "
              f"({frames[0]['payload']['seq']}..{frames[-1]['payload']['seq']})",
              problem)
    gid = await a.command(TID, "goto", sky_target(-1.0, 45))
    r = await a.response(gid, 30)
    check(r["success"] is True, "a goto works again after the restart", str(r))
    status, body, _ = srv.get("/api/ws/health")
    check(body["telescopes"] == {"total": 1, "online": 1},
          "health: online again", str(body))
    await a.close()
    await b.close()


if __name__ == "__main__":
    run(main, "server_device")
