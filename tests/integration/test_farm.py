"""Farm mode end to end: two edges with two simulated telescopes each, two
gateways linked to both, all on 127.0.0.1 (README "Farm").

- a client of a gateway sees the four telescopes with their `node`,
  commands one on each edge and receives their deltas;
- both gateways show a topic with the same seq and epoch; a client that
  moves from one gateway to the other resumes with no gap, and a command id
  it repeats there is not executed again (duplicate);
- SIGKILL of one edge: its telescopes are lost (reason names the node)
  within the stale window, its pending command is answered
  TELESCOPE_UNAVAILABLE, the other edge is untouched; restarted on the same
  port, its telescopes come back and the open subscriptions resume with a
  full snapshot of the new epoch;
- a gateway with the wrong secret is refused (logged on both sides).
"""

import asyncio
import signal
import time

from scopehub_testlib import (Client, Failure, Server, check, free_port,
                              is_discovered, is_progress, is_response,
                              is_status, note, run, seq_problems, sky_target,
                              stream_problems)

SECRET = "farm-test-secret"
A_IDS = ["a-scope-001", "a-scope-002"]
B_IDS = ["b-scope-001", "b-scope-002"]
LOST_WINDOW = 5.0  # a killed edge: its TCP connections close at once
STALE_WINDOW = 4.0  # middleman.connection-timeout (heartbeat every 1 s)


def edge(name, prefix, port, secret=SECRET):
    return Server("--sim.count=2", f"--sim.id-prefix={prefix}",
                  "--farm.role=edge", f"--farm.node={name}",
                  f"--farm.port={port}", f"--farm.secret={secret}",
                  "--telescopes.poll-interval=500ms", name=name)


def gateway(name, edge_ports, secret=SECRET):
    edges = ",".join(f'"127.0.0.1:{p}"' for p in edge_ports)
    return Server("--sim.count=0", "--farm.role=gateway",
                  f"--farm.node={name}", f"--farm.edges=[{edges}]",
                  f"--farm.secret={secret}", "--farm.backoff-base=100ms",
                  "--farm.backoff-cap=500ms", name=name)


def is_lost(telescope_id):
    return lambda f: (f.get("type") == "telescope_lost"
                      and f.get("telescope_id") == telescope_id)


def log_text(proc):
    with open(proc.err.name, "r", errors="replace") as f:
        return f.read()


async def wait_fleet(gw, ids, timeout=15.0):
    """Waits until the gateway lists every id in `ids` online."""
    end = time.monotonic() + timeout
    while True:
        status, body, _ = gw.get("/api/telescopes")
        online = {t["id"] for t in body if t.get("state") == "online"} \
            if status == 200 else set()
        if set(ids) <= online:
            return body
        if time.monotonic() > end:
            raise Failure(f"{gw.name}: telescopes online {sorted(online)}, "
                          f"want {sorted(ids)}")
        await asyncio.sleep(0.1)


async def status_of(client, tid, category):
    _, f = await client.expect(is_status(tid, category), 10,
                               f"{tid} {category} status")
    return f["payload"]


async def main():
    port_a, port_b = free_port(), free_port()
    ea = await edge("edge-a", "a-scope-", port_a).start()
    eb = await edge("edge-b", "b-scope-", port_b).start()
    g1 = await gateway("gw-1", [port_a, port_b]).start()
    g2 = await gateway("gw-2", [port_a, port_b]).start()
    body = await wait_fleet(g1, A_IDS + B_IDS)
    nodes = {t["id"]: t["node"] for t in body}
    check(nodes == {**{i: "edge-a" for i in A_IDS},
                    **{i: "edge-b" for i in B_IDS}},
          "gateway lists the four telescopes with the node of each",
          str(nodes))
    await wait_fleet(g2, A_IDS + B_IDS)
    for proc, want in ((g1, 2), (ea, 2)):
        _, text, _ = proc.get("/metrics")
        check(f"scopehub_farm_links_up {want}" in text,
              f"{proc.name} /metrics: {want} farm links up",
              [l for l in text.splitlines() if "farm" in l][-2:].__str__())

    # -- one client on gateway 1: fleet, a command on each edge, deltas -----
    c1 = await Client.connect(g1.url("/api/ws?client_id=farmer"), "c1")
    for tid in A_IDS + B_IDS:
        _, f = await c1.expect(is_discovered(tid), 10, f"discovered {tid}")
        check(f["payload"]["telescope"]["node"] ==
              ("edge-a" if tid in A_IDS else "edge-b"),
              f"telescope_discovered of {tid} names its node")
    await c1.response(await c1.subscribe(A_IDS[0]))
    await c1.response(await c1.subscribe(B_IDS[0]))
    for tid, gain in ((A_IDS[0], 81), (B_IDS[0], 82)):
        start = c1.mark()
        r = await c1.response(await c1.command(tid, "set_gain",
                                               {"gain": gain}))
        check(r["success"], f"set_gain on {tid} through the gateway", str(r))
        _, f = await c1.expect(
            lambda f, t=tid, g=gain: is_status(t)(f)
            and f["payload"]["status"].get("gain") == g, 10,
            f"{tid} delta with gain {gain}", start)
        check(f["payload"]["full_update"] is False,
              f"{tid}: the gain change arrives as a delta")

    # -- the same topic on both gateways: same seq and epoch ---------------
    c2 = await Client.connect(g2.url("/api/ws?client_id=farmer2"), "c2")
    await c2.response(await c2.subscribe(A_IDS[0], ["imaging"]))
    p2 = await status_of(c2, A_IDS[0], "imaging")
    p1 = [f["payload"] for f in c1.matching(is_status(A_IDS[0], "imaging"))][-1]
    check(p1["epoch"] == p2["epoch"] and p1["seq"] <= p2["seq"],
          "both gateways show the edge's epoch and seq for a topic",
          f"gw-1 {p1['epoch']}/{p1['seq']} gw-2 {p2['epoch']}/{p2['seq']}")

    # -- move from gateway 1 to gateway 2: no gap, no second execution -----
    seen = {}
    for f in c1.matching(is_status(A_IDS[0])):
        seen[f["payload"]["category"]] = f["payload"]["seq"]
    dup_id = "farm-move-1"
    r = await c1.response(await c1.command(A_IDS[0], "set_gain", {"gain": 90},
                                           mid=dup_id))
    check(r["success"] and not r.get("duplicate"), "command on gateway 1")
    for f in c1.matching(is_status(A_IDS[0])):
        seen[f["payload"]["category"]] = f["payload"]["seq"]
    await c1.close()
    # Updates the moving client misses: a gain change made on gateway 2.
    r = await c2.response(await c2.command(A_IDS[0], "set_gain", {"gain": 95}))
    check(r["success"], "another client changes the gain meanwhile")
    await c2.expect(lambda f: is_status(A_IDS[0], "imaging")(f)
                    and f["payload"]["status"].get("gain") == 95, 10,
                    "gain 95 on gateway 2")
    c3 = await Client.connect(g2.url("/api/ws?client_id=farmer"), "c3")
    await c3.response(await c3.subscribe(A_IDS[0], resume_from=seen))
    _, f = await c3.expect(is_status(A_IDS[0], "imaging"), 10,
                           "resumed imaging")
    check(f["payload"]["seq"] == seen["imaging"] + 1
          and f["payload"]["full_update"] is False,
          "the other gateway replays from the next seq (no gap, no snapshot)",
          f"resume_from {seen['imaging']}, got {f['payload']['seq']} "
          f"full={f['payload']['full_update']}")
    await c3.expect(lambda f: is_status(A_IDS[0], "imaging")(f)
                    and f["payload"]["status"].get("gain") == 95, 10,
                    "the missed gain change in the replay")
    check(not seq_problems(c3.matching(is_status(A_IDS[0], "imaging"))),
          "the replay carries the missed gain change, seq without a gap")
    r = await c3.response(await c3.command(A_IDS[0], "set_gain", {"gain": 90},
                                           mid=dup_id))
    check(r["success"] and r.get("duplicate") is True,
          "the repeated command id is answered from the edge's ledger, not "
          "executed again", str(r))

    # -- SIGKILL edge b with a goto pending --------------------------------
    await c3.response(await c3.subscribe(B_IDS[0]))
    await c3.expect(is_status(B_IDS[0]), 10, "edge b status on gateway 2")
    gid = await c3.command(B_IDS[0], "goto", sky_target(2.8, 75))
    await c3.expect(is_progress(gid), 10, "goto on edge b accepted")
    start = c3.mark()
    killed = time.monotonic()
    eb.send_signal(signal.SIGKILL)
    for tid in B_IDS:
        _, f = await c3.expect(is_lost(tid), LOST_WINDOW, f"{tid} lost", start)
        check("edge-b" in f["payload"]["reason"],
              f"{tid} lost within {LOST_WINDOW:.0f} s, the reason names the "
              f"node", f["payload"]["reason"])
    note(f"lost after {time.monotonic() - killed:.2f} s")
    _, f = await c3.expect(is_response(gid), LOST_WINDOW,
                           "answer to the pending goto")
    check(f["payload"]["success"] is False
          and f["payload"]["error_code"] == "TELESCOPE_UNAVAILABLE",
          "the pending goto is answered TELESCOPE_UNAVAILABLE",
          str(f["payload"]))
    check(not c3.matching(is_lost(A_IDS[0]), start)
          and not c3.matching(is_lost(A_IDS[1]), start),
          "edge a's telescopes are not lost")
    r = await c3.response(await c3.command(A_IDS[1], "set_gain", {"gain": 70}))
    check(r["success"], "edge a still takes commands")
    mark_b = c3.mark()

    # -- restart edge b on the same port: back, subscriptions resume -------
    eb2 = await edge("edge-b", "b-scope-", port_b).start()
    for tid in B_IDS:
        _, f = await c3.expect(is_discovered(tid, "online"), 20,
                               f"{tid} discovered again", mark_b)
    note(f"edge b back {time.monotonic() - killed:.1f} s after the kill")
    _, f = await c3.expect(is_status(B_IDS[0], full=True), 15,
                           "snapshot of the new epoch", mark_b)
    old_epochs = {x["payload"]["epoch"]
                  for x in c3.matching(is_status(B_IDS[0]))[:1]}
    check(f["payload"]["epoch"] not in old_epochs,
          "the existing subscription resumes with a full snapshot of a new "
          "epoch (no re-subscribe)")
    r = await c3.response(await c3.command(B_IDS[0], "set_gain", {"gain": 77}))
    check(r["success"], "the restarted edge takes commands again")
    problems = [f"{cat}: {stream_problems(c3.matching(is_status(B_IDS[0], cat)))}"
                for cat in ("position", "focus", "imaging", "system")
                if stream_problems(c3.matching(is_status(B_IDS[0], cat)))]
    check(not problems, "across the edge's loss and return: no seq gap or "
          "reordering without a full snapshot", "; ".join(problems))
    await wait_fleet(g1, A_IDS + B_IDS)
    await wait_fleet(g2, A_IDS + B_IDS)
    check(ea.proc.poll() is None and eb2.proc.poll() is None,
          "both edges running")

    # -- a silent edge (SIGSTOP: no FIN, no heartbeat) is lost as well ------
    mark_a = c3.mark()
    stopped = time.monotonic()
    ea.send_signal(signal.SIGSTOP)
    try:
        _, f = await c3.expect(is_lost(A_IDS[0]), STALE_WINDOW + 3,
                               "silent edge a lost", mark_a)
        check("edge-a" in f["payload"]["reason"],
              f"a silent edge is lost within the stale window "
              f"({STALE_WINDOW:.0f} s + 3 s)", f["payload"]["reason"])
        note(f"silent edge lost after {time.monotonic() - stopped:.1f} s")
    finally:
        ea.send_signal(signal.SIGCONT)
    _, f = await c3.expect(is_discovered(A_IDS[0], "online"), 20,
                           "edge a back after SIGCONT", mark_a)
    check(f["payload"]["telescope"]["node"] == "edge-a",
          "the silent edge is linked again once it runs")

    # -- losing a gateway: the edges keep their telescopes; its leases go --
    holder = await Client.connect(g1.url("/api/ws?client_id=holder"), "hold")
    r = await holder.response(await holder.command(A_IDS[1], "acquire_control"))
    check(r["success"], "a client of gateway 1 takes the lease of a-scope-002",
          str(r))
    r = await c3.response(await c3.command(A_IDS[1], "set_gain", {"gain": 60}))
    check(r["success"] is False and r["error_code"] == "CONTROL_HELD",
          "the lease holds across gateways (gateway 2 is refused)", str(r))
    g1.send_signal(signal.SIGKILL)
    end = time.monotonic() + LOST_WINDOW
    while True:
        r = await c3.response(await c3.command(A_IDS[1], "set_gain",
                                               {"gain": 61}))
        if r["success"] or time.monotonic() > end:
            break
        await asyncio.sleep(0.2)
    check(r["success"], "the edge frees the lease of the lost gateway's "
          f"session within {LOST_WINDOW:.0f} s", str(r))
    status, body, _ = ea.get("/api/telescopes")
    check(status == 200 and all(t["state"] == "online" for t in body)
          and len(body) == 2, "edge a keeps its telescopes connected",
          str(body))
    mark_g = c3.mark()
    r = await c3.response(await c3.command(A_IDS[0], "set_gain", {"gain": 66}))
    _, f = await c3.expect(lambda f: is_status(A_IDS[0], "imaging")(f)
                           and f["payload"]["status"].get("gain") == 66, 10,
                           "gain 66 delta on gateway 2", mark_g)
    check(r["success"] and not c3.matching(is_lost(A_IDS[0]), mark_g),
          "gateway 2 goes on serving commands and deltas after gateway 1's "
          "loss")

    # -- a gateway with the wrong secret -----------------------------------
    g3 = await gateway("gw-bad", [port_a], secret="not-the-secret").start()
    end = time.monotonic() + 10
    while "refused" not in log_text(g3) and time.monotonic() < end:
        await asyncio.sleep(0.1)
    status, body, _ = g3.get("/api/telescopes")
    check(status == 200 and body == [],
          "a gateway with the wrong secret gets no telescopes", str(body))
    check("farm secret" in log_text(g3),
          "the refused gateway logs why (farm secret)")
    check("wrong farm secret" in log_text(ea),
          "the edge logs the refused node")
    await c3.close()
    await c2.close()
    # Gateways first while edges are up, then the edges: all exit cleanly.
    for proc in (g2, g3, ea, eb2):
        proc.send_signal(signal.SIGTERM)
        rc = await proc.wait_exit(10)
        check(rc == 0, f"{proc.name} stops on SIGTERM with exit code 0",
              str(rc))


if __name__ == "__main__":
    run(main, "farm")
