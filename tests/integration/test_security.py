#!/usr/bin/env python3
"""scopehub end to end, security and limits (issue 6): token credentials
(Bearer header, ?token=, missing, wrong -> 401 before the upgrade; the
session cookie of POST /api/session with its Origin check and DELETE), each
role's allowed and forbidden actions, telescope scoping, the message rate
limit (RATE_LIMITED, then 1008), the per-address and global connection
caps at their edges, `scopehub --hash-token`, and open mode (its log line;
a non-loopback host without tokens refuses to start).

Every server runs on 127.0.0.1 with --port=0; nothing connects elsewhere.
The 0.0.0.0 case exits during config validation, before any socket.
"""

import asyncio
import hashlib
import http.client
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scopehub_testlib import (  # noqa: E402
    HOST, Client, Server, bin_dir, check, is_discovered, is_type, run,
    wait_online)

TOKENS = {
    "obs": ("observer-secret", "observer", ""),
    "op": ("operator-secret", "operator", "seestar-001"),
    "op2": ("operator2-secret", "operator", ""),
    "adm": ("admin-secret", "admin", ""),
}


def sha(token):
    return hashlib.sha256(token.encode()).hexdigest()


def tokens_flag():
    entries = [f"{sha(t)}:{role}:{label}:{scope}"
               for label, (t, role, scope) in TOKENS.items()]
    return "--auth.tokens=[" + ",".join(f'"{e}"' for e in entries) + "]"


async def raw_upgrade(port, path, headers=None):
    """(status, JSON body or None) of a WebSocket upgrade request, read
    with a plain socket; the connection is closed afterwards."""
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        lines = [f"GET {path} HTTP/1.1", f"Host: {HOST}:{port}",
                 "Upgrade: websocket", "Connection: Upgrade",
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                 "Sec-WebSocket-Version: 13"]
        for k, v in (headers or {}).items():
            lines.append(f"{k}: {v}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        text = head.decode("latin-1")
        status = int(text.split(" ", 2)[1])
        length = 0
        for line in text.split("\r\n")[1:]:
            if line.lower().startswith("content-length:"):
                length = int(line.split(":", 1)[1])
        body = None
        if length:
            body = json.loads(
                (await asyncio.wait_for(reader.readexactly(length), 10))
                .decode())
        return status, body
    finally:
        writer.close()


async def connect(srv, label=None, via="bearer", path="/api/ws", name=None):
    if label is None:
        return await Client.connect(srv.url(path), name=name)
    token = TOKENS[label][0]
    if via == "bearer":
        return await Client.connect(
            srv.url(path), name=name or label,
            extra_headers={"Authorization": f"Bearer {token}"})
    return await Client.connect(srv.url(f"{path}?token={token}"),
                                name=name or label)


async def first_heartbeat(c):
    _, hb = await c.expect(is_type("heartbeat"), 10, "first heartbeat")
    return hb["payload"]


GOOD_ORIGIN = "http://dome.example"


def http_call(port, method, path, body=None, headers=None):
    """(status, parsed JSON body, headers) of one plain HTTP request."""
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        data = json.dumps(body).encode() if body is not None else None
        hs = {"Content-Type": "application/json"} if data else {}
        hs.update(headers or {})
        conn.request(method, path, body=data, headers=hs)
        res = conn.getresponse()
        text = res.read().decode("utf-8", "replace")
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = text
        return res.status, parsed, {k.lower(): v for k, v in res.getheaders()}
    finally:
        conn.close()


async def cookies(srv):
    status, body, hs = http_call(srv.port, "POST", "/api/session",
                                 {"token": "operator-secret"})
    cookie = hs.get("set-cookie", "")
    check(status == 200 and body.get("role") == "operator"
          and cookie.startswith("scopehub_session=") and "HttpOnly" in cookie
          and "SameSite=Strict" in cookie and "Max-Age=" in cookie,
          "POST /api/session with a token -> 200 and an HttpOnly, "
          "SameSite=Strict, expiring cookie", f"{status} {body} {cookie}")
    pair = cookie.split(";", 1)[0]
    status, body, _ = http_call(srv.port, "POST", "/api/session",
                                {"token": "nope"})
    check(status == 401 and body.get("error_code") == "UNAUTHORIZED",
          "POST /api/session with a wrong token -> 401", f"{status} {body}")
    conn = http.client.HTTPConnection(HOST, srv.port, timeout=10)
    try:
        conn.request("POST", "/api/session", body=b"[" * 30000,
                     headers={"Content-Type": "application/json"})
        res = conn.getresponse()
        deep = (res.status, json.loads(res.read()))
    finally:
        conn.close()
    check(deep[0] == 400 and deep[1].get("error_code") == "INVALID_MESSAGE",
          "POST /api/session with a body nested 30000 deep -> 400", str(deep))
    status, body, _ = http_call(srv.port, "POST", "/api/session",
                                {"token": "operator-secret"},
                                {"Origin": "http://evil.example"})
    check(status == 403, "POST /api/session from a foreign Origin -> 403",
          f"{status} {body}")
    c = await Client.connect(srv.url(), name="cookie",
                             origin=GOOD_ORIGIN,
                             extra_headers={"Cookie": pair})
    hb = await first_heartbeat(c)
    await asyncio.sleep(0.3)
    ids = {f["telescope_id"] for f in c.matching(is_discovered())}
    check(hb.get("role") == "operator" and ids == {"seestar-001"},
          "cookie upgrade from an allowed Origin: the token's role and scope",
          f"{hb} {ids}")
    await c.close()
    status, body = await raw_upgrade(
        srv.port, "/api/ws", {"Cookie": pair, "Origin": "http://evil.example"})
    check(status == 403 and body and body.get("error_code") == "FORBIDDEN",
          "cookie upgrade from a foreign Origin -> 403 before the upgrade",
          f"{status} {body}")
    status, body = await raw_upgrade(srv.port, "/api/ws", {"Cookie": pair})
    check(status == 403, "cookie upgrade without Origin -> 403",
          f"{status} {body}")
    status, body, hs = http_call(srv.port, "DELETE", "/api/session",
                                 headers={"Cookie": pair})
    check(status == 200 and body.get("revoked") is True
          and "Max-Age=0" in hs.get("set-cookie", ""),
          "DELETE /api/session revokes the session", f"{status} {body}")
    status, body = await raw_upgrade(
        srv.port, "/api/ws", {"Cookie": pair, "Origin": GOOD_ORIGIN})
    check(status == 401 and body and body.get("error_code") == "UNAUTHORIZED",
          "a revoked cookie -> 401", f"{status} {body}")


async def credentials(srv):
    a = await connect(srv, "obs", "bearer")
    hb = await first_heartbeat(a)
    check(hb.get("role") == "observer",
          "Bearer token accepted; heartbeat names role observer", str(hb))
    await a.close()
    b = await connect(srv, "adm", "query")
    hb = await first_heartbeat(b)
    check(hb.get("role") == "admin",
          "?token= accepted; heartbeat names role admin", str(hb))
    await b.close()
    status, body = await raw_upgrade(srv.port, "/api/ws")
    check(status == 401 and body and body.get("error_code") == "UNAUTHORIZED",
          "missing token: 401 UNAUTHORIZED JSON before the upgrade",
          f"{status} {body}")
    status, body = await raw_upgrade(
        srv.port, "/api/ws", {"Authorization": "Bearer not-a-token"})
    check(status == 401 and body and body.get("error_code") == "UNAUTHORIZED",
          "wrong Bearer token: 401 UNAUTHORIZED", f"{status} {body}")
    status, body = await raw_upgrade(srv.port, "/api/ws?token=wrong")
    check(status == 401 and body and body.get("error_code") == "UNAUTHORIZED",
          "wrong ?token=: 401 UNAUTHORIZED", f"{status} {body}")
    status, body = await raw_upgrade(
        srv.port, "/api/ws", {"Authorization": f"Bearer {sha('admin-secret')}"})
    check(status == 401, "the hash itself is not a credential", str(status))
    status, _ = await raw_upgrade(
        srv.port, "/api/ws", {"Authorization": "Bearer admin-secret"})
    check(status == 101, "a raw upgrade with a good token gets 101",
          str(status))


async def roles(srv):
    obs = await connect(srv, "obs")
    await wait_online(obs, ["seestar-001", "seestar-002", "seestar-003"])
    sid = await obs.subscribe("seestar-002", ["system"])
    r = await obs.response(sid)
    check(r["success"], "observer may subscribe", str(r))
    cid = await obs.command("seestar-002", "get_status")
    r = await obs.response(cid)
    check(not r["success"] and r["error_code"] == "FORBIDDEN",
          "observer command -> FORBIDDEN", str(r))
    await obs.close()

    op = await connect(srv, "op")
    await op.expect(is_type("heartbeat"), 10, "heartbeat")
    await asyncio.sleep(0.5)
    ids = {f["telescope_id"] for f in op.matching(is_discovered())}
    check(ids == {"seestar-001"},
          "scoped operator: the fleet list has only its telescope", str(ids))
    cid = await op.command("seestar-001", "get_status")
    r = await op.response(cid)
    check(r["success"], "scoped operator may command seestar-001", str(r))
    cid = await op.command("seestar-002", "get_status")
    r = await op.response(cid)
    check(not r["success"] and r["error_code"] == "FORBIDDEN",
          "scoped operator command to seestar-002 -> FORBIDDEN", str(r))
    sid = await op.subscribe("seestar-002", ["system"])
    e = await op.error(sid)
    check(e["error_code"] == "FORBIDDEN",
          "scoped operator subscribe to seestar-002 -> error FORBIDDEN", str(e))
    mark = op.mark()
    sid = await op.subscribe(None, ["system"])
    r = await op.response(sid)
    await asyncio.sleep(0.5)
    seen = {f.get("telescope_id") for f in
            op.matching(is_type("status_update"), mark)}
    check(r["success"] and seen == {"seestar-001"},
          "scoped all_telescopes subscription covers only seestar-001",
          str(seen))
    cid = await op.command("seestar-001", "reboot")
    r = await op.response(cid)
    check(not r["success"] and r["error_code"] == "FORBIDDEN",
          "operator reboot -> FORBIDDEN", str(r))
    status, body = await raw_upgrade(
        srv.port, "/api/ws/seestar-002",
        {"Authorization": "Bearer operator-secret"})
    check(status == 403 and body and body.get("error_code") == "FORBIDDEN",
          "scoped token on /api/ws/seestar-002 -> 403 before the upgrade",
          f"{status} {body}")
    # Idempotency identity is the token label: same id over a reconnect.
    cid = await op.command("seestar-001", "set_gain", {"gain": 80},
                           mid="dup-1")
    r1 = await op.response(cid)
    await op.close()
    op_again = await connect(srv, "op", "query", name="op-again")
    await op_again.command("seestar-001", "set_gain", {"gain": 80},
                           mid="dup-1")
    r2 = await op_again.response("dup-1")
    check(r1["success"] and r2.get("duplicate") is True,
          "same token label + same id over a reconnect -> duplicate",
          f"{r1} {r2}")

    # Leases: only an admin may take a held lease with force.
    cid = await op_again.command("seestar-001", "acquire_control")
    r = await op_again.response(cid)
    check(r["success"], "operator acquires control of seestar-001", str(r))
    op2 = await connect(srv, "op2")
    cid = await op2.command("seestar-001", "acquire_control", {"force": True})
    r = await op2.response(cid)
    check(not r["success"] and r["error_code"] == "FORBIDDEN",
          "operator force take-over -> FORBIDDEN", str(r))
    adm = await connect(srv, "adm")
    cid = await adm.command("seestar-001", "acquire_control", {"force": True})
    r = await adm.response(cid)
    check(r["success"], "admin force take-over succeeds", str(r))
    cid = await adm.command("seestar-003", "reboot")
    r = await adm.response(cid, timeout=20)
    check(r.get("error_code") != "FORBIDDEN",
          "admin may reboot (not FORBIDDEN)", str(r))
    for c in (op_again, op2, adm):
        await c.close()


async def rate_limit():
    srv = await Server("--sim.count=0", "--limits.message-rate=0.2",
                       "--limits.message-burst=5",
                       "--limits.rate-abuse-limit=3", name="rate").start()
    c = await Client.connect(srv.url(), name="flood")
    await c.expect(is_type("heartbeat"), 10, "heartbeat")
    for i in range(5):
        await c.send({"id": f"h-{i}", "type": "heartbeat"})
    await c.send({"id": "h-5", "type": "heartbeat"})
    e = await c.error("h-5")
    check(e["error_code"] == "RATE_LIMITED",
          "burst of 5 passes, the 6th message -> RATE_LIMITED with ref_id",
          str(e))
    check(not c.matching(lambda f: f.get("type") == "error"
                         and f["payload"].get("ref_id") in
                         {f"h-{i}" for i in range(5)}),
          "the first 5 messages were not limited")
    await c.send({"id": "h-6", "type": "heartbeat"})
    await c.send({"id": "h-7", "type": "heartbeat"})
    await c.wait_closed(10)
    check(c.close_code == 1008,
          "sustained abuse (3 limited in a row) closes 1008",
          f"{c.close_code} {c.close_reason}")
    srv.stop()


async def per_address_limit():
    srv = await Server("--sim.count=0",
                       "--limits.max-connections-per-address=3",
                       "--limits.per-address-exempt=[]",
                       name="peraddr").start()
    clients = []
    for i in range(3):
        c = await Client.connect(srv.url(), name=f"pa{i}")
        await c.expect(is_type("heartbeat"), 10, "heartbeat")
        clients.append(c)
    check(True, "3 connections from 127.0.0.1 allowed (N = 3)")
    status, body = await raw_upgrade(srv.port, "/api/ws")
    check(status == 503 and body and body.get("error_code") == "OVERLOADED",
          "the 4th connection from the same address -> 503 OVERLOADED",
          f"{status} {body}")
    await clients[0].close()
    ok = False
    for _ in range(50):  # the place comes back once the session is gone
        await asyncio.sleep(0.1)
        status, _ = await raw_upgrade(srv.port, "/api/ws")
        if status == 101:
            ok = True
            break
    check(ok, "after one closes, a new connection is admitted again")
    for c in clients[1:]:
        await c.close()
    srv.stop()


async def global_limit():
    srv = await Server("--sim.count=0", "--limits.max-connections=2",
                       name="global").start()
    a = await Client.connect(srv.url(), name="g1")
    b = await Client.connect(srv.url(), name="g2")
    await a.expect(is_type("heartbeat"), 10, "heartbeat")
    await b.expect(is_type("heartbeat"), 10, "heartbeat")
    status, body = await raw_upgrade(srv.port, "/api/ws")
    check(status == 503 and body and body.get("error_code") == "OVERLOADED",
          "global cap 2: the 3rd connection -> 503 OVERLOADED",
          f"{status} {body}")
    await a.close()
    await b.close()
    srv.stop()


async def connect_rate():
    """limits.connect-burst attempts from one address are served, the next
    one is closed at accept without a byte; exempt addresses are not
    limited at all."""
    srv = await Server("--sim.count=0", "--limits.per-address-exempt=[]",
                       "--limits.connect-rate=0.01",
                       "--limits.connect-burst=3", name="rate").start()
    codes = []
    for _ in range(3):
        status, _, _ = srv.get("/api/ws/health")
        codes.append(status)
    check(codes == [200, 200, 200],
          "connect burst 3: three connections are served", str(codes))
    try:
        status, _, _ = srv.get("/api/ws/health")
        got = f"HTTP {status}"
    except (ConnectionError, http.client.HTTPException, OSError) as e:
        got = type(e).__name__
    check(not got.startswith("HTTP"),
          "connect burst 3: the 4th is closed at accept, unanswered", got)
    srv.stop()
    srv = await Server("--sim.count=0", "--limits.connect-rate=0.01",
                       "--limits.connect-burst=1", name="rate-exempt").start()
    codes = [srv.get("/api/ws/health")[0] for _ in range(5)]
    check(codes == [200] * 5, "loopback is exempt by default: 5 of 5 served",
          str(codes))
    srv.stop()


async def hash_token():
    exe = os.path.join(bin_dir(), "scopehub")
    out = subprocess.run([exe, "--hash-token"], input=b"s3cret-token\n",
                         capture_output=True, timeout=30)
    got = out.stdout.decode().strip()
    check(out.returncode == 0 and got == sha("s3cret-token"),
          "--hash-token prints hashlib's SHA-256 of stdin, exit 0",
          f"rc={out.returncode} {got!r} {out.stderr[-300:]!r}")


async def open_mode():
    exe = os.path.join(bin_dir(), "scopehub")
    # Refused in config validation, before any socket is opened.
    out = subprocess.run([exe, "--host=0.0.0.0", "--port=0",
                          "--sim.count=0"], stdin=subprocess.DEVNULL,
                         capture_output=True, timeout=30)
    err = out.stderr.decode()
    check(out.returncode != 0 and "not loopback" in err
          and "--insecure" in err
          and "listening" not in out.stdout.decode(),
          "non-loopback host without tokens refuses to start",
          f"rc={out.returncode} {err[-300:]!r}")
    srv = await Server("--sim.count=0", name="open").start()
    c = await Client.connect(srv.url(), name="anon")
    hb = await first_heartbeat(c)
    check(hb.get("role") == "operator", "open mode: clients get open-role",
          str(hb))
    await c.close()
    with open(srv.err.name, errors="replace") as f:
        log = f.read()
    check("open mode" in log and "loopback only" in log,
          "the startup log says open mode (loopback only)")
    srv.stop()


def audit_lines(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def audit_checks(path):
    """The audit trail of the token server: one JSON object per line."""
    lines = audit_lines(path)
    check(lines and all("time" in x and "event" in x for x in lines),
          f"the audit trail has {len(lines)} JSON lines with time and event")

    def find(event, **want):
        return [x for x in lines if x["event"] == event
                and all(x.get(k) == v for k, v in want.items())]

    check(find("auth_failure", reason="missing_token"),
          "audit: a missing token is recorded")
    bad = find("auth_failure", reason="invalid_token")
    check(bad and all("secret" not in json.dumps(x) for x in bad),
          "audit: an invalid token is recorded, without the secret")
    check(find("auth_failure", reason="origin"),
          "audit: a refused Origin is recorded")
    obs = find("command", identity="token:obs", action="get_status",
               outcome="FORBIDDEN")
    check(obs and obs[0]["role"] == "observer"
          and obs[0]["peer"].startswith("127.0.0.1:")
          and obs[0]["telescope"] == "seestar-002",
          "audit: the observer's refused command with role, peer, telescope",
          str(obs[:1]))
    gain = find("command", identity="token:op", action="set_gain",
                command_id="dup-1", outcome="ok")
    check(gain and gain[0]["parameters"] == {"gain": 80}
          and gain[0]["duration_ms"] >= 0,
          "audit: a successful command with its parameters and duration",
          str(gain[:1]))
    check(find("command", identity="token:op2", action="acquire_control",
               outcome="FORBIDDEN"),
          "audit: the operator's refused force take-over")
    take = find("lease_takeover", telescope="seestar-001",
                identity="token:adm")
    check(len(take) == 1 and take[0]["previous_session"],
          "audit: exactly one forced lease take-over, naming the previous "
          "holder", str(take))


async def main():
    await hash_token()
    await open_mode()
    audit = os.path.join(os.environ.get("TMPDIR", "/tmp"),
                         f"scopehub-audit-{os.getpid()}.jsonl")
    if os.path.exists(audit):
        os.unlink(audit)
    srv = await Server(tokens_flag(), f'--auth.origins=["{GOOD_ORIGIN}"]',
                       f'--audit.file={audit}', name="tokens").start()
    with open(srv.err.name, errors="replace") as f:
        check("token mode: 4 tokens" in f.read(),
              "the startup log says token mode")
    await credentials(srv)
    await cookies(srv)
    await roles(srv)
    srv.stop()
    try:
        audit_checks(audit)
    finally:
        os.unlink(audit)
    await rate_limit()
    await per_address_limit()
    await global_limit()
    await connect_rate()


if __name__ == "__main__":
    run(main, "security")
