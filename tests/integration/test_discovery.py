"""UDP discovery end to end: scopehub probes a standalone seestar-sim by
unicast scan_iscope on 127.0.0.1, registers what answers, and a WebSocket
client sees the telescope appear and can command it. Only 127.0.0.1."""

import asyncio
import json
import os
import subprocess
import sys
import time

import websockets

BIN = os.environ["SCOPEHUB_BIN_DIR"]


def start(args, pattern):
    """Starts a process, returns (proc, {key: value}) of its port lines."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    found = {}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(found) < len(pattern):
        line = proc.stdout.readline()
        if not line:
            break
        for key in pattern:
            if line.startswith(key):
                found[key] = int(line.strip().rsplit("=" if "=" in line
                                                     else ":", 1)[1])
    if len(found) < len(pattern):
        proc.kill()
        raise SystemExit(f"FAIL: {args[0]} did not print {pattern}")
    return proc, found


def check(cond, what):
    if not cond:
        raise SystemExit(f"FAIL: {what}")
    print(f"pass: {what}", flush=True)


async def scenario(port):
    async with websockets.connect(f"ws://127.0.0.1:{port}/api/ws") as ws:
        deadline = time.monotonic() + 20
        found = None
        while time.monotonic() < deadline and found is None:
            msg = json.loads(await asyncio.wait_for(ws.recv(), 20))
            if (msg["type"] == "telescope_discovered"
                    and msg["payload"]["telescope"]["id"] == "disco-1"):
                if msg["payload"]["telescope"]["state"] == "online":
                    found = msg
        check(found is not None, "the probed simulator appears online")
        info = found["payload"]["telescope"]
        check(info["host"] == "127.0.0.1", "its host is where it answered")
        await ws.send(json.dumps({
            "id": "d-1", "type": "control_command", "telescope_id": "disco-1",
            "payload": {"action": "set_gain", "parameters": {"gain": 90}}}))
        while True:
            msg = json.loads(await asyncio.wait_for(ws.recv(), 20))
            if msg["type"] == "command_response":
                break
        check(msg["payload"]["command_id"] == "d-1"
              and msg["payload"]["success"], "a command to it succeeds")


def main():
    sim, sim_ports = start([f"{BIN}/seestar-sim", "--port=0",
                            "--discovery-port=0", "--name=disco-1"],
                           ["port=", "discovery_port="])
    server = None
    try:
        server, ports = start(
            [f"{BIN}/scopehub", "--port=0", "--sim.count=0",
             "--telescopes.discover=[\"127.0.0.1:%d\"]"
             % sim_ports["discovery_port="],
             "--telescopes.discover-interval=1s"],
            ["scopehub listening on"])
        asyncio.run(scenario(ports["scopehub listening on"]))
    finally:
        for p in (server, sim):
            if p is not None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()


if __name__ == "__main__":
    main()
