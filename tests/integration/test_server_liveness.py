#!/usr/bin/env python3
"""scopehub end to end: liveness and shutdown.

1. A raw TCP WebSocket client that never answers pings is closed with
   4001 "heartbeat timeout", while a websockets client that sends nothing
   but answers the server's pings stays open (pongs count as liveness).
   (--server.heartbeat-interval=1s --server.stale-after=3s
   --server.tick=100ms, no telescopes)
2. SIGTERM with 500 open sessions: exit code 0 in under 5 s, clients see
   close 1001.
Prints one line per passed check; exits non-zero on the first failure.
"""

import asyncio
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scopehub_testlib import (  # noqa: E402
    Client, RawWebSocket, Server, check, is_type, note, run)

SESSIONS = 500
BATCH = 50


async def stale_client():
    srv = await Server("--sim.count=0", "--server.heartbeat-interval=1s",
                       "--server.stale-after=3s", "--server.tick=100ms",
                       name="scopehub-stale").start()
    t0 = time.monotonic()
    raw = await RawWebSocket.connect(srv.port)
    # ping_interval=None: this client never sends a frame of its own; the
    # library still answers the server's pings with pongs.
    quiet = await Client.connect(srv.url(), name="pong-only",
                                 ping_interval=None)
    got_close = await raw.read_until_close(10)
    elapsed = time.monotonic() - t0
    pings = sum(1 for op, _ in raw.frames if op == 0x9)
    texts = sum(1 for op, _ in raw.frames if op == 0x1)
    note(f"raw client: {texts} text frames, {pings} pings, close after "
         f"{elapsed:.2f} s")
    check(got_close, "the silent raw client receives a close frame",
          f"frames: {[op for op, _ in raw.frames]}")
    check(raw.close_code == 4001 and raw.close_reason == "heartbeat timeout",
          "close code 4001, reason 'heartbeat timeout'",
          f"{raw.close_code} {raw.close_reason!r}")
    check(2.8 <= elapsed <= 5.0,
          f"closed after stale-after (3 s): {elapsed:.2f} s")
    check(texts >= 3, f"it got the heartbeats before ({texts} text frames)")
    raw.close()

    # Keep the quiet client through more than two stale periods.
    await asyncio.sleep(max(0.0, 7.5 - (time.monotonic() - t0)))
    check(not quiet.closed,
          "the pong-only websockets client is still open after 7.5 s "
          "(pongs count as liveness)",
          f"closed with {quiet.close_code} {quiet.close_reason!r}")
    hbs = quiet.matching(is_type("heartbeat"))
    check(len(hbs) >= 6 and all(h["payload"]["heartbeat_interval_ms"] == 1000
                                for h in hbs),
          f"it received {len(hbs)} heartbeats (interval 1000 ms)")
    check("server" in hbs[0]["payload"]
          and all("server" not in h["payload"] and "role" not in h["payload"]
                  for h in hbs[1:]),
          "only the first heartbeat carries server and role")
    status, body, _ = srv.get("/api/ws/health")
    check(body["connections"] == 1,
          "health: only the pong-only session remains", str(body))
    await quiet.close()
    srv.stop()


async def shutdown_with_sessions():
    srv = await Server("--sim.count=1", name="scopehub-500").start()
    clients = []
    t0 = time.monotonic()
    for i in range(0, SESSIONS, BATCH):
        clients += await asyncio.gather(*[
            Client.connect(srv.url(), name=f"m{i + k}")
            for k in range(BATCH)])
    await asyncio.gather(*[c.expect(is_type("heartbeat"), 20, "heartbeat")
                           for c in clients])
    check(len(clients) == SESSIONS,
          f"{SESSIONS} sessions open, each got its heartbeat "
          f"({time.monotonic() - t0:.1f} s)")
    status, body, _ = srv.get("/api/ws/health")
    check(body["connections"] == SESSIONS,
          f"health counts {SESSIONS} connections", str(body))
    t1 = time.monotonic()
    srv.send_signal(signal.SIGTERM)
    rc = await srv.wait_exit(10)
    took = time.monotonic() - t1
    check(rc == 0, f"SIGTERM: scopehub exits with code 0 ({took:.2f} s)",
          f"rc={rc}")
    check(took < 5.0, f"and within 5 s ({took:.2f} s)")
    await asyncio.gather(*[c.wait_closed(5) for c in clients])
    codes = {}
    for c in clients:
        key = (c.close_code, c.close_reason)
        codes[key] = codes.get(key, 0) + 1
    sample = clients[::25]
    check(all(c.close_code == 1001 for c in sample),
          f"a sample of {len(sample)} clients saw close 1001",
          str(codes))
    check(codes.get((1001, "server shutting down")) == SESSIONS,
          f"in fact all {SESSIONS} saw 1001 'server shutting down'",
          str(codes))


async def main():
    await stale_client()
    await shutdown_with_sessions()


if __name__ == "__main__":
    run(main, "server_liveness")
