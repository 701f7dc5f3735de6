"""Slow consumers (issue 6): a client that stops reading has its status
deltas conflated per topic, keeps every command response, ends up with
exactly the final state, and is closed with 4002 when its backlog still
passes the hard limit; a client that floods is paused, not buffered; the
other subscribers see every update.

The telescope here is a fake Seestar written in this file (like
scopebench's): it answers the calls scopehub makes at connect and emits
PiStatus events on demand, so the test knows every value the server
relays (`temp` = event number).
"""

import asyncio
import json
import os
import socket
import struct

from scopehub_testlib import (HOST, Client, Failure, RawWebSocket, Server,
                              check, is_response, is_status, note, run)

TELESCOPE = "fake-1"

REPLIES = {
    "get_device_state": {
        "device": {"name": "fake", "firmware_ver_string": "test",
                   "product_model": "Seestar S50"},
        "pi_status": {"battery_capacity": 80,
                      "charger_status": "Discharging", "temp": 0},
        "storage": {"storage_volume": [{"name": "emmc", "freeMB": 50000}]},
        "mount": {"tracking": False, "close": False},
        "focuser": {"step": 1200, "max_step": 2600}},
    "get_view_state": {"View": {"state": "cancel"}},
    "get_focuser_position": 1200,
    "scope_get_equ_coord": {"ra": 5.5, "dec": 22.0},
    "scope_get_horiz_coord": [45.0, 180.0],
    "test_connection": "server connected!",
}


class FakeSeestar:
    """A Seestar JSON-RPC device on 127.0.0.1 that answers every call and
    emits PiStatus events when told."""

    def __init__(self):
        self.writers = []
        self.server = None
        self.port = None

    async def start(self):
        self.server = await asyncio.start_server(self._serve, HOST, 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _serve(self, reader, writer):
        self.writers.append(writer)
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                try:
                    req = json.loads(line)
                except ValueError:
                    continue
                method = req.get("method", "")
                reply = {"jsonrpc": "2.0", "Timestamp": "0", "method": method,
                         "result": REPLIES.get(method, 0), "code": 0,
                         "id": req.get("id")}
                writer.write((json.dumps(reply) + "\r\n").encode())
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self.writers.remove(writer)

    async def emit(self, first, last, per_50ms=None):
        """PiStatus events with temp = first..last (battery stays), all at
        once or `per_50ms` at a time."""
        step = per_50ms or (last - first + 1)
        for start in range(first, last + 1, step):
            for w in list(self.writers):
                for t in range(start, min(start + step, last + 1)):
                    w.write(('{"Event":"PiStatus","Timestamp":"0","temp":%d,'
                             '"battery_capacity":80}\r\n' % t).encode())
                await w.drain()
            if per_50ms:
                await asyncio.sleep(0.05)

    def stop(self):
        for w in self.writers:
            w.close()
        self.server.close()


def masked(text):
    """One masked text frame (clients must mask)."""
    data = text.encode()
    key = os.urandom(4)
    n = len(data)
    head = bytes([0x81])
    if n <= 125:
        head += bytes([0x80 | n])
    else:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(data))


async def stuck_client(port, limit=4096):
    """A raw WebSocket with a 4 KiB receive buffer whose reader buffers at
    most `limit` bytes: once the test stops reading it, the server's
    writes back up at once."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.setblocking(False)
    await asyncio.get_running_loop().sock_connect(s, (HOST, port))
    reader, writer = await asyncio.open_connection(sock=s, limit=limit)
    writer.write((f"GET /api/ws HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
                  "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    if b" 101 " not in head.split(b"\r\n", 1)[0] + b" ":
        raise Failure(f"stuck client handshake refused: {head[:80]!r}")
    return RawWebSocket(reader, writer)


async def read_json(raw, pred, timeout=10.0):
    """Reads text frames until one matches `pred`; returns the frames."""
    seen = []
    end = asyncio.get_running_loop().time() + timeout
    while True:
        left = end - asyncio.get_running_loop().time()
        if left <= 0:
            raise Failure(f"no matching frame within {timeout} s; last: "
                          f"{seen[-3:]}")
        opcode, data = await asyncio.wait_for(raw.read_frame(), left)
        if opcode != 0x1:
            continue
        frame = json.loads(data)
        seen.append(frame)
        if pred(frame):
            return seen


def subscribe(raw_or_id, cid):
    return json.dumps({"id": cid, "type": "subscribe",
                       "telescope_id": TELESCOPE,
                       "payload": {"subscription_types": ["system"]}})


def system_temps(frames):
    return [f for f in frames if is_status(TELESCOPE, "system")(f)]


async def start_server(device, *flags):
    return await Server(
        "--sim.count=0", f'--telescopes.connect=["{TELESCOPE}=127.0.0.1:'
        f'{device.port}"]', "--limits.message-rate=100000",
        "--limits.message-burst=100000", *flags).start()


async def fast_subscriber(server, total):
    fast = await Client.connect(server.url(), "fast")
    await fast.send({"id": "f-sub", "type": "subscribe",
                     "telescope_id": TELESCOPE,
                     "payload": {"subscription_types": ["system"]}})
    await fast.expect(is_status(TELESCOPE, "system", full=True),
                      what="snapshot")
    return fast


async def conflation(device):
    server = await start_server(device, "--server.backlog-soft-limit=4096",
                                "--server.write-queue-limit=1048576")
    fast = await fast_subscriber(server, 0)
    slow = await stuck_client(server.port)
    slow.writer.write(masked(subscribe(slow, "s-sub")))
    await slow.writer.drain()
    got = await read_json(slow, is_status(TELESCOPE, "system", full=True))
    snapshot = got[-1]["payload"]
    base = snapshot["seq"]
    note(f"slow client subscribed at seq {base}; it stops reading now")
    total = 3000
    await device.emit(1, total)
    # The fast client sees every one of them, in order, unmerged.
    await fast.expect(lambda f: is_status(TELESCOPE, "system")(f)
                      and f["payload"]["status"].get("temp") == total,
                      timeout=60, what=f"temp={total}")
    # With a 4 KiB soft limit even this client may fall behind for a
    # moment: then it too gets merged updates, never a gap.
    deltas = [f["payload"] for f in system_temps(fast.frames)
              if not f["payload"]["full_update"]]
    steps = [(p["seq"] - q["seq"], p.get("conflated", 1))
             for q, p in zip(deltas, deltas[1:])]
    check(all(d == n for d, n in steps) and deltas[-1]["status"]["temp"]
          == total, f"the reading subscriber got all {total} updates in "
          f"order ({len(deltas)} frames)", str(steps[:5]))
    # A command answered while the slow client is stuck still reaches it.
    slow.writer.write(masked(json.dumps(
        {"id": "s-cmd", "type": "control_command", "telescope_id": TELESCOPE,
         "payload": {"action": "get_status"}})))
    await slow.writer.drain()
    await asyncio.sleep(0.5)
    # Now it reads: every frame until the command response and temp=total.
    state = dict(snapshot["status"])
    frames = []
    last_seq = base
    merged = 0
    bad = []
    response = None
    end = asyncio.get_running_loop().time() + 30
    while state.get("temp") != total or response is None:
        if asyncio.get_running_loop().time() > end:
            raise Failure(f"slow client stuck at temp {state.get('temp')}, "
                          f"response {response is not None}")
        opcode, data = await asyncio.wait_for(slow.read_frame(), 30)
        if opcode != 0x1:
            continue
        f = json.loads(data)
        if is_response("s-cmd")(f):
            response = f
            continue
        if not is_status(TELESCOPE, "system")(f):
            continue
        p = f["payload"]
        n = p.get("conflated", 1)
        if p["seq"] - last_seq != n:
            bad.append((last_seq, p["seq"], n))
        last_seq = p["seq"]
        merged = max(merged, n)
        frames.append(f)
        state.update(p["status"])
    check(not bad, "every conflated update's seq advances by exactly its "
          "conflated count (nothing lost, nothing reordered)", str(bad[:5]))
    check(merged > 1 and len(frames) < total,
          f"the stuck client's {total} deltas arrived as {len(frames)} frames "
          f"(largest merge {merged})")
    fast_state = {}
    for f in system_temps(fast.frames):
        fast_state.update(f["payload"]["status"])
    check(state == fast_state, "the conflated view equals the reading "
          "subscriber's view exactly", f"{state} vs {fast_state}")
    check(response["payload"]["success"] is True,
          "the command response sent while stuck was kept")
    check(all(not f["payload"]["full_update"] for f in frames),
          "conflation needed no full snapshot")
    slow.close()
    await fast.close()
    server.stop()


async def hard_limit(device, first):
    server = await start_server(device, "--server.backlog-soft-limit=0",
                                "--server.write-queue-limit=262144",
                                "--server.send-buffer=16384")
    fast = await fast_subscriber(server, 0)
    slow = await stuck_client(server.port)
    slow.writer.write(masked(subscribe(slow, "s-sub")))
    await slow.writer.drain()
    await read_json(slow, is_status(TELESCOPE, "system", full=True))
    total = 3000
    # Paced (1000/s) so that the reading client, in Python, keeps up even
    # without conflation; the stuck one falls past 64 KiB at once.
    await device.emit(first, first + total - 1, per_50ms=50)
    await fast.expect(lambda f: is_status(TELESCOPE, "system")(f)
                      and f["payload"]["status"].get("temp")
                      == first + total - 1, timeout=60, what="last temp")
    temps = [f["payload"]["status"]["temp"] for f in system_temps(fast.frames)
             if not f["payload"]["full_update"]
             and f["payload"]["status"].get("temp", 0) >= first]
    check(temps == list(range(first, first + total)),
          f"the reading subscriber got all {total} updates, in order, while "
          "the other one was stuck", f"got {len(temps)}")
    await asyncio.sleep(0.5)
    # The stuck client reads again: what was on the wire, then the close.
    before = 0
    end = asyncio.get_running_loop().time() + 15
    code = reason = None
    while asyncio.get_running_loop().time() < end:
        try:
            opcode, data = await asyncio.wait_for(slow.read_frame(), 10)
        except (asyncio.IncompleteReadError, ConnectionError,
                asyncio.TimeoutError) as e:
            raise Failure(f"no close frame after {before} bytes: {e!r}")
        if opcode == 0x8:
            code = struct.unpack("!H", data[:2])[0]
            reason = data[2:].decode()
            break
        before += len(data)
    check(code == 4002 and reason == "slow consumer",
          "the stuck client is closed with 4002 \"slow consumer\"",
          f"{code} {reason!r}")
    check(before < 65536, f"the close frame came after {before} bytes, "
          "not behind the whole backlog")
    status, health, _ = server.get("/api/ws/health")
    note(f"health after: {json.dumps(health)[:300]}")
    slow.close()
    await fast.close()
    server.stop()


async def flood(device):
    """A client that sends without reading is paused by TCP: the server
    neither closes it nor grows without bound, and serves others."""
    server = await start_server(device, "--server.inbound-window=8",
                                "--server.write-queue-limit=8388608")
    slow = await stuck_client(server.port)
    line = masked(json.dumps({"id": "h", "type": "heartbeat",
                              "payload": {}}))
    sent = 0
    slow.writer.transport.set_write_buffer_limits(high=64 * 1024)
    # Write until our own socket stops taking data (the server stopped
    # reading), bounded in time.
    end = asyncio.get_running_loop().time() + 20
    while asyncio.get_running_loop().time() < end:
        slow.writer.write(line * 100)
        sent += 100
        try:
            await asyncio.wait_for(slow.writer.drain(), 1.0)
        except asyncio.TimeoutError:
            break
    check(asyncio.get_running_loop().time() < end,
          f"the flooding client's writes block after {sent} messages "
          "(the server stopped reading it)")
    other = await Client.connect(server.url(), "other")
    await other.send({"id": "o1", "type": "control_command",
                      "telescope_id": TELESCOPE,
                      "payload": {"action": "get_status"}})
    await other.expect(is_response("o1"), what="other client's response")
    check(True, "another client is served while the flood is paused")
    await other.close()
    slow.close()
    server.stop()


async def sse_conflation(device, first):
    """An event stream that stops reading is conflated like a WebSocket:
    fewer events, each seq advancing by its conflated count, and the final
    state exact."""
    server = await start_server(device, "--server.backlog-soft-limit=4096",
                                "--server.write-queue-limit=1048576")
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.setblocking(False)
    await asyncio.get_running_loop().sock_connect(s, (HOST, server.port))
    reader, writer = await asyncio.open_connection(sock=s, limit=4096)
    writer.write((f"GET /api/telescopes/{TELESCOPE}/events HTTP/1.1\r\n"
                  f"Host: {HOST}:{server.port}\r\n\r\n").encode())
    await writer.drain()

    async def next_event(timeout=30):
        lines = []
        while True:
            line = await asyncio.wait_for(reader.readuntil(b"\n"), timeout)
            if line == b"\n":
                if lines:
                    return lines
                continue
            lines.append(line.decode().rstrip("\n"))

    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    check(b" 200 " in head, "the event stream opened", repr(head[:60]))

    def status_of(lines):
        for x in lines:
            if x.startswith("data: "):
                f = json.loads(x[6:])
                if is_status(TELESCOPE, "system")(f):
                    return f["payload"]
        return None
    snap = None
    while snap is None or not snap["full_update"]:
        snap = status_of(await next_event())
    last_seq = snap["seq"]
    total = 3000
    await device.emit(first, first + total - 1)
    await asyncio.sleep(1.0)  # the stream is stuck meanwhile
    temp, events, merged, bad = None, 0, 1, []
    while temp != first + total - 1:
        p = status_of(await next_event())
        if p is None:
            continue
        n = p.get("conflated", 1)
        if p["seq"] - last_seq != n:
            bad.append((last_seq, p["seq"], n))
        last_seq, events, merged = p["seq"], events + 1, max(merged, n)
        temp = p["status"].get("temp", temp)
    check(not bad and merged > 1 and events < total,
          f"a stuck event stream got {total} updates as {events} events "
          f"(largest merge {merged}), each seq advancing by its count",
          str(bad[:5]))
    writer.close()
    server.stop()


async def main():
    device = await FakeSeestar().start()
    try:
        await conflation(device)
        await sse_conflation(device, 20001)
        await hard_limit(device, 10001)
        await flood(device)
    finally:
        device.stop()


if __name__ == "__main__":
    run(main, "slow consumers")
