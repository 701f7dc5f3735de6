#!/usr/bin/env python3
"""scopehub end to end: subscriptions, snapshots and sequence numbers, a
goto's progress and single response, and resume after a reconnect (with
the missed deltas, and with a too-old resume point -> one full snapshot).

Two scopehub runs on 127.0.0.1 (--port=0, simulators at 20x): the default
history, then --server.history=2. Prints one line per passed check; exits
non-zero on the first failure.
"""

import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scopehub_testlib import (  # noqa: E402
    CATEGORIES, Client, check, is_progress, is_response, is_status, is_type,
    run, seq_problems, server_ready, sky_target, topics_of)

FAST = ["--sim.time-scale=20", "--telescopes.poll-interval=500ms"]


async def subscribe_snapshots(srv):
    """Case 2: ack, one full snapshot per category, then consecutive
    deltas while a goto runs."""
    c = await Client.connect(srv.url(), name="sub")
    await c.expect_count(lambda f: True, 4, 10, "fleet list")
    start = c.mark()
    mid = await c.subscribe("seestar-001")  # default: ["all"]
    _, ack = await c.expect(is_type("command_response"), 10, "ack", start)
    p = ack["payload"]
    check(p["command_id"] == mid and p["success"] is True
          and p["error"] is None and p["error_code"] is None,
          "subscribe is acknowledged by command_response(command_id = id)",
          str(ack))
    subs = p["result"]["subscriptions"]
    check(len(subs) == 1 and subs[0]["telescope_id"] == "seestar-001"
          and subs[0]["categories"] == CATEGORIES,
          "result.subscriptions = seestar-001 with all four categories",
          str(subs))
    snaps = await c.expect_count(is_status("seestar-001", full=True), 4, 10,
                                 "4 full snapshots", start)
    cats = [f["payload"]["category"] for f in snaps]
    check(sorted(cats) == sorted(CATEGORIES),
          "one full snapshot per category", str(cats))
    ack_at = c.frames.index(ack)
    check(all(c.frames.index(f) > ack_at for f in snaps),
          "the snapshots follow the acknowledgement")
    for f in snaps:
        pl = f["payload"]
        check(isinstance(pl["seq"], int) and pl["seq"] >= 1
              and isinstance(pl["epoch"], str) and pl["epoch"]
              and set(pl["changes"]) == set(pl["status"]),
              f"{pl['category']} snapshot has seq, epoch and every field "
              "in changes", str(pl))
    fields = {f["payload"]["category"]: set(f["payload"]["status"])
              for f in snaps}
    check(fields["position"] >= {"ra", "dec", "alt", "az", "tracking",
                                 "parked"}
          and fields["focus"] >= {"focus_position"}
          and fields["imaging"] >= {"view_state", "exposure_ms", "gain"}
          and fields["system"] >= {"connected", "battery_capacity",
                                   "charger_status", "temp",
                                   "free_storage_mb", "controller", "model",
                                   "firmware"},
          "snapshots carry the fields the device reported", str(fields))
    # A full update carries every field of the protocol's table, even
    # before the device reported it (null until known).
    missing = {cat: sorted(want - fields[cat]) for cat, want in {
        "position": {"ra", "dec", "alt", "az", "tracking", "slewing",
                     "parked"},
        "focus": {"focus_position", "focuser_moving"},
        "imaging": {"view_state", "target_name", "stacked_frames",
                    "dropped_frames", "exposure_ms", "gain",
                    "image_enhancement"}}.items() if want - fields[cat]}
    check(not missing, "full snapshots carry every protocol field",
          str(missing))
    sys_snap = [f for f in snaps if f["payload"]["category"] == "system"][0]
    check(sys_snap["payload"]["status"]["connected"] is True
          and sys_snap["payload"]["status"]["controller"] is None,
          "system snapshot: connected, no controller")
    for cat, frames in topics_of(c.frames[start:]).items():
        check(frames[0]["payload"]["full_update"] is True,
              f"the first frame of topic {cat[1]} is the full snapshot")

    # Subscribing again to the same categories sends nothing new.
    mark = c.mark()
    mid2 = await c.subscribe("seestar-001", ["position", "status"])
    r = await c.response(mid2)
    check(len(r["result"]["subscriptions"]) == 1,
          "re-subscribing the same telescope keeps one subscription",
          str(r))
    await asyncio.sleep(0.3)
    check(not c.matching(is_status(full=True), mark),
          "re-subscribing does not resend snapshots")

    # Deltas during a goto.
    mark = c.mark()
    gid = await c.command("seestar-001", "goto", sky_target(-2.5, 30))
    resp = await c.response(gid, 30)
    check(resp["success"] is True, "goto (during subscription) succeeds",
          str(resp))
    await asyncio.sleep(1.0)  # a poll or two more
    deltas = c.matching(is_status("seestar-001"), mark)
    check(not [f for f in deltas if f["payload"]["full_update"]],
          "no full snapshot among the live updates")
    by_topic = topics_of(c.frames[start:])
    pos = [f for f in deltas if f["payload"]["category"] == "position"]
    check(len(pos) >= 3, "position deltas arrive while the goto runs",
          f"got {len(pos)}")
    slewing = [f["payload"]["status"]["slewing"] for f in pos
               if "slewing" in f["payload"]["status"]]
    check(slewing[:1] == [True] and slewing[-1:] == [False],
          "position deltas show slewing true, then false", str(slewing))
    for (tid, cat), frames in by_topic.items():
        problem = seq_problems(frames)
        check(not problem, f"{cat}: {len(frames)} frames with consecutive "
              "seq (no gap, no duplicate)", problem)
        for f in frames[1:]:
            pl = f["payload"]
            if set(pl["changes"]) != set(pl["status"]) or not pl["changes"]:
                check(False, f"{cat} delta carries exactly its changes",
                      str(pl))
    await c.close()


async def goto_progress(srv):
    """Case 3: accepted, working with decreasing dist_deg, exactly one
    response, nothing after it."""
    c = await Client.connect(srv.url(), name="goto")
    await c.expect_count(lambda f: True, 4, 10, "fleet list")
    target = sky_target(2.5, 70)
    gid = await c.command("seestar-001", "goto", dict(target,
                                                      target_name="M 81"))
    _, resp = await c.expect(is_response(gid), 30, "goto response")
    rp = resp["payload"]
    check(rp["success"] is True and rp["result"] == {"status": "goto_complete"}
          and rp["error"] is None and rp["error_code"] is None
          and isinstance(rp.get("duration_ms"), int)
          and resp.get("telescope_id") == "seestar-001",
          "goto answers success {status: goto_complete}", str(resp))
    prog = c.matching(is_progress(gid))
    check(prog and prog[0]["payload"]["state"] == "accepted",
          "the first command_progress is accepted",
          str([f["payload"] for f in prog[:2]]))
    check(sum(1 for f in prog if f["payload"]["state"] == "accepted") == 1,
          "exactly one accepted")
    working = [f["payload"] for f in prog[1:]]
    check(len(working) >= 3 and all(w["state"] == "working" for w in working),
          f"then {len(working)} x working", str(working[:3]))
    dists = [w["detail"]["dist_deg"] for w in working]
    check(all(b < a for a, b in zip(dists, dists[1:])),
          f"detail.dist_deg decreases ({dists[0]:.1f} -> {dists[-1]:.1f})",
          str(dists))
    resp_at = c.frames.index(resp)
    check(all(c.frames.index(f) < resp_at for f in prog),
          "every progress frame comes before the response")
    await asyncio.sleep(2.0)
    check(len(c.matching(is_response(gid))) == 1,
          "exactly one command_response (none more after 2 s)")
    check(len(c.matching(is_progress(gid))) == len(prog),
          "no progress after the response")
    # Same id again: not executed again, the stored answer is resent.
    mark = c.mark()
    await c.command("seestar-001", "goto", dict(target, target_name="M 81"),
                    mid=gid)
    _, dup = await c.expect(is_response(gid), 10, "duplicate answer", mark)
    check(dup["payload"].get("duplicate") is True
          and dup["payload"]["success"] is True,
          "a repeated command id gets the stored answer with duplicate: true",
          str(dup))
    await asyncio.sleep(0.5)
    check(not c.matching(is_progress(gid), mark),
          "the repeated command is not executed again (no progress)")
    await c.close()


async def subscription_kinds(srv):
    """Unknown telescope (kept), all telescopes, a glob pattern."""
    c = await Client.connect(srv.url(), name="kinds")
    await c.expect_count(lambda f: True, 4, 10, "fleet list")
    mid = await c.subscribe("nope-9", ["focus"])
    e = await c.error(mid)
    check(e["error_code"] == "TELESCOPE_NOT_FOUND"
          and e.get("subscription_kept") is True,
          "subscribing an unknown telescope -> TELESCOPE_NOT_FOUND with "
          "subscription_kept", str(e))
    r = await c.response(mid)
    check(r["success"] is True and r["result"]["subscriptions"]
          == [{"telescope_id": "nope-9", "categories": ["focus"]}],
          "... and the ack lists the kept subscription", str(r))
    start = c.mark()
    mid = await c.subscribe(None, ["system"])
    r = await c.response(mid)
    check({"all_telescopes": True, "categories": ["system"]}
          in r["result"]["subscriptions"],
          "subscribe without telescope_id -> all_telescopes", str(r))
    snaps = await c.expect_count(is_status(category="system", full=True), 3,
                                 10, "3 system snapshots", start)
    check(sorted(f["telescope_id"] for f in snaps)
          == ["seestar-001", "seestar-002", "seestar-003"],
          "one system snapshot per telescope")
    start = c.mark()
    await c.send({"id": "pat-1", "type": "subscribe",
                  "payload": {"telescope_pattern": "*-002",
                              "subscription_types": ["imaging"]}})
    r = await c.response("pat-1")
    check({"telescope_pattern": "*-002", "categories": ["imaging"]}
          in r["result"]["subscriptions"],
          "telescope_pattern subscription is acknowledged", str(r))
    await asyncio.sleep(0.3)
    got = [(f["telescope_id"], f["payload"]["category"])
           for f in c.matching(is_status(full=True), start)]
    check(got == [("seestar-002", "imaging")],
          "pattern *-002 matches only seestar-002", str(got))
    mid = await c.subscribe(None, ["system"], unsubscribe=True)
    r = await c.response(mid)
    check(not any(s.get("all_telescopes") for s in
                  r["result"]["subscriptions"]),
          "unsubscribe removes the all_telescopes subscription", str(r))
    await c.close()


def last_seqs(client, tid, start=0):
    out = {}
    for (t, cat), frames in topics_of(client.frames[start:]).items():
        if t == tid:
            out[cat] = frames[-1]["payload"]["seq"]
    return out


async def focus_moves(client, tid, positions):
    for pos in positions:
        cid = await client.command(tid, "focus", {"position": pos})
        r = await client.response(cid, 20)
        check(r["success"] is True, f"focus {pos} on {tid} succeeds", str(r))


async def resume_no_gap(srv):
    """Case 5a: reconnect with resume_from -> the missed deltas in order,
    then live; no gap, no duplicate."""
    tid = "seestar-003"
    r = await Client.connect(srv.url(), name="resumer")
    await r.expect_count(lambda f: True, 4, 10, "fleet list")
    await r.subscribe(tid)
    await r.expect_count(is_status(tid, full=True), 4, 10, "4 snapshots")
    await asyncio.sleep(0.5)
    last = last_seqs(r, tid)
    check(sorted(last) == sorted(CATEGORIES),
          "resumer saw all four topics", str(last))
    await r.close()

    # A watcher sees every focus update, to know what was missed.
    w = await Client.connect(srv.url(), name="watcher")
    await w.expect_count(lambda f: True, 4, 10, "fleet list")
    await w.subscribe(tid, ["focus"])
    _, snap = await w.expect(is_status(tid, "focus", True), 10, "snapshot")
    check(snap["payload"]["seq"] == last["focus"],
          "nothing changed the focus topic in between",
          f"{snap['payload']['seq']} vs {last['focus']}")
    await focus_moves(w, tid, [1900, 1700])
    missed = await w.expect_count(is_status(tid, "focus", False), 4, 10,
                                  "4 focus deltas")
    missed_seqs = [f["payload"]["seq"] for f in missed]
    check(missed_seqs == list(range(last["focus"] + 1,
                                    last["focus"] + 1 + len(missed))),
          f"the watcher saw {len(missed)} focus deltas after the resumer "
          "left", str(missed_seqs))

    r2 = await Client.connect(srv.url(), name="resumer2")
    await r2.expect_count(lambda f: True, 4, 10, "fleet list")
    start = r2.mark()
    await r2.subscribe(tid, resume_from=last)
    await asyncio.sleep(0.3)
    replay = r2.matching(is_status(tid, "focus"), start)
    check([f["payload"]["seq"] for f in replay] == missed_seqs,
          "resume_from replays exactly the missed focus deltas, in order",
          str([f["payload"]["seq"] for f in replay]))
    check([f["payload"]["status"] for f in replay]
          == [f["payload"]["status"] for f in missed]
          and [f["id"] for f in replay] == [f["id"] for f in missed],
          "the replayed deltas are the very frames live clients got")
    check(not r2.matching(is_status(full=True), start),
          "no full snapshot on a resume within the history")
    # Live updates follow.
    await focus_moves(w, tid, [1580])
    await asyncio.sleep(0.3)
    frames = r2.matching(is_status(tid), start)
    for (t, cat), fs in topics_of(frames).items():
        problem = seq_problems(fs)
        check(not problem and fs[0]["payload"]["seq"] == last[cat] + 1,
              f"{cat}: resumed at seq {last[cat] + 1}, {len(fs)} frames "
              "consecutive", problem or str(fs[0]["payload"]["seq"]))
    live = r2.matching(is_status(tid, "focus"), start)
    check(len(live) == len(missed) + 2
          and live[-1]["payload"]["status"].get("focus_position") == 1580,
          "then the live focus deltas (seq continues)",
          str([f["payload"]["seq"] for f in live]))
    await r2.close()
    await w.close()


async def resume_too_old():
    """Case 5b: history 2, more than 2 missed -> one full snapshot."""
    srv = await server_ready("--server.history=2", "--sim.count=1", *FAST,
                             ids=["seestar-001"], name="scopehub-history2")
    tid = "seestar-001"
    r = await Client.connect(srv.url(), name="old")
    await r.expect_count(lambda f: True, 2, 10, "fleet list")
    await r.subscribe(tid, ["focus"])
    _, snap = await r.expect(is_status(tid, "focus", True), 10, "snapshot")
    last = snap["payload"]["seq"]
    await r.close()

    w = await Client.connect(srv.url(), name="mover")
    await w.expect_count(lambda f: True, 2, 10, "fleet list")
    await focus_moves(w, tid, [2000, 1600])

    # Within the history: resume_from = the newest seq -> nothing replayed.
    w.frames.clear()
    await w.subscribe(tid, ["focus"])
    _, cur = await w.expect(is_status(tid, "focus", True), 10, "snapshot")
    now_seq = cur["payload"]["seq"]
    check(now_seq - last >= 3, f"{now_seq - last} focus updates were missed "
          "(more than the history of 2)")

    r2 = await Client.connect(srv.url(), name="old2")
    await r2.expect_count(lambda f: True, 2, 10, "fleet list")
    start = r2.mark()
    await r2.subscribe(tid, ["focus"], resume_from={"focus": last})
    _, full = await r2.expect(is_status(tid, "focus"), 10, "focus frame",
                              start)
    check(full["payload"]["full_update"] is True
          and full["payload"]["seq"] == now_seq
          and full["payload"]["status"]["focus_position"] == 1600,
          "a too-old resume_from gets one full snapshot at the current seq",
          str(full["payload"]))
    await asyncio.sleep(0.3)
    check(len(r2.matching(is_status(tid), start)) == 1,
          "and only that one frame (no stale deltas)")
    await focus_moves(w, tid, [1700])
    await asyncio.sleep(0.3)
    fs = r2.matching(is_status(tid, "focus"), start)
    check(not seq_problems(fs) and len(fs) == 3
          and not any(f["payload"]["full_update"] for f in fs[1:]),
          "then live deltas continue from the snapshot's seq",
          str([(f["payload"]["seq"], f["payload"]["full_update"])
               for f in fs]))

    r3 = await Client.connect(srv.url(), name="fresh")
    await r3.expect_count(lambda f: True, 2, 10, "fleet list")
    start = r3.mark()
    cur_seq = fs[-1]["payload"]["seq"]
    await r3.subscribe(tid, ["focus"], resume_from={"focus": cur_seq - 1})
    await asyncio.sleep(0.5)
    got = r3.matching(is_status(tid, "focus"), start)
    check([(f["payload"]["seq"], f["payload"]["full_update"]) for f in got]
          == [(cur_seq, False)],
          "a resume_from inside the short history replays the one delta",
          str([f["payload"] for f in got]))
    for c in (r2, r3, w):
        await c.close()


async def main():
    srv = await server_ready(*FAST)
    await subscribe_snapshots(srv)
    await goto_progress(srv)
    await subscription_kinds(srv)
    await resume_no_gap(srv)
    srv.stop()
    await resume_too_old()


if __name__ == "__main__":
    run(main, "server_subscribe")
