"""The HTTP fallback (issue 7): REST endpoints and their error codes, the
SSE event stream with Last-Event-ID resume, /api/sessions, CORS, the
runtime feature flags (HTTP and the admin WebSocket action, each flag's
effect), the metrics they move, and the debug page's files. Python's
standard library is the HTTP client: no code of this project on that side.
"""

import asyncio
import hashlib
import http.client
import json
import os
import socket
import tempfile
import time
import types

from scopehub_testlib import (HOST, SIM_IDS, Client, Server, SimControl,
                              is_status, note, run, sky_target, wait_online)
from scopehub_testlib import check as _check

def check(cond, what, detail=""):
    _check(cond, what, detail if isinstance(detail, str) else repr(detail))


TOKENS = {"obs": "observer", "op": "operator", "adm": "admin"}


def sha(token):
    return hashlib.sha256(token.encode()).hexdigest()


def tokens_flag():
    entries = [f"{sha('tok-' + label)}:{role}:{label}"
               for label, role in TOKENS.items()]
    return "--auth.tokens=[" + ",".join(f'"{e}"' for e in entries) + "]"


def call(port, method, path, body=None, headers=None, timeout=30.0):
    """(status, parsed JSON or text, headers with lower-case names)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        conn.request(method, path, body=data, headers=headers or {})
        res = conn.getresponse()
        text = res.read().decode("utf-8", "replace")
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = text
        return (res.status, parsed,
                {k.lower(): v for k, v in res.getheaders()})
    finally:
        conn.close()


async def acall(*args, **kw):
    return await asyncio.get_running_loop().run_in_executor(
        None, lambda: call(*args, **kw))


def bearer(label):
    return {"Authorization": f"Bearer tok-{label}"}


class EventStream:
    """A raw SSE client: request head, then events parsed as they come."""

    def __init__(self, port, path, headers=None):
        self.sock = socket.create_connection((HOST, port), timeout=10)
        lines = [f"GET {path} HTTP/1.1", f"Host: {HOST}:{port}",
                 "Accept: text/event-stream"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buf = b""
        self.head = None
        self.events = []  # dicts: id, event, data (parsed), comment

    def _fill(self, deadline):
        self.sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return True
        if not chunk:
            return False
        self.buf += chunk
        if self.head is None and b"\r\n\r\n" in self.buf:
            self.head, self.buf = self.buf.split(b"\r\n\r\n", 1)
            self.head = self.head.decode()
        if self.head is not None:
            while b"\n\n" in self.buf:
                block, self.buf = self.buf.split(b"\n\n", 1)
                ev = {}
                for line in block.decode().split("\n"):
                    if line.startswith(":"):
                        ev["comment"] = line[1:].strip()
                    elif ":" in line:
                        k, v = line.split(":", 1)
                        v = v[1:] if v.startswith(" ") else v
                        ev[k] = ev.get(k, "") + v if k == "data" else v
                if "data" in ev:
                    try:
                        ev["data"] = json.loads(ev["data"])
                    except ValueError:
                        pass
                self.events.append(ev)
        return True

    def wait(self, pred, timeout=15.0, what="event"):
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            for ev in self.events[seen:]:
                if pred(ev):
                    return ev
            seen = len(self.events)
            if not self._fill(deadline):
                break
        raise AssertionError(f"no SSE {what}; got {self.events[-6:]}")

    def status(self):
        return int(self.head.split(" ", 2)[1]) if self.head else 0

    def close(self):
        self.sock.close()


async def await_stream(*args, **kw):
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, lambda: EventStream(*args, **kw))


async def in_thread(fn, *args, **kw):
    return await asyncio.get_running_loop().run_in_executor(
        None, lambda: fn(*args, **kw))


def is_status_event(cat=None):
    return lambda ev: (isinstance(ev.get("data"), dict)
                       and ev["data"].get("type") == "status_update"
                       and (cat is None
                            or ev["data"]["payload"]["category"] == cat))


# -- open mode: the endpoints, error codes, SSE -------------------------------


async def endpoints(srv, ws):
    port = srv.port
    st, body, hs = await acall(port, "GET", "/api/telescopes")
    check(st == 200 and [t["id"] for t in body] == SIM_IDS
          and all(t["state"] == "online" and t["node"] == "local"
                  for t in body),
          "GET /api/telescopes lists the three simulated telescopes")
    check(hs.get("content-type") == "application/json",
          "REST answers are JSON", hs.get("content-type"))
    st, body, _ = await acall(port, "GET", "/api/telescopes/seestar-001")
    cats = sorted(body.get("status", {})) if st == 200 else []
    check(st == 200 and body["telescope"]["id"] == "seestar-001"
          and cats == ["focus", "imaging", "position", "system"]
          and all(body["status"][c]["full_update"] and body["status"][c]["seq"]
                  >= 1 for c in cats),
          "GET /api/telescopes/{id}: info plus a full snapshot of every "
          "category", str(body)[:200])
    st, body, _ = await acall(port, "GET", "/api/telescopes/no-such")
    check(st == 404 and body["error_code"] == "TELESCOPE_NOT_FOUND",
          "an unknown telescope is 404 TELESCOPE_NOT_FOUND", body)
    st, body, hs = await acall(port, "DELETE", "/api/telescopes/seestar-001")
    check(st == 405 and hs.get("allow") == "GET",
          "a wrong method is 405 with Allow", (st, hs.get("allow")))

    cmd = "/api/telescopes/seestar-001/commands"
    st, body, _ = await acall(port, "POST", cmd,
                              {"id": "h-1", "action": "set_gain",
                               "parameters": {"gain": 90}})
    check(st == 200 and body["command_id"] == "h-1" and body["success"]
          and body["result"] == {"status": "gain_set"}
          and "duplicate" not in body,
          "POST .../commands answers the command_response payload", body)
    st, again, _ = await acall(port, "POST", cmd,
                               {"id": "h-1", "action": "set_gain",
                                "parameters": {"gain": 91}})
    check(st == 200 and again.get("duplicate") is True,
          "the same id again is not executed twice (duplicate: true)", again)
    st, body, _ = await acall(port, "GET", "/api/telescopes/seestar-001")
    check(body["status"]["imaging"]["status"]["gain"] == 90,
          "the duplicate did not change the gain", body["status"]["imaging"])
    st, k1, _ = await acall(port, "POST", cmd,
                            {"action": "set_gain", "parameters": {"gain": 95}},
                            {"Idempotency-Key": "key-7"})
    st2, k2, _ = await acall(port, "POST", cmd,
                             {"action": "set_gain", "parameters": {"gain": 95}},
                             {"Idempotency-Key": "key-7"})
    check(st == 200 and k1["command_id"] == "key-7" and "duplicate" not in k1
          and st2 == 200 and k2.get("duplicate") is True,
          "Idempotency-Key is the command id: the retry is a duplicate")
    st, body, _ = await acall(port, "POST", cmd,
                              {"id": "a", "action": "set_gain",
                               "parameters": {"gain": 1}},
                              {"Idempotency-Key": "b"})
    check(st == 400 and body["error_code"] == "INVALID_MESSAGE",
          "a body id that differs from Idempotency-Key is 400", body)
    cases = [
        ({"action": "set_gain", "parameters": {"gain": 5000}}, 400,
         "INVALID_PARAMETERS"),
        ({"action": "fly", "parameters": {}}, 400, "UNKNOWN_ACTION"),
        ("{not json", 400, "INVALID_JSON"),
        ("[1]", 400, "INVALID_JSON"),
        ({"action": "acquire_control"}, 400, "INVALID_PARAMETERS"),
        ({"action": "cancel", "parameters": {"command_id": "x"}}, 400,
         "INVALID_PARAMETERS"),
    ]
    for payload, want, code in cases:
        st, body, _ = await acall(port, "POST", cmd, payload)
        check(st == want and body.get("error_code") == code,
              f"{str(payload)[:40]} -> {want} {code}", (st, body))
    st, body, _ = await acall(port, "POST",
                              "/api/telescopes/no-such/commands",
                              {"action": "set_gain", "parameters": {"gain": 9}})
    check(st == 404 and body["error_code"] == "TELESCOPE_NOT_FOUND"
          and body["success"] is False,
          "a command for an unknown telescope is 404", body)

    # A long operation answers when it is done, with its progress unseen.
    t0 = time.monotonic()
    st, body, _ = await acall(port, "POST",
                              "/api/telescopes/seestar-002/commands",
                              {"id": "h-goto", "action": "goto",
                               "parameters": {"ra": 5.0, "dec": 80.0}})
    check(st == 200 and body["success"] and body["command_id"] == "h-goto",
          f"a goto over HTTP answers when the slew is done "
          f"({time.monotonic() - t0:.1f} s)", body)

    # The lease rules hold: a WebSocket session's lease blocks REST commands.
    lease = await ws.command("seestar-003", "acquire_control")
    r = await ws.response(lease)
    check(r["success"], "a WebSocket client takes the lease")
    st, body, _ = await acall(port, "POST",
                              "/api/telescopes/seestar-003/commands",
                              {"action": "set_gain", "parameters": {"gain": 9}})
    check(st == 409 and body["error_code"] == "CONTROL_HELD",
          "a REST command against a held lease is 409 CONTROL_HELD", body)
    rel = await ws.command("seestar-003", "release_control")
    await ws.response(rel)


async def event_stream(srv):
    port = srv.port
    es = await await_stream(port, "/api/telescopes/seestar-001/events")
    first = await in_thread(es.wait, lambda ev: "retry" in ev, what="retry")
    check(es.status() == 200 and "text/event-stream" in es.head
          and first["retry"] == "2000",
          "GET .../events is an event stream announcing retry: 2000")
    full = {}
    for cat in ("position", "focus", "imaging", "system"):
        ev = await in_thread(es.wait, is_status_event(cat), what=cat)
        full[cat] = ev
    check(all(ev["data"]["payload"]["full_update"] for ev in full.values()),
          "a new stream starts with a full snapshot of every category")
    last = max(full.values(), key=lambda ev: es.events.index(ev))
    ids = dict(p.split(":") for p in last["id"].split(","))
    check(sorted(ids) == ["focus", "imaging", "position", "system"]
          and all(int(ids[c]) == full[c]["data"]["payload"]["seq"]
                  for c in ids),
          "the id: line names the newest seq of every category",
          last["id"])
    disc = [ev for ev in es.events if isinstance(ev.get("data"), dict)
            and ev["data"]["type"] == "telescope_discovered"]
    check(len(disc) == 1 and disc[0]["data"]["telescope_id"] == "seestar-001",
          "the stream announces only its own telescope", len(disc))
    # A change: set the focus over HTTP, see the delta on the stream.
    st, _, _ = await acall(port, "POST", "/api/telescopes/seestar-001/commands",
                           {"action": "focus", "parameters": {"position": 1700}})
    check(st == 200, "focus over HTTP")
    ev = await in_thread(
        es.wait, lambda e: is_status_event("focus")(e)
        and not e["data"]["payload"]["full_update"], what="focus delta")
    seq_focus = ev["data"]["payload"]["seq"]
    resume_id = ev["id"]
    es.close()
    # Resume: Last-Event-ID replays what came after, no full snapshot.
    st, _, _ = await acall(port, "POST", "/api/telescopes/seestar-001/commands",
                           {"action": "focus", "parameters": {"position": 1650}})
    es2 = await await_stream(port, "/api/telescopes/seestar-001/events",
                             {"Last-Event-ID": resume_id})
    ev = await in_thread(es2.wait, is_status_event("focus"),
                         what="resumed focus")
    p = ev["data"]["payload"]
    check(p["seq"] == seq_focus + 1 and not p["full_update"],
          "Last-Event-ID resumes: the next focus update, not a snapshot",
          (p["seq"], seq_focus, p["full_update"]))
    fulls = [e for e in es2.events if is_status_event()(e)
             and e["data"]["payload"]["full_update"]]
    check(not fulls, "no category the id named got a full snapshot",
          [e["data"]["payload"]["category"] for e in fulls])
    hb = await in_thread(es2.wait, lambda e: "comment" in e,
                         what="keep-alive")
    check(hb["comment"].startswith("heartbeat"),
          "heartbeats are comment lines (keep-alive)", hb)
    es2.close()
    es3 = await await_stream(port, "/api/telescopes/no-such/events")
    await in_thread(es3.wait, lambda ev: "retry" in ev, what="retry")
    check(es3.status() == 200, "a stream for a telescope not known yet is "
          "allowed (it may appear later)", es3.head)
    es3.close()


async def debug_files(srv):
    st, body, hs = await acall(srv.port, "GET", "/debug")
    check(st == 200 and hs["content-type"].startswith("text/html")
          and "<html" in body.lower(), "GET /debug serves the page")
    st, body, hs = await acall(srv.port, "GET", "/debug/app.js")
    check(st == 200 and "javascript" in hs["content-type"],
          "GET /debug/app.js serves JavaScript", hs.get("content-type"))
    for bad in ("/debug/nope.js", "/debug/..%2fCMakeLists.txt",
                "/debug/../CMakeLists.txt", "/debug/CMakeLists.txt"):
        st, _, _ = await acall(srv.port, "GET", bad)
        check(st == 404, f"GET {bad} is 404", st)


async def open_mode():
    srv = await Server("--sim.time-scale=50", "--server.open-role=admin",
                       "--server.heartbeat-interval=1s",
                       "--server.stale-after=5s",
                       "--server.cors-origins=[\"http://ops.example\"]").start()
    ws = await Client.connect(srv.url(), "ws1")
    await wait_online(ws, SIM_IDS)
    await endpoints(srv, ws)
    await command_timeout(srv)
    await event_stream(srv)
    await debug_files(srv)
    await cors(srv)
    await features(srv, ws)
    await sessions_view(srv, ws)
    await metrics_move(srv)
    await ws.close()


async def cors(srv):
    port = srv.port
    good = {"Origin": "http://ops.example"}
    st, _, hs = await acall(port, "OPTIONS", "/api/telescopes/seestar-001/"
                            "commands", headers={
                                **good, "Access-Control-Request-Method": "POST"})
    check(st == 204 and hs.get("access-control-allow-origin")
          == "http://ops.example"
          and "POST" in hs.get("access-control-allow-methods", "")
          and "authorization" in hs.get("access-control-allow-headers",
                                        "").lower(),
          "a preflight from an allowed origin is 204 with CORS headers", hs)
    st, _, hs = await acall(port, "OPTIONS", "/api/telescopes",
                            headers={"Origin": "http://evil.example"})
    check(st == 403 and "access-control-allow-origin" not in hs,
          "a preflight from another origin is 403 without CORS headers")
    st, _, hs = await acall(port, "GET", "/api/telescopes", headers=good)
    check(st == 200 and hs.get("access-control-allow-origin")
          == "http://ops.example" and hs.get("vary") == "Origin",
          "a REST answer to an allowed origin carries CORS headers")
    st, _, hs = await acall(port, "GET", "/api/telescopes",
                            headers={"Origin": "http://evil.example"})
    check(st == 200 and "access-control-allow-origin" not in hs,
          "a REST answer to another origin has no CORS headers")
    es = await await_stream(port, "/api/telescopes/seestar-001/events", good)
    await in_thread(es.wait, lambda ev: "retry" in ev, what="retry")
    check("Access-Control-Allow-Origin: http://ops.example" in es.head,
          "an event stream to an allowed origin carries CORS headers")
    es.close()


async def features(srv, ws):
    port = srv.port
    st, body, _ = await acall(port, "GET", "/api/features")
    check(st == 200 and body["features"] == {
        "compression": False, "delta_updates": True, "debug_logs": False,
        "performance_metrics": True, "sse_fallback": True},
        "GET /api/features: the five flags with their defaults", body)
    for bad, what in (({"name": "warp", "enabled": True}, "unknown flag"),
                      ({"name": "debug_logs", "enabled": "yes"}, "non-bool"),
                      ({}, "nothing named")):
        st, body, _ = await acall(port, "PUT", "/api/features", bad)
        check(st == 400 and body["error_code"] == "INVALID_PARAMETERS",
              f"PUT /api/features with {what} is 400", body)

    # delta_updates off: a new session gets every update as a full snapshot.
    st, body, _ = await acall(port, "PUT", "/api/features",
                              {"name": "delta_updates", "enabled": False})
    check(st == 200 and body["features"]["delta_updates"] is False,
          "PUT /api/features turns delta_updates off", body)
    full = await Client.connect(srv.url(), "full")
    await wait_online(full, SIM_IDS)
    await full.subscribe("seestar-001", ["focus"])
    await full.expect(is_status("seestar-001", "focus", full=True),
                      what="snapshot")
    mark = full.mark()
    for pos in (1500, 1510):
        mid = await ws.command("seestar-001", "focus", {"position": pos})
        await ws.response(mid, timeout=20)
    _, upd = await full.expect(is_status("seestar-001", "focus"), start=mark,
                            what="update after the change")
    p = upd["payload"]
    check(p["full_update"] is True and set(p["status"]) == {
        "focus_position", "focuser_moving"},
        "with delta_updates off every update carries the whole category", p)
    await full.close()
    st, body, _ = await acall(port, "PUT", "/api/features",
                              {"delta_updates": True, "debug_logs": True})
    check(st == 200 and body["features"]["delta_updates"]
          and body["features"]["debug_logs"],
          "several flags at once ({name: bool, ...})")
    st, _, _ = await acall(port, "GET", "/api/telescopes")
    await asyncio.sleep(0.3)
    with open(srv.err.name, errors="replace") as f:
        text = f.read()
    check("[debug]" in text, "debug_logs on: debug lines appear in the log")
    check("feature debug_logs on (was off)" in text,
          "a flag change is logged with who and how")

    # The admin WebSocket action.
    mid = await ws.command(None, "set_feature",
                           {"name": "debug_logs", "enabled": False})
    r = await ws.response(mid)
    check(r["success"]
          and r["result"]["features"]["debug_logs"] is False,
          "set_feature over WebSocket (admin) answers the flags", r)
    mid = await ws.command(None, "get_features")
    r = await ws.response(mid)
    check(r["success"]
          and r["result"]["features"]["debug_logs"] is False,
          "get_features over WebSocket")
    mid = await ws.command("seestar-001", "batch", {"commands": [
        {"action": "get_features"}]})
    r = await ws.error(mid)
    check(r["error_code"] == "INVALID_PARAMETERS"
          and "server action" in r["message"],
          "a server action is no batch step", r)

    # sse_fallback off: new streams are 404.
    st, _, _ = await acall(port, "PUT", "/api/features",
                           {"name": "sse_fallback", "enabled": False})
    st, body, _ = await acall(port, "GET", "/api/telescopes/seestar-001/events")
    check(st == 404 and "sse_fallback" in body["message"],
          "sse_fallback off: GET .../events is 404", (st, body))
    await acall(port, "PUT", "/api/features",
                {"name": "sse_fallback", "enabled": True})

    # compression: new WebSocket connections are offered permessage-deflate.
    plain = await Client.connect(srv.url(), "plain")
    await acall(port, "PUT", "/api/features",
                {"name": "compression", "enabled": True})
    deflated = await Client.connect(srv.url(), "deflated")

    def extensions(c):
        hs = c.ws.response_headers if hasattr(c.ws, "response_headers") \
            else c.ws.response.headers
        return hs.get("Sec-WebSocket-Extensions", "")
    check("permessage-deflate" not in extensions(plain)
          and "permessage-deflate" in extensions(deflated),
          "compression on: new connections negotiate permessage-deflate",
          (extensions(plain), extensions(deflated)))
    await wait_online(deflated, SIM_IDS)
    await plain.close()
    await deflated.close()
    await acall(port, "PUT", "/api/features",
                {"name": "compression", "enabled": False})

    # performance_metrics off: the fan-out histogram stops counting.
    def fanout_count():
        _, text, _ = call(port, "GET", "/metrics")
        for line in text.splitlines():
            if line.startswith("scopehub_fanout_delivery_seconds_count"):
                return float(line.split()[1])
        return -1.0
    sub = await Client.connect(srv.url(), "perf")
    await wait_online(sub, SIM_IDS)
    await sub.subscribe("seestar-001", ["position"])
    await sub.expect(is_status("seestar-001", "position"), what="position")
    await acall(port, "PUT", "/api/features",
                {"name": "performance_metrics", "enabled": False})
    before = await in_thread(fanout_count)
    mark = sub.mark()
    await sub.expect(is_status("seestar-001", "position"), start=mark,
                     timeout=15, what="a live position update")
    after = await in_thread(fanout_count)
    check(before == after and before > 0,
          "performance_metrics off: no fan-out observations", (before, after))
    await acall(port, "PUT", "/api/features",
                {"name": "performance_metrics", "enabled": True})
    mark = sub.mark()
    await sub.expect(is_status("seestar-001", "position"), start=mark,
                     timeout=15, what="a live position update")
    check(await in_thread(fanout_count) > after,
          "performance_metrics on: the fan-out histogram counts again")
    await sub.close()


async def sessions_view(srv, ws):
    gone = await Client.connect(srv.url(), "gone")
    await wait_online(gone, SIM_IDS)
    await gone.close()
    await asyncio.sleep(0.5)
    await ws.subscribe("seestar-002", ["position", "system"])
    await asyncio.sleep(0.3)
    st, body, _ = await acall(srv.port, "GET", "/api/sessions")
    mine = [s for s in body.get("sessions", [])
            if s["transport"] == "websocket"
            and any(x.get("telescope_id") == "seestar-002"
                    for x in s["subscriptions"])]
    check(st == 200 and len(mine) == 1, "GET /api/sessions lists the "
          "WebSocket session with its subscriptions", body)
    s = mine[0]
    keys = {"id", "identity", "role", "peer", "backlog_bytes", "queued_bytes",
            "lag_ms", "conflated", "dropped", "age_s", "subscriptions"}
    check(keys <= set(s) and s["role"] == "admin" and s["age_s"] > 0,
          "each session shows identity, role, peer, backlog, lag, "
          "conflated and dropped counts, age", sorted(set(s)))
    check(any(c["code"] == 1000 for c in body["recent_closes"]),
          "recent close reasons are listed", body["recent_closes"])


# -- token mode: 401/403 and the admin-only endpoints ---------------------------


async def token_mode():
    audit = tempfile.NamedTemporaryFile(prefix="scopehub-audit-",
                                        suffix=".jsonl", delete=False).name
    srv = await Server(tokens_flag(), f"--audit.file={audit}",
                       name="tokens").start()
    port = srv.port
    st, body, _ = await acall(port, "GET", "/api/telescopes")
    check(st == 401 and body["error_code"] == "UNAUTHORIZED",
          "no credentials: 401 UNAUTHORIZED")
    st, body, _ = await acall(port, "GET", "/api/telescopes",
                              headers={"Authorization": "Bearer wrong"})
    check(st == 401, "a wrong token: 401")
    st, body, _ = await acall(port, "GET", "/api/telescopes?token=tok-obs")
    check(st == 200 and len(body) == 3, "?token= works for REST too")
    cmd = "/api/telescopes/seestar-001/commands"
    payload = {"action": "set_gain", "parameters": {"gain": 70}}
    st, body, _ = await acall(port, "POST", cmd, payload, bearer("obs"))
    check(st == 403 and body["error_code"] == "FORBIDDEN",
          "an observer's command is 403 FORBIDDEN", body)
    st, body, _ = await acall(port, "POST", cmd, payload, bearer("op"))
    check(st == 200 and body["success"], "an operator's command is 200")
    st, body, _ = await acall(port, "GET", "/api/sessions", headers=bearer("op"))
    check(st == 403, "/api/sessions is admin only", st)
    st, body, _ = await acall(port, "GET", "/api/sessions",
                              headers=bearer("adm"))
    check(st == 200 and "sessions" in body, "/api/sessions for an admin")
    st, body, _ = await acall(port, "PUT", "/api/features",
                              {"name": "debug_logs", "enabled": True},
                              bearer("op"))
    check(st == 403, "an operator may not change flags", st)
    st, body, _ = await acall(port, "PUT", "/api/features",
                              {"name": "debug_logs", "enabled": True},
                              bearer("adm"))
    check(st == 200 and body["features"]["debug_logs"],
          "an admin changes a flag")
    op = await Client.connect(srv.url() + "?token=tok-op", "op")
    mid = await op.command(None, "set_feature",
                           {"name": "debug_logs", "enabled": False})
    r = await op.response(mid)
    check(not r["success"]
          and r["error_code"] == "FORBIDDEN",
          "set_feature over WebSocket needs the admin role", r)
    await op.close()
    await asyncio.sleep(0.3)
    with open(audit) as f:
        lines = [json.loads(x) for x in f if x.strip()]
    changes = [x for x in lines if x.get("event") == "feature_change"]
    check(len(changes) == 1 and changes[0]["feature"] == "debug_logs"
          and changes[0]["enabled"] is True
          and changes[0]["identity"] == "token:adm"
          and changes[0]["via"] == "http",
          "the flag change is in the audit trail (who, what, how)", changes)
    rest = [x for x in lines if x.get("event") == "command"
            and x.get("identity") == "token:op"
            and x.get("action") == "set_gain"]
    check(len(rest) == 1 and rest[0]["outcome"] == "ok"
          and rest[0]["parameters"] == {"gain": 70},
          "REST commands are audited like WebSocket ones", rest)
    os.unlink(audit)


async def rest_rate_limit():
    srv = await Server("--limits.message-rate=1", "--limits.message-burst=3",
                       '--telescopes.connect=["dead=127.0.0.1:1"]',
                       name="rate").start()
    # The budget is the subject here: the first command must not race the
    # simulator's connection (a 503 TELESCOPE_UNAVAILABLE also spends one).
    probe = await Client.connect(srv.url(), name="probe")
    try:
        await wait_online(probe, ["seestar-001"])
    finally:
        await probe.close()
    cmd = "/api/telescopes/seestar-001/commands"
    got = []
    for i in range(5):
        st, body, _ = await acall(srv.port, "POST", cmd,
                                  {"action": "get_image_enhancement"})
        got.append((st, body.get("error_code") if isinstance(body, dict)
                    else body))
    check([g[0] for g in got] == [200, 200, 200, 429, 429]
          and got[3][1] == "RATE_LIMITED",
          "REST commands share one budget per client: burst 3, then 429 "
          "RATE_LIMITED", got)
    st, body, _ = await acall(srv.port, "POST", cmd,
                              {"action": "get_image_enhancement"},
                              {"Authorization": "Bearer x"})
    check(st == 429, "the budget is per identity, not per connection", st)
    await asyncio.sleep(1.1)
    st, _, _ = await acall(srv.port, "POST", cmd,
                           {"action": "get_image_enhancement"})
    check(st == 200, "the budget refills at the message rate", st)
    await asyncio.sleep(1.1)
    st, body, _ = await acall(srv.port, "POST", "/api/telescopes/dead/commands",
                              {"action": "get_status"})
    check(st == 503 and body["error_code"] == "TELESCOPE_UNAVAILABLE",
          "a command for a known telescope that is offline is 503 "
          "TELESCOPE_UNAVAILABLE", (st, body))
    srv.stop()


async def command_timeout(srv):
    _, body, _ = await acall(srv.port, "GET", "/api/telescopes/seestar-003")
    ctl = SimControl(types.SimpleNamespace(port=body["telescope"]["port"]))
    await ctl.set("drop_replies=100")
    st, body, _ = await acall(srv.port, "POST",
                              "/api/telescopes/seestar-003/commands",
                              {"action": "set_gain", "parameters": {"gain": 9},
                               "timeout_ms": 1000})
    check(st == 504 and body["error_code"] == "COMMAND_TIMEOUT",
          "a device that never answers: 504 COMMAND_TIMEOUT", (st, body))
    await ctl.set("")


async def metrics_move(srv):
    _, text, _ = await acall(srv.port, "GET", "/metrics")
    vals = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            vals[k] = float(v)
    check(vals.get('scopehub_sessions_total{transport="http"}', 0) >= 10
          and vals.get('scopehub_sessions_total{transport="sse"}', 0) >= 2
          and vals.get('scopehub_sessions_total{transport="websocket"}', 0) >= 1,
          "sessions_total counts each transport")
    check(vals.get('scopehub_messages_out_total{type="status_update"}', 0) > 0
          and vals.get('scopehub_messages_out_total{type="command_response"}',
                       0) > 0
          and vals.get("scopehub_bytes_out_total", 0) > 0
          and vals.get("scopehub_bytes_in_total", 0) > 0,
          "messages out by type and bytes in/out move")


async def main():
    await open_mode()
    note("rate limit")
    await rest_rate_limit()
    note("token mode")
    await token_mode()


if __name__ == "__main__":
    run(main, "http_api")
