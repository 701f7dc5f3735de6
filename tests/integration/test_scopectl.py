#!/usr/bin/env python3
"""scopectl end to end: --help, list, status, cmd (success, progress,
failure exit codes by error class), --json output, watch until SIGINT,
health, the exit code when no server listens, watch across a server
restart, and wss:// against a small TLS WebSocket server made here.

scopehub on 127.0.0.1 (--port=0, one simulated Seestar at 20x).
Prints one line per passed check; exits non-zero on the first failure.
"""

import asyncio
import json
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from http import HTTPStatus

import websockets

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scopehub_testlib import (  # noqa: E402
    Process, bin_dir, check, free_port, note, run, server_ready)

TID = "seestar-001"


def scopectl_path():
    return os.path.join(bin_dir(), "scopectl")


async def scopectl(url, *args, timeout=60):
    """(returncode, stdout, stderr) of one scopectl run."""
    argv = [scopectl_path(), "--url", url, *args]
    res = await asyncio.to_thread(subprocess.run, argv, capture_output=True,
                                  text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL)
    note(f"scopectl {' '.join(args)} -> {res.returncode}")
    return res.returncode, res.stdout, res.stderr


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


async def help_texts(url):
    rc, out, _ = await scopectl(url, "--help")
    check(rc == 0 and "exit codes" in out and "watch" in out,
          "--help lists the commands and the exit codes")
    for cmd in ("list", "status", "watch", "cmd", "health"):
        rc, out, _ = await scopectl(url, cmd, "--help")
        check(rc == 0 and out.startswith("usage: scopectl")
              and cmd in out.splitlines()[0], f"{cmd} --help")
    rc, _, err = await scopectl(url, "fly")
    check(rc == 2 and "unknown command" in err, "unknown command: exit 2")
    rc, _, err = await scopectl(url, "cmd", TID)
    check(rc == 2, "cmd without an action: exit 2")


async def listing(url):
    rc, out, err = await scopectl(url, "list")
    lines = out.splitlines()
    check(rc == 0 and lines and lines[0].split()[:4]
          == ["ID", "NAME", "MODEL", "STATE"], "list prints a header", out + err)
    row = [line for line in lines if line.startswith(TID)]
    check(len(row) == 1 and "online" in row[0].split(),
          "list shows the telescope online", out)
    check(len({line.index("STATE") if "STATE" in line else
               line.index("online") for line in [lines[0], row[0]]}) == 1,
          "columns are aligned", out)
    rc, out, _ = await scopectl(url, "--json", "list")
    frames = json_lines(out)
    check(rc == 0 and frames and all(f["type"] == "telescope_discovered"
                                     for f in frames)
          and any(f["telescope_id"] == TID for f in frames),
          "list --json prints telescope_discovered messages, one per line")


async def status(url):
    rc, out, err = await scopectl(url, "status", TID)
    check(rc == 0 and all(c in out for c in ("position", "focus", "imaging",
                                               "system")),
          "status prints every category", out + err)
    check("steps" in out and " deg" in out and " %" in out,
          "status shows units (steps, deg, %)", out)
    rc, out, _ = await scopectl(url, "--json", "status", TID,
                                "--category", "focus")
    frames = json_lines(out)
    check(rc == 0 and len(frames) == 1
          and frames[0]["type"] == "command_response"
          and frames[0]["payload"]["success"] is True
          and list(frames[0]["payload"]["result"]) == ["focus"],
          "status --json --category focus: one command_response", out)
    rc, _, err = await scopectl(url, "status", TID, "--category", "nope")
    check(rc == 2, "status with an unknown category: exit 2", err)


async def commands(url):
    rc, out, err = await scopectl(url, "cmd", TID, "set_gain", "gain=90")
    check(rc == 0 and out.startswith("ok"), "cmd set_gain: ok, exit 0",
          out + err)
    rc, out, _ = await scopectl(url, "--json", "status", TID,
                                "--category", "imaging")
    gain = json_lines(out)[0]["payload"]["result"]["imaging"]["gain"]
    check(gain == 90, "the gain really changed", str(gain))

    rc, out, err = await scopectl(url, "cmd", TID, "focus", "position=1450")
    check(rc == 0 and ("accepted" in err or "working" in err),
          "a long command shows progress on stderr", err)
    check(rc == 0 and out.startswith("ok"), "cmd focus: ok, exit 0",
          out + err)

    rc, out, err = await scopectl(url, "--json", "cmd", TID, "set_gain",
                                  "gain=91")
    frames = json_lines(out)
    check(rc == 0 and frames and frames[-1]["type"] == "command_response"
          and frames[-1]["payload"]["success"] is True,
          "cmd --json prints the command_response", out + err)

    rc, out, err = await scopectl(url, "cmd", TID, "set_gain", "gain=500")
    check(rc == 5 and "INVALID_PARAMETERS" in err,
          "out of range parameter: INVALID_PARAMETERS, exit 5", err)
    rc, out, err = await scopectl(url, "cmd", TID, "fly")
    check(rc == 5, "unknown action: exit 5", err)
    rc, out, err = await scopectl(url, "cmd", "no-such-scope", "get_status")
    check(rc == 6 and "TELESCOPE_NOT_FOUND" in err,
          "unknown telescope: TELESCOPE_NOT_FOUND, exit 6", err)
    rc, out, err = await scopectl(url, "cmd", TID, "move", "direction=up",
                                  "duration=10000", "--timeout", "0.2")
    check(rc == 4, "a command past its --timeout: exit 4", out + err)


async def watch(url):
    proc = subprocess.Popen([scopectl_path(), "--url", url, "watch", TID,
                             "--category", "focus"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)
    try:
        line = await asyncio.wait_for(
            asyncio.to_thread(proc.stdout.readline), 15)
        check(TID in line and "focus" in line and "snapshot" in line
              and "focus_position=" in line,
              "watch prints the focus snapshot", line)
        await asyncio.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        rc = await asyncio.to_thread(proc.wait, 10)
        check(rc == 0, "watch ends with exit 0 on SIGINT", str(rc))
        err = proc.stderr.read()
        check("-- open" in err, "watch reports the connection state", err)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def watch_restart():
    """watch survives a server restart: reconnecting, then a snapshot of
    the new server run."""
    port = free_port()
    argv = [os.path.join(bin_dir(), "scopehub"), f"--port={port}",
            "--sim.count=1", "--sim.time-scale=20",
            "--telescopes.poll-interval=500ms"]
    ready = r"scopehub listening on 127\.0\.0\.1:(\d+)"
    first = Process("scopehub-first", argv)
    await first.start(ready)
    err = tempfile.NamedTemporaryFile(prefix="scopectl-", suffix=".err",
                                      delete=False)
    proc = subprocess.Popen([scopectl_path(), "--url",
                             f"ws://127.0.0.1:{port}", "watch", TID,
                             "--category", "system"],
                            stdout=subprocess.PIPE, stderr=err,
                            stdin=subprocess.DEVNULL, text=True)

    def stderr_text():
        with open(err.name, errors="replace") as f:
            return f.read()

    async def snapshot_line():
        while True:
            line = await asyncio.wait_for(
                asyncio.to_thread(proc.stdout.readline), 20)
            if not line or "snapshot" in line:
                return line

    try:
        line = await snapshot_line()
        check("system" in line and "battery_capacity=" in line,
              "watch: system snapshot from the first server", line)
        first.stop()
        end = time.monotonic() + 10
        while "-- reconnecting" not in stderr_text() \
                and time.monotonic() < end:
            await asyncio.sleep(0.05)
        check("-- reconnecting" in stderr_text(),
              "watch shows reconnecting when the server goes away",
              stderr_text())
        second = Process("scopehub-second", argv)
        await second.start(ready)
        line = await snapshot_line()
        check("system" in line and "snapshot" in line,
              "watch: a fresh snapshot from the restarted server", line)
        check(stderr_text().count("-- open") == 2,
              "and the connection opened twice", stderr_text())
        proc.send_signal(signal.SIGINT)
        rc = await asyncio.to_thread(proc.wait, 10)
        check(rc == 0, "watch still ends with exit 0 on SIGINT", str(rc))
        second.stop()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        err.close()
        os.unlink(err.name)


async def wss_fake_server():
    """wss:// through OpenSSL against a minimal TLS WebSocket server made
    here (self-signed certificate for 127.0.0.1): the command goes out
    with the token as a Bearer header and its response comes back; the
    same URL without --ca-file fails verification (exit 3); health is
    GET /api/ws/health over HTTPS on the same port."""
    d = tempfile.mkdtemp(prefix="scopectl-tls-")
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext",
                    "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=30)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    auth = []

    async def handler(ws, path=None):
        auth.append(ws.request_headers.get("Authorization"))
        now = int(time.time() * 1000)
        await ws.send(json.dumps({
            "id": "h-1", "type": "heartbeat", "timestamp": now,
            "payload": {"server_time": now, "session_id": "fake",
                        "heartbeat_interval_ms": 30000, "protocol": 1}}))
        try:
            async for text in ws:
                m = json.loads(text)
                if m.get("type") != "control_command":
                    continue
                await ws.send(json.dumps({
                    "id": "r-" + m["id"], "type": "command_response",
                    "telescope_id": m.get("telescope_id"), "timestamp": now,
                    "payload": {"command_id": m["id"], "success": True,
                                "result": {"over": "tls"}, "error": None,
                                "error_code": None}}))
        except websockets.ConnectionClosed:
            pass

    async def health_check(path, request_headers):
        # GET /api/ws/health over the same TLS port (HTTPS).
        if path.split("?")[0] != "/api/ws/health":
            return None
        body = json.dumps({"status": "ok", "uptime_s": 1,
                           "connections": 0}).encode()
        return HTTPStatus.OK, [("Content-Type", "application/json")], body

    server = await websockets.serve(handler, "127.0.0.1", 0, ssl=ctx,
                                    process_request=health_check)
    try:
        port = server.sockets[0].getsockname()[1]
        url = f"wss://127.0.0.1:{port}"
        rc, out, err = await scopectl(url, "--ca-file", cert, "--token",
                                      "s3cret", "cmd", TID, "get_status")
        check(rc == 0 and "tls" in out, "wss:// with --ca-file: exit 0",
              out + err)
        check("Bearer s3cret" in auth, "the token went as a Bearer header",
              str(auth))
        rc, out, err = await scopectl(url, "cmd", TID, "get_status")
        check(rc == 3, "wss:// with an untrusted certificate: exit 3",
              out + err)
        rc, out, err = await scopectl(url, "--ca-file", cert, "health")
        check(rc == 0 and "status" in out and "ok" in out,
              "health over wss:// (HTTPS) with --ca-file: exit 0", out + err)
        rc, out, err = await scopectl(url, "health")
        check(rc == 3, "health over wss:// with an untrusted certificate: "
              "exit 3", out + err)
    finally:
        server.close()
        await server.wait_closed()
        for f in (cert, key):
            os.unlink(f)
        os.rmdir(d)


async def health(url):
    rc, out, err = await scopectl(url, "health")
    check(rc == 0 and "status" in out and "ok" in out and "1 of 1 online"
          in out, "health: ok, telescopes online", out + err)
    rc, out, _ = await scopectl(url, "--json", "health")
    frames = json_lines(out)
    check(rc == 0 and len(frames) == 1 and frames[0]["status"] == "ok",
          "health --json prints the body", out)


async def unreachable():
    url = f"ws://127.0.0.1:{free_port()}"
    t0 = time.monotonic()
    rc, out, err = await scopectl(url, "cmd", TID, "get_status")
    check(rc == 3, "cmd without a server: exit 3", out + err)
    check(time.monotonic() - t0 < 20, "and it gives up quickly")
    rc, _, _ = await scopectl(url, "health")
    check(rc == 3, "health without a server: exit 3")


async def main():
    srv = await server_ready("--sim.count=1", "--sim.time-scale=20",
                             "--telescopes.poll-interval=500ms", ids=[TID])
    url = f"ws://127.0.0.1:{srv.port}"
    await help_texts(url)
    await listing(url)
    await status(url)
    await commands(url)
    await watch(url)
    await health(url)
    await unreachable()
    srv.stop()
    await watch_restart()
    await wss_fake_server()


if __name__ == "__main__":
    run(main, "scopectl")
