#!/usr/bin/env python3
"""scopehub end to end: two sessions commanding one telescope. FIFO (short
commands of both are all answered, each session's in its sending order),
TELESCOPE_BUSY for a second goto during a slew, and the control lease
(CONTROL_HELD naming the holder, release, release on disconnect).

One scopehub on 127.0.0.1 (--port=0, one simulated Seestar at 5x so a
slew lasts a few seconds). Prints one line per passed check; exits
non-zero on the first failure.
"""

import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scopehub_testlib import (  # noqa: E402
    Client, check, is_progress, is_response, is_status, run, server_ready,
    sky_target)

TID = "seestar-001"


async def connect(srv, name):
    c = await Client.connect(srv.url(), name=name)
    frames = await c.expect_count(lambda f: True, 2, 10, "fleet list")
    return c, frames[0]["payload"]["session_id"]


async def fifo(a, b):
    """Short commands of both sessions, sent without waiting."""
    plan_a = [("set_gain", {"gain": 80}), ("get_status", {}),
              ("set_exposure", {"exposure_ms": 10000}),
              ("get_image_enhancement", None), ("get_status",
                                                {"categories": ["imaging"]})]
    plan_b = [("get_status", {"categories": ["focus"]}),
              ("set_gain", {"gain": 120}), ("get_image_enhancement", None),
              ("set_exposure", {"exposure_ms": 20000}), ("get_status", {})]
    ids_a, ids_b = [], []
    for (act_a, par_a), (act_b, par_b) in zip(plan_a, plan_b):
        ids_a.append(await a.command(TID, act_a, par_a))
        ids_b.append(await b.command(TID, act_b, par_b))
    for c, ids in ((a, ids_a), (b, ids_b)):
        resps = []
        for mid in ids:
            resps.append(await c.response(mid, 15))
        check(all(r["success"] is True for r in resps),
              f"{c.name}: all {len(ids)} short commands answered success",
              str([r for r in resps if not r["success"]]))
        order = [f["payload"]["command_id"] for f in c.frames
                 if f.get("type") == "command_response"
                 and f["payload"]["command_id"] in ids]
        check(order == ids, f"{c.name}: answered once each, in sending order",
              str(order))
    # Settings confirmed only by the device's reply show in the imaging
    # status. (Which of A's and B's interleaved commands ran last is not
    # observable, so check with one session, in order.)
    for gain, exposure in ((55, 1234), (56, 4321)):
        r1 = await b.response(await b.command(TID, "set_gain", {"gain": gain}))
        r2 = await b.response(await b.command(
            TID, "set_exposure", {"exposure_ms": exposure}))
        st = await b.response(await b.command(
            TID, "get_status", {"categories": ["imaging"]}))
        img = st["result"]["imaging"]
        check(r1["success"] and r2["success"]
              and (img.get("gain"), img.get("exposure_ms")) == (gain, exposure),
              f"get_status shows gain {gain} and exposure {exposure} just set",
              str(img))


async def busy(a, b):
    far = sky_target(-2.5, 25)
    gid = await a.command(TID, "goto", far)
    await a.expect(is_progress(gid), 10, "goto accepted")
    bid = await b.command(TID, "goto", sky_target(2.5, 70))
    r = await b.response(bid)
    check(r["success"] is False and r["error_code"] == "TELESCOPE_BUSY"
          and gid in (r["error"] or ""),
          "B's goto during A's slew -> TELESCOPE_BUSY naming A's goto",
          str(r))
    check(not a.matching(is_response(gid)), "A's goto was still running")
    sid = await b.command(TID, "get_status", {"categories": ["position"]})
    r = await b.response(sid)
    check(r["success"] is True and r["result"]["position"]["slewing"] is True,
          "a short command of B still runs during the slew (slewing true)",
          str(r))
    fid = await b.command(TID, "focus_increment", {"increment": 10})
    r = await b.response(fid)
    check(r["error_code"] == "TELESCOPE_BUSY",
          "any other motion (focus_increment) is busy too", str(r))
    r = await a.response(gid, 30)
    check(r["success"] is True, "A's goto then succeeds", str(r))
    await asyncio.sleep(0.3)
    check(len(a.matching(is_response(gid))) == 1 and len(
        b.matching(is_response(bid))) == 1,
        "one response per goto")


async def wait_controller(c, value, start):
    _, f = await c.expect(
        lambda f: is_status(TID, "system")(f)
        and "controller" in f["payload"]["status"]
        and f["payload"]["status"]["controller"] == value, 10,
        f"system.controller = {value}", start)
    return f


async def lease(srv, a, sid_a, b, sid_b):
    mark_b = b.mark()
    await b.subscribe(TID, ["system"])
    await b.expect(is_status(TID, "system", True), 10, "system snapshot",
                   mark_b)

    mark_b = b.mark()
    aid = await a.command(TID, "acquire_control")
    r = await a.response(aid)
    check(r["success"] is True and r["result"]["controller"] == sid_a
          and r["result"]["ttl_ms"] == 300000,
          "A acquire_control -> controller = A's session id, ttl 300000",
          str(r))
    await wait_controller(b, sid_a, mark_b)
    print("pass: B sees system.controller = A's session id", flush=True)

    gid = await b.command(TID, "goto", sky_target(-1.0, 40))
    r = await b.response(gid)
    check(r["success"] is False and r["error_code"] == "CONTROL_HELD"
          and r["result"] == {"controller": sid_a},
          "B's goto -> CONTROL_HELD with result.controller = A", str(r))
    sid = await b.command(TID, "set_gain", {"gain": 50})
    r = await b.response(sid)
    check(r["error_code"] == "CONTROL_HELD",
          "B's set_gain -> CONTROL_HELD as well", str(r))
    sid = await b.command(TID, "get_status")
    r = await b.response(sid)
    check(r["success"] is True and r["result"]["system"]["controller"]
          == sid_a, "B's get_status is not blocked by the lease", str(r))
    rid = await b.command(TID, "release_control")
    r = await b.response(rid)
    check(r["error_code"] == "CONTROL_HELD",
          "B cannot release A's lease", str(r))
    aid = await b.command(TID, "acquire_control")
    r = await b.response(aid)
    check(r["error_code"] == "CONTROL_HELD"
          and r["result"] == {"controller": sid_a},
          "B cannot take A's lease without force", str(r))
    mid = await a.command(TID, "set_gain", {"gain": 90})
    r = await a.response(mid)
    check(r["success"] is True, "the holder A still commands", str(r))

    mark_b = b.mark()
    rid = await a.command(TID, "release_control")
    r = await a.response(rid)
    check(r["success"] is True and r["result"] == {"controller": None},
          "A release_control -> controller null", str(r))
    await wait_controller(b, None, mark_b)
    gid = await b.command(TID, "goto", sky_target(-1.0, 40))
    r = await b.response(gid, 30)
    check(r["success"] is True, "after the release B's goto works", str(r))

    # The lease also ends when its holder disconnects.
    mark_b = b.mark()
    aid = await a.command(TID, "acquire_control", {"ttl_ms": 60000})
    r = await a.response(aid)
    check(r["success"] is True and r["result"]["ttl_ms"] == 60000,
          "A takes the lease again (ttl 60000)", str(r))
    await wait_controller(b, sid_a, mark_b)
    gid = await b.command(TID, "goto", sky_target(-0.5, 45))
    r = await b.response(gid)
    check(r["error_code"] == "CONTROL_HELD", "B is held off again", str(r))
    mark_b = b.mark()
    await a.close()
    await wait_controller(b, None, mark_b)
    print("pass: A's disconnect releases the lease (controller null)",
          flush=True)
    gid = await b.command(TID, "goto", sky_target(-0.5, 45))
    r = await b.response(gid, 30)
    check(r["success"] is True, "and B's goto works", str(r))
    aid = await b.command(TID, "acquire_control")
    r = await b.response(aid)
    check(r["success"] is True and r["result"]["controller"] == sid_b,
          "B can take the lease now", str(r))


async def cancel_and_reconnect(srv):
    """cancel of a running goto; a command id resent after a reconnect with
    the same client_id is not run again, its one answer goes to the new
    connection."""
    c = await Client.connect(srv.url("/api/ws?client_id=carol"), name="C")
    await c.expect_count(lambda f: True, 2, 10, "fleet list")
    gid = await c.command(TID, "goto", sky_target(2.5, 25))
    await c.expect(is_progress(gid), 10, "goto accepted")
    xid = await c.command(TID, "cancel", {"command_id": gid})
    r = await c.response(xid)
    check(r["success"] is True and r["result"] == {"cancelled": gid},
          "cancel of the running goto is accepted", str(r))
    r = await c.response(gid)
    check(r["error_code"] == "COMMAND_CANCELLED",
          "the goto is answered COMMAND_CANCELLED", str(r))

    gid = "carol-goto-1"
    await c.command(TID, "goto", sky_target(-2.0, 60), mid=gid)
    await c.expect(is_progress(gid), 10, "goto accepted")
    await c.close()
    c2 = await Client.connect(srv.url("/api/ws?client_id=carol"), name="C2")
    await c2.expect_count(lambda f: True, 2, 10, "fleet list")
    await c2.command(TID, "goto", sky_target(-2.0, 60), mid=gid)
    r = await c2.response(gid, 30)
    check(r["success"] is True and not r.get("duplicate"),
          "after a reconnect (same client_id) the resent goto gets the "
          "running goto's single answer", str(r))
    check(not c2.matching(lambda f: is_progress(gid)(f)
                          and f["payload"]["state"] == "accepted"),
          "it was not started a second time")
    await c2.command(TID, "goto", sky_target(-2.0, 60), mid=gid)
    _, f = await c2.expect(lambda f: is_response(gid)(f)
                           and f["payload"].get("duplicate") is True, 10,
                           "duplicate")
    check(f["payload"]["success"] is True,
          "sent once more: the stored answer with duplicate: true")
    await asyncio.sleep(0.5)
    check(len(c2.matching(is_response(gid))) == 2,
          "one answer per send, no extra")
    await c2.close()


async def main():
    srv = await server_ready("--sim.count=1", "--sim.time-scale=5",
                             ids=[TID])
    a, sid_a = await connect(srv, "A")
    b, sid_b = await connect(srv, "B")
    check(sid_a != sid_b, "two sessions with their own ids")
    await fifo(a, b)
    await busy(a, b)
    await lease(srv, a, sid_a, b, sid_b)
    await b.close()
    await cancel_and_reconnect(srv)


if __name__ == "__main__":
    run(main, "server_commands")
