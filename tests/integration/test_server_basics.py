#!/usr/bin/env python3
"""scopehub end to end: connecting, the fleet list, health, 404, a session
bound to one telescope, and bad frames (invalid JSON, unknown type, binary,
oversized -> 1009).

One scopehub with its three default simulated Seestars, started with
--port=0 on 127.0.0.1. Prints one line per passed check; exits non-zero on
the first failure.
"""

import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scopehub_testlib import (  # noqa: E402
    CATEGORIES, SIM_IDS, Client, Server, check, is_discovered,
    is_response, is_status, is_type, run, wait_online)


async def first_frames(srv):
    """Case 1: heartbeat first, then one discovered per telescope."""
    # Connect right away: the telescopes may still be connecting.
    a = await Client.connect(srv.url(), name="a")
    _, hb = await a.expect(lambda f: True, 10, "first frame")
    check(hb.get("type") == "heartbeat", "first frame is a heartbeat",
          str(hb))
    p = hb["payload"]
    check(isinstance(p.get("session_id"), str) and p["session_id"],
          "heartbeat carries session_id")
    check(p.get("protocol") == 1, "heartbeat protocol is 1", str(p))
    check(isinstance(p.get("heartbeat_interval_ms"), int)
          and p["heartbeat_interval_ms"] == 30000,
          "heartbeat_interval_ms is the default 30000", str(p))
    check(isinstance(p.get("server"), str) and p["server"].startswith(
        "scopehub/"), "first heartbeat names the server scopehub/<version>",
        str(p))
    check(p.get("role") == "operator", "first heartbeat names the role "
          "(operator in open mode)", str(p))
    check(isinstance(p.get("server_time"), int), "heartbeat has server_time")
    check("telescope_id" not in hb, "heartbeat has no telescope_id")

    burst = await a.expect_count(lambda f: True, 1 + len(SIM_IDS), 10,
                                 "heartbeat + discovered burst")
    initial = burst[1:1 + len(SIM_IDS)]
    check(all(f.get("type") == "telescope_discovered" for f in initial),
          "the next frames are telescope_discovered, one per telescope",
          str([f.get("type") for f in initial]))
    check(sorted(f["telescope_id"] for f in initial) == SIM_IDS,
          "exactly seestar-001..003 are announced once each",
          str([f["telescope_id"] for f in initial]))
    for f in initial:
        t = f["payload"]["telescope"]
        check(set(t) >= {"id", "name", "model", "host", "port", "node",
                         "state"} and t["id"] == f["telescope_id"]
              and t["state"] in ("online", "offline")
              and isinstance(t["port"], int) and t["host"] == "127.0.0.1",
              f"discovered {t['id']} has every info field", str(t))
    early = [f["telescope_id"] for f in initial
             if f["payload"]["telescope"]["state"] == "offline"]
    if early:
        print(f"  .. announced offline at first (still connecting): {early}")
    await wait_online(a, SIM_IDS)
    # Let any late announcement arrive, then count.
    await asyncio.sleep(1.0)
    for tid in SIM_IDS:
        online = a.matching(is_discovered(tid, "online"))
        check(len(online) == 1,
              f"{tid}: exactly one telescope_discovered with state online",
              f"got {len(online)}")
    check(not a.matching(is_type("telescope_lost")), "no telescope_lost")
    check(not a.matching(is_type("status_update")),
          "no status_update without a subscription")

    # A client that comes later sees the settled fleet: all online.
    b = await Client.connect(srv.url(), name="b")
    frames = await b.expect_count(lambda f: True, 1 + len(SIM_IDS), 10,
                                  "heartbeat + 3 discovered")
    check(frames[0]["type"] == "heartbeat" and all(
        f["type"] == "telescope_discovered"
        and f["payload"]["telescope"]["state"] == "online"
        for f in frames[1:]) and sorted(
            f["telescope_id"] for f in frames[1:]) == SIM_IDS,
        "a later client gets heartbeat then 3 x discovered online",
        str([(f["type"], f.get("telescope_id")) for f in frames]))
    check(hb["payload"]["session_id"] != frames[0]["payload"]["session_id"],
          "each session has its own session_id")
    await asyncio.sleep(0.5)
    check(len(b.frames) == 1 + len(SIM_IDS),
          "and nothing more (no duplicate announcements)",
          str([f.get("type") for f in b.frames]))
    return a, b


def health_and_404(srv, open_sessions):
    status, body, headers = srv.get("/api/ws/health")
    check(status == 200, "GET /api/ws/health -> 200", f"{status} {body}")
    check("json" in headers.get("Content-Type", ""),
          "health answers application/json", str(headers))
    check(isinstance(body, dict) and body.get("status") == "ok",
          "health status ok", str(body))
    check(body.get("telescopes") == {"total": 3, "online": 3},
          "health telescopes total 3 online 3", str(body))
    check(body.get("connections") == open_sessions,
          f"health counts the {open_sessions} open WebSocket sessions",
          str(body))
    check(isinstance(body.get("uptime_s"), int) and isinstance(
        body.get("version"), str), "health has uptime_s and version",
        str(body))

    status, body, headers = srv.get("/api/nothing-here")
    check(status == 404, "unknown path -> 404", f"{status} {body}")
    check(isinstance(body, dict) and body.get("error_code") == "NOT_FOUND"
          and isinstance(body.get("message"), str),
          "404 body is JSON {error_code NOT_FOUND, message}", str(body))
    check("json" in headers.get("Content-Type", ""),
          "404 is application/json", str(headers))
    status, body, _ = srv.get("/api/ws/bad%20id")
    check(status == 404 and body.get("error_code") == "NOT_FOUND",
          "/api/ws/<invalid telescope id> -> 404 JSON", f"{status} {body}")


async def bound_session(srv):
    c = await Client.connect(srv.url("/api/ws/seestar-002"), name="bound")
    snaps = await c.expect_count(is_status(full=True), 4, 10,
                                 "4 full snapshots")
    check(sorted(f["payload"]["category"] for f in snaps) == sorted(CATEGORIES),
          "/api/ws/seestar-002 gets one full snapshot per category "
          "without subscribing", str([f["payload"]["category"]
                                      for f in snaps]))
    check(all(f["telescope_id"] == "seestar-002" for f in snaps),
          "the snapshots are seestar-002's")
    check(all(f["payload"]["changes"] and set(f["payload"]["changes"])
              == set(f["payload"]["status"]) for f in snaps),
          "a full snapshot lists every field it carries in changes")
    first_snap = c.frames.index(snaps[0])
    check(c.frames[0]["type"] == "heartbeat" and all(
        f["type"] == "telescope_discovered" for f in c.frames[1:4]),
        "the bound session also starts with heartbeat + discovered",
        str([f["type"] for f in c.frames[:5]]))
    check(first_snap >= 4, "snapshots follow the fleet list")
    others = [f for f in c.frames if f.get("type") == "status_update"
              and f["telescope_id"] != "seestar-002"]
    check(not others, "no status of other telescopes")
    cid = await c.command(None, "get_status", {"categories": ["system"]})
    _, resp = await c.expect(is_response(cid), 10, "get_status response")
    check(resp.get("telescope_id") == "seestar-002"
          and resp["payload"]["success"] is True
          and resp["payload"]["result"]["system"]["connected"] is True,
          "a command without telescope_id goes to seestar-002",
          str(resp))
    # A general session must name the telescope.
    g = await Client.connect(srv.url(), name="general")
    await g.expect_count(lambda f: True, 4, 10, "fleet list")
    gid = await g.command(None, "get_status")
    err = await g.error(gid)
    check(err["error_code"] == "MISSING_TELESCOPE_ID",
          "a general session's command without telescope_id -> "
          "MISSING_TELESCOPE_ID", str(err))
    await g.close()
    await c.close()


async def bad_frames(srv):
    """Case 6: each bad frame gets its code; the session stays open,
    except for an oversized frame (close 1009)."""
    c = await Client.connect(srv.url(), name="bad")
    await c.expect_count(lambda f: True, 4, 10, "fleet list")

    async def still_open(label):
        mid = c.next_id("alive")
        await c.subscribe("seestar-001", ["focus"], mid=mid)
        resp = await c.response(mid)
        check(resp["success"] is True and not c.closed,
              f"session still open after {label}")
        await c.subscribe("seestar-001", ["focus"], unsubscribe=True)

    start = c.mark()
    await c.send_raw("{not json")
    _, e = await c.expect(is_type("error"), 10, "error", start)
    check(e["payload"]["error_code"] == "INVALID_JSON"
          and e["payload"]["ref_id"] is None
          and e["payload"]["message"].startswith("not valid JSON"),
          "invalid JSON -> error INVALID_JSON, ref_id null", str(e))
    await still_open("invalid JSON")

    start = c.mark()
    await c.send_raw("[1, 2]")
    _, e = await c.expect(is_type("error"), 10, "error", start)
    check(e["payload"]["error_code"] == "INVALID_JSON",
          "a JSON array -> INVALID_JSON", str(e))

    await c.send({"id": "u-1", "type": "fly_to_the_moon", "payload": {}})
    e = await c.error("u-1")
    check(e["error_code"] == "UNKNOWN_TYPE",
          "unknown type -> error UNKNOWN_TYPE with ref_id", str(e))
    await c.send({"id": "u-2", "type": "status_update", "payload": {}})
    e = await c.error("u-2")
    check(e["error_code"] == "UNKNOWN_TYPE",
          "a server-to-client type from a client -> UNKNOWN_TYPE", str(e))
    await still_open("unknown type")

    await c.send({"id": "m-1", "type": "control_command",
                  "telescope_id": "seestar-001",
                  "payload": {"action": "goto",
                              "parameters": {"ra": 25, "dec": 0}}})
    e = await c.error("m-1")
    check(e["error_code"] == "INVALID_PARAMETERS"
          and e["message"] == "payload.parameters.ra: must be < 24",
          "goto ra=25 -> error INVALID_PARAMETERS naming the member", str(e))

    start = c.mark()
    await c.send_raw(b"\x00\x01binary")
    _, e = await c.expect(is_type("error"), 10, "error", start)
    check(e["payload"]["error_code"] == "UNSUPPORTED_FRAME"
          and e["payload"]["ref_id"] is None,
          "binary frame -> error UNSUPPORTED_FRAME", str(e))
    await still_open("a binary frame")

    # Exactly the limit still passes: a 65536-byte frame of valid JSON.
    limit = 64 * 1024
    pad = limit - len('{"id":"big-ok","type":"heartbeat","payload":{"x":""}}')
    frame = '{"id":"big-ok","type":"heartbeat","payload":{"x":"' + (
        "a" * pad) + '"}}'
    assert len(frame) == limit
    await c.send_raw(frame)
    await still_open("a frame of exactly max-message-size (65536 bytes)")

    start = c.mark()
    await c.send_raw("x" * (limit + 1))
    closed = await c.wait_closed(10)
    check(closed and c.close_code == 1009,
          "a frame over max-message-size closes the session with 1009",
          f"closed={closed} code={c.close_code} reason={c.close_reason}")
    check(not c.matching(is_type("error"), start),
          "no error frame for the oversized frame, only the close")

    # Far over the limit (past Beast's own 1 MiB backstop) as well.
    c = await Client.connect(srv.url(), name="huge")
    await c.expect_count(lambda f: True, 4, 10, "fleet list")
    try:
        await c.send_raw("y" * (2 * 1024 * 1024))
    except Exception:
        pass  # the server may close while we are still sending
    closed = await c.wait_closed(10)
    check(closed and c.close_code == 1009,
          "a 2 MiB frame closes the session with 1009 too",
          f"closed={closed} code={c.close_code}")


async def startup_offline():
    """A client that connects while a telescope is still connecting sees
    it offline first, then exactly one telescope_discovered online."""
    srv = await Server("--sim.count=1", "--sim.faults=latency=1500",
                       name="scopehub-slow-device").start()
    c = await Client.connect(srv.url(), name="early")
    frames = await c.expect_count(lambda f: True, 2, 10, "fleet list")
    check(frames[0]["type"] == "heartbeat" and frames[1]["type"]
          == "telescope_discovered" and frames[1]["payload"]["telescope"][
              "state"] == "offline",
          "connecting before the device answered: discovered state offline",
          str(frames))
    status, body, _ = srv.get("/api/ws/health")
    check(body["telescopes"] == {"total": 1, "online": 0},
          "health meanwhile: total 1, online 0", str(body))
    await c.expect(is_discovered("seestar-001", "online"), 15,
                   "discovered online")
    await asyncio.sleep(0.5)
    check(len(c.matching(is_discovered())) == 2
          and len(c.matching(is_discovered("seestar-001", "online"))) == 1
          and not c.matching(is_type("telescope_lost")),
          "then exactly one telescope_discovered online (no lost between)",
          str([f["payload"]["telescope"]["state"]
               for f in c.matching(is_discovered())]))
    await c.close()
    srv.stop()


async def wait_connections(srv, n, timeout=5.0):
    end = asyncio.get_running_loop().time() + timeout
    while True:
        _, body, _ = srv.get("/api/ws/health")
        if body.get("connections") == n or \
                asyncio.get_running_loop().time() > end:
            return body
        await asyncio.sleep(0.05)


async def main():
    await startup_offline()
    srv = await Server(name="scopehub").start()
    a, b = await first_frames(srv)
    health_and_404(srv, 2)
    await b.close()
    body = await wait_connections(srv, 1)
    check(body.get("connections") == 1,
          "health connections drops to 1 after one client closed",
          str(body))
    await bound_session(srv)
    await bad_frames(srv)
    await a.close()


if __name__ == "__main__":
    run(main, "server_basics")
