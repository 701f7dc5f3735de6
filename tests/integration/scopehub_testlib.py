"""Shared helpers of the end-to-end tests of the real `scopehub` binary.

Every test_server_*.py starts `$SCOPEHUB_BIN_DIR/scopehub` (and, where
needed, `seestar-sim`) on 127.0.0.1 with --port=0, talks to it over
WebSocket with Debian's python3-websockets (10.4, asyncio API) and plain
sockets, prints one line per passed check and exits non-zero on the first
failed one. The processes it started are always stopped (see `run`).

Nothing here connects anywhere but 127.0.0.1.
"""

import asyncio
import base64
import http.client
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback

import websockets

HOST = "127.0.0.1"
STEP = 10.0  # default bound of any one expected frame, in seconds
SIM_IDS = ["seestar-001", "seestar-002", "seestar-003"]
CATEGORIES = ["position", "focus", "imaging", "system"]

_procs = []  # every process started here, stopped by stop_all()
_started = time.monotonic()


class Failure(Exception):
    pass


def check(cond, what, detail=""):
    """Passes (one printed line) or raises Failure with `what` (+detail)."""
    if not cond:
        raise Failure(what + (": " + detail if detail else ""))
    print(f"pass: {what}", flush=True)


def note(text):
    print(f"  .. {text}", flush=True)


def bin_dir():
    d = os.environ.get("SCOPEHUB_BIN_DIR")
    if not d:
        raise Failure("SCOPEHUB_BIN_DIR is not set (folder of scopehub and "
                      "seestar-sim)")
    return d


def free_port():
    """A port nobody listens on right now (bind 127.0.0.1:0, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def brief(frame, limit=300):
    text = json.dumps(frame, sort_keys=True) if not isinstance(
        frame, (bytes, str)) else repr(frame)
    return text if len(text) <= limit else text[:limit] + "..."


# -- processes -----------------------------------------------------------------


class Process:
    """A child with stdout/stderr in temp files; `start` waits for the line
    matching `ready` on stdout and returns its first group."""

    def __init__(self, name, argv):
        self.name = name
        self.argv = argv
        self.proc = None
        self.out = tempfile.NamedTemporaryFile(
            prefix=f"{name}-", suffix=".out", delete=False)
        self.err = tempfile.NamedTemporaryFile(
            prefix=f"{name}-", suffix=".err", delete=False)

    async def start(self, ready, timeout=30.0):
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=self.out, stderr=self.err)
        _procs.append(self)
        end = time.monotonic() + timeout
        pattern = re.compile(ready)
        while time.monotonic() < end:
            with open(self.out.name, "r", errors="replace") as f:
                m = pattern.search(f.read())
            if m:
                return m.group(1)
            if self.proc.poll() is not None:
                raise Failure(f"{self.name} exited with {self.proc.returncode} "
                              f"before it was ready\n{self.log_tail()}")
            await asyncio.sleep(0.05)
        raise Failure(f"{self.name} printed no /{ready}/ within {timeout} s\n"
                      f"{self.log_tail()}")

    def send_signal(self, sig):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)

    async def wait_exit(self, timeout):
        """Exit code, or None when still running after `timeout`."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            rc = self.proc.poll()
            if rc is not None:
                return rc
            await asyncio.sleep(0.01)
        return self.proc.poll()

    def stop(self):
        p = self.proc
        if p is None or p.poll() is not None:
            return
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=8)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)

    def log_tail(self, lines=40):
        out = []
        for path, label in ((self.out.name, "stdout"), (self.err.name, "stderr")):
            try:
                with open(path, "r", errors="replace") as f:
                    tail = f.read().splitlines()[-lines:]
            except OSError:
                continue
            if tail:
                out.append(f"--- {self.name} {label} (last {len(tail)} lines)")
                out.extend(tail)
        return "\n".join(out)

    def cleanup_files(self):
        for f in (self.out, self.err):
            try:
                f.close()
                os.unlink(f.name)
            except OSError:
                pass


class Server(Process):
    """The scopehub binary on 127.0.0.1, --port=0 plus `flags`."""

    def __init__(self, *flags, name="scopehub"):
        super().__init__(name, [os.path.join(bin_dir(), "scopehub"), "--port=0",
                                *flags])
        self.port = None

    async def start(self, timeout=30.0):
        self.port = int(await super().start(
            r"scopehub listening on 127\.0\.0\.1:(\d+)", timeout))
        return self

    def url(self, path="/api/ws"):
        return f"ws://{HOST}:{self.port}{path}"

    def get(self, path):
        return http_get(self.port, path)


class Sim(Process):
    """A standalone seestar-sim on 127.0.0.1 (port 0 = pick one)."""

    def __init__(self, port=0, *flags, name="seestar-sim"):
        super().__init__(name, [os.path.join(bin_dir(), "seestar-sim"),
                                f"--port={port}", *flags])
        self.port = None

    async def start(self, timeout=15.0):
        self.port = int(await super().start(r"(?m)^port=(\d+)$", timeout))
        return self


def stop_all():
    for p in reversed(_procs):
        try:
            p.stop()
        except Exception as e:  # keep stopping the others
            print(f"  .. could not stop {p.name}: {e}", flush=True)
    _procs.clear()


def http_get(port, path, timeout=5.0):
    """(status, parsed JSON body or raw text, headers) of GET path."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        res = conn.getresponse()
        body = res.read().decode("utf-8", "replace")
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = body
        return res.status, parsed, dict(res.getheaders())
    finally:
        conn.close()


# -- WebSocket client ------------------------------------------------------------


class Client:
    """One websockets connection; a reader task collects every frame
    (parsed JSON; binary frames as {"_binary": bytes}) into `frames`."""

    counter = 0

    def __init__(self, ws, name):
        self.ws = ws
        self.name = name
        self.frames = []
        self.closed = False
        self._changed = asyncio.Event()
        self._task = asyncio.ensure_future(self._read())
        self._ids = 0

    @classmethod
    async def connect(cls, url, name=None, **kw):
        Client.counter += 1
        kw.setdefault("open_timeout", 10)
        kw.setdefault("close_timeout", 5)
        kw.setdefault("max_size", None)
        ws = await websockets.connect(url, **kw)
        return cls(ws, name or f"client{Client.counter}")

    async def _read(self):
        try:
            async for msg in self.ws:
                if isinstance(msg, bytes):
                    self.frames.append({"_binary": msg})
                else:
                    try:
                        self.frames.append(json.loads(msg))
                    except ValueError:
                        self.frames.append({"_text": msg})
                self._changed.set()
        except websockets.ConnectionClosed:
            pass
        except Exception as e:  # surfaced through `closed`
            self.frames.append({"_reader_error": repr(e)})
        finally:
            self.closed = True
            self._changed.set()

    # -- sending

    def next_id(self, prefix="c"):
        self._ids += 1
        return f"{self.name}-{prefix}{self._ids}"

    async def send(self, obj):
        await self.ws.send(json.dumps(obj))

    async def send_raw(self, data):
        await self.ws.send(data)

    async def subscribe(self, telescope_id=None, types=None, resume_from=None,
                        mid=None, unsubscribe=False):
        mid = mid or self.next_id("sub")
        payload = {}
        if types is not None:
            payload["subscription_types"] = types
        if resume_from is not None:
            payload["resume_from"] = resume_from
        msg = {"id": mid, "type": "unsubscribe" if unsubscribe else "subscribe",
               "payload": payload}
        if telescope_id is not None:
            msg["telescope_id"] = telescope_id
        await self.send(msg)
        return mid

    async def command(self, telescope_id, action, parameters=None, mid=None,
                      **extra):
        mid = mid or self.next_id()
        payload = {"action": action}
        if parameters is not None:
            payload["parameters"] = parameters
        payload.update(extra)
        msg = {"id": mid, "type": "control_command", "payload": payload}
        if telescope_id is not None:
            msg["telescope_id"] = telescope_id
        await self.send(msg)
        return mid

    async def close(self, code=1000):
        try:
            await asyncio.wait_for(self.ws.close(code), 10)
        except Exception:
            pass
        await asyncio.wait([self._task], timeout=5)

    # -- waiting

    @property
    def close_code(self):
        return self.ws.close_code

    @property
    def close_reason(self):
        return self.ws.close_reason

    def matching(self, pred, start=0):
        return [f for f in self.frames[start:] if pred(f)]

    def mark(self):
        """Index of the next frame to arrive (for `start=`)."""
        return len(self.frames)

    def _explain(self, what, start):
        recent = self.frames[start:][-12:]
        lines = [f"{self.name}: no frame for '{what}' "
                 f"(closed={self.closed} code={self.ws.close_code}); "
                 f"last {len(recent)} of {len(self.frames) - start} frames:"]
        lines += ["    " + brief(f) for f in recent]
        return "\n".join(lines)

    async def expect(self, pred, timeout=STEP, what="frame", start=0):
        """First frame at index >= start matching pred, waiting at most
        `timeout` s; returns (index, frame) or raises Failure."""
        end = time.monotonic() + timeout
        pos = start
        while True:
            while pos < len(self.frames):
                if pred(self.frames[pos]):
                    return pos, self.frames[pos]
                pos += 1
            left = end - time.monotonic()
            if left <= 0 or self.closed:
                raise Failure(self._explain(what, start))
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except asyncio.TimeoutError:
                pass

    async def expect_count(self, pred, count, timeout=STEP, what="frames",
                           start=0):
        """Waits until `count` frames after start match; returns them."""
        end = time.monotonic() + timeout
        while True:
            found = self.matching(pred, start)
            if len(found) >= count:
                return found
            left = end - time.monotonic()
            if left <= 0 or self.closed:
                raise Failure(self._explain(f"{count} x {what} (got "
                                            f"{len(found)})", start))
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except asyncio.TimeoutError:
                pass

    async def wait_closed(self, timeout=STEP):
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except asyncio.TimeoutError:
            pass
        return self.closed

    async def response(self, command_id, timeout=STEP):
        """The command_response for `command_id` (payload)."""
        _, f = await self.expect(is_response(command_id), timeout,
                                 f"command_response to {command_id}")
        return f["payload"]

    async def error(self, ref_id, timeout=STEP, start=0):
        _, f = await self.expect(
            lambda f: f.get("type") == "error"
            and f["payload"].get("ref_id") == ref_id, timeout,
            f"error with ref_id {ref_id!r}", start)
        return f["payload"]


# -- predicates ----------------------------------------------------------------


def is_type(t):
    return lambda f: f.get("type") == t


def is_response(command_id):
    return lambda f: (f.get("type") == "command_response"
                      and f["payload"].get("command_id") == command_id)


def is_progress(command_id):
    return lambda f: (f.get("type") == "command_progress"
                      and f["payload"].get("command_id") == command_id)


def is_status(telescope_id=None, category=None, full=None):
    def pred(f):
        if f.get("type") != "status_update":
            return False
        p = f["payload"]
        return ((telescope_id is None or f.get("telescope_id") == telescope_id)
                and (category is None or p.get("category") == category)
                and (full is None or p.get("full_update") == full))
    return pred


def is_discovered(telescope_id=None, state=None):
    return lambda f: (f.get("type") == "telescope_discovered"
                      and (telescope_id is None
                           or f.get("telescope_id") == telescope_id)
                      and (state is None
                           or f["payload"]["telescope"]["state"] == state))


async def wait_online(client, ids, timeout=20.0):
    """Waits until the latest telescope_discovered of every id says online."""
    end = time.monotonic() + timeout
    while True:
        latest = {}
        for f in client.frames:
            if f.get("type") == "telescope_discovered":
                latest[f["telescope_id"]] = f["payload"]["telescope"]["state"]
            elif f.get("type") == "telescope_lost":
                latest[f["telescope_id"]] = "lost"
        if all(latest.get(i) == "online" for i in ids):
            return
        if time.monotonic() > end:
            raise Failure(f"telescopes not online within {timeout} s: {latest}")
        await asyncio.sleep(0.05)


async def server_ready(*flags, ids=SIM_IDS, name="scopehub"):
    """Starts a server and waits until every telescope in `ids` is online
    (seen by a throw-away client). Returns the Server."""
    srv = await Server(*flags, name=name).start()
    if ids:
        c = await Client.connect(srv.url(), name="probe")
        try:
            await wait_online(c, ids)
        finally:
            await c.close()
    return srv


def seq_problems(frames):
    """Checks status_update frames of ONE topic: consecutive seq, the
    first may be anything. Returns a description of the first problem."""
    prev = None
    for f in frames:
        s = f["payload"]["seq"]
        if prev is not None and s != prev + 1:
            return f"seq {prev} followed by {s}"
        prev = s
    return ""


def topics_of(frames):
    """status_update frames grouped by (telescope_id, category), in order."""
    out = {}
    for f in frames:
        if f.get("type") == "status_update":
            out.setdefault((f["telescope_id"], f["payload"]["category"]),
                           []).append(f)
    return out


# -- sky -------------------------------------------------------------------------


def lst_hours(longitude=10.0):
    """Local sidereal time at the simulator's default site (lon 10 E)."""
    jd = time.time() / 86400.0 + 2440587.5
    gmst = 18.697374558 + 24.06570982441908 * (jd - 2451545.0)
    return (gmst + longitude / 15.0) % 24.0


def sky_target(hour_angle, dec):
    """RA/Dec well above the horizon at the default site (lat 50 N) for
    |hour_angle| <= 3 h and dec in [20, 80]."""
    return {"ra": round((lst_hours() - hour_angle) % 24.0, 4), "dec": dec}


# -- raw WebSocket (hand-made handshake) ------------------------------------------


class RawWebSocket:
    """A WebSocket client on asyncio streams that never answers anything:
    it only records the frames the server sends (server frames are not
    masked)."""

    def __init__(self, reader, writer):
        self.reader = reader
        self.writer = writer
        self.frames = []  # (opcode, payload bytes)
        self.close_code = None
        self.close_reason = None

    @classmethod
    async def connect(cls, port, path="/api/ws", timeout=STEP):
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(HOST, port), timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write((f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
                      "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Key: {key}\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status + b" ":
            raise Failure(f"raw handshake refused: {status!r}")
        return cls(reader, writer)

    async def read_frame(self):
        b0, b1 = await self.reader.readexactly(2)
        opcode = b0 & 0x0F
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", await self.reader.readexactly(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", await self.reader.readexactly(8))[0]
        if b1 & 0x80:
            mask = await self.reader.readexactly(4)
            data = bytes(x ^ mask[i % 4] for i, x in
                         enumerate(await self.reader.readexactly(n)))
        else:
            data = await self.reader.readexactly(n)
        return opcode, data

    async def read_until_close(self, timeout):
        """Reads frames until a close frame (parsed into close_code and
        close_reason), EOF or `timeout`; returns True on a close frame."""
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return False
            try:
                opcode, data = await asyncio.wait_for(self.read_frame(), left)
            except (asyncio.TimeoutError, asyncio.IncompleteReadError,
                    ConnectionError):
                return False
            self.frames.append((opcode, data))
            if opcode == 0x8:
                if len(data) >= 2:
                    self.close_code = struct.unpack("!H", data[:2])[0]
                    self.close_reason = data[2:].decode("utf-8", "replace")
                return True

    def close(self):
        try:
            self.writer.close()
        except Exception:
            pass


# -- running a test file -----------------------------------------------------------


def run(main, name):
    """Runs `main()` (a coroutine function) under a total time bound,
    stops every process in any case, exits 0 on success and 1 on the
    first failure (with the tail of the server logs)."""
    rc = 1
    try:
        asyncio.run(asyncio.wait_for(main(), 150))
        print(f"ok: {name}: every check passed in "
              f"{time.monotonic() - _started:.1f} s", flush=True)
        rc = 0
    except Failure as e:
        print(f"FAIL: {name}: {e}", flush=True)
        for p in _procs:
            print(p.log_tail(), flush=True)
    except BaseException:  # includes the total timeout
        print(f"FAIL: {name}: unexpected exception", flush=True)
        traceback.print_exc()
        for p in _procs:
            print(p.log_tail(), flush=True)
    finally:
        procs = list(_procs)
        stop_all()
        for p in procs:
            p.cleanup_files()
    sys.exit(rc)


# -- additions: raw frames, seq streams, fault plans ----------------------------------


def encode_frame(opcode, payload=b"", fin=True, mask=True, rsv=0,
                 length=None):
    """One WebSocket frame as bytes. `rsv` is the 3 reserved bits as a
    number 0..7 (4 = RSV1, 2 = RSV2, 1 = RSV3); `mask` False sends the
    payload in the clear (clients must mask: RFC 6455 5.1); `length`
    overrides the length field (for lying headers)."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0x0F)
    head = bytes([b0])
    mbit = 0x80 if mask else 0
    if n <= 125:
        head += bytes([mbit | n])
    elif n <= 0xFFFF:
        head += bytes([mbit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(x ^ key[i % 4] for i, x in enumerate(payload))


def close_payload(code=None, reason=b""):
    """The payload of a close frame: empty, or a 2-byte code + reason."""
    if code is None:
        return b""
    if isinstance(reason, str):
        reason = reason.encode("utf-8")
    return struct.pack("!H", code) + reason


async def raw_send(raw, data):
    """Writes bytes on a RawWebSocket (or anything with a `writer`)."""
    raw.writer.write(data)
    await raw.writer.drain()


async def raw_wait_eof(raw, timeout):
    """True when the peer closes the TCP connection (EOF or reset) within
    `timeout` s; every byte read meanwhile is dropped."""
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return False
        try:
            data = await asyncio.wait_for(raw.reader.read(65536), left)
        except asyncio.TimeoutError:
            return False
        except ConnectionError:
            return True
        if not data:
            return True


def stream_problems(frames):
    """Checks the status_update frames of ONE topic (telescope, category)
    as a subscriber saw them: within an epoch each delta's seq is the one
    before + 1 (+ `conflated` when deltas were merged); a full snapshot
    (full_update true) may jump forward, never back, and is the only frame
    that may open a new epoch. Returns the first problem or ""."""
    epoch = None
    prev = None
    for i, f in enumerate(frames):
        p = f["payload"]
        s = p["seq"]
        e = p.get("epoch", epoch)
        full = p.get("full_update") is True
        if full:
            if prev is not None and e == epoch and s < prev:
                return (f"frame {i}: full snapshot seq {s} after {prev} in "
                        f"epoch {e} (went back)")
        elif prev is None:
            return f"frame {i}: delta seq {s} before any snapshot"
        elif e != epoch:
            return (f"frame {i}: delta seq {s} opens epoch {e} (was {epoch}) "
                    f"without a full snapshot")
        else:
            want = prev + max(1, int(p.get("conflated") or 1))
            if s != want:
                return (f"frame {i}: seq {prev} followed by {s} without a "
                        f"full snapshot (epoch {e})")
        epoch, prev = e, s
    return ""


class SimControl:
    """Sets a standalone seestar-sim's fault plan over its own TCP port
    (sim_set_faults / sim_get_faults, never faulted themselves). One short
    connection per call: fault plans like disconnect_random may close
    ours. `clear()` uses SIGUSR1, the only way out of stall=1 / refuse=1."""

    def __init__(self, sim):
        self.sim = sim
        self.ids = 0

    async def call(self, method, params=None, timeout=5.0):
        self.ids += 1
        rid = 900000 + self.ids
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(HOST, self.sim.port), timeout)
        try:
            req = {"id": rid, "method": method}
            if params is not None:
                req["params"] = params
            writer.write((json.dumps(req) + "\r\n").encode())
            await writer.drain()
            end = time.monotonic() + timeout
            while True:
                left = end - time.monotonic()
                if left <= 0:
                    raise Failure(f"{self.sim.name}: no answer to {method}")
                line = await asyncio.wait_for(reader.readline(), left)
                if not line:
                    raise Failure(f"{self.sim.name}: closed before answering "
                                  f"{method}")
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue  # garbage fault lines, truncated events
                if isinstance(msg, dict) and msg.get("id") == rid:
                    return msg
        finally:
            writer.close()

    async def set(self, spec):
        """Sets the plan; returns the canonical spec the simulator took."""
        msg = await self.call("sim_set_faults", {"spec": spec})
        if msg.get("code") != 0:
            raise Failure(f"sim_set_faults {spec!r} refused: {msg}")
        return msg["result"]["faults"]

    async def get(self):
        return (await self.call("sim_get_faults"))["result"]["faults"]

    async def clear(self, timeout=10.0):
        """SIGUSR1, then waits until sim_get_faults says none."""
        self.sim.send_signal(signal.SIGUSR1)
        end = time.monotonic() + timeout
        while True:
            try:
                msg = await self.call("sim_get_faults", timeout=1.5)
                if msg["result"]["faults"] == "none":
                    return
            except (Failure, OSError, asyncio.TimeoutError):
                pass
            if time.monotonic() > end:
                raise Failure(f"{self.sim.name}: faults not cleared by "
                              f"SIGUSR1 within {timeout} s")
            await asyncio.sleep(0.1)


def sanitizer_report(proc, lines=6):
    """The start of an AddressSanitizer / UBSan report in a process's
    stderr, or "" when there is none."""
    try:
        with open(proc.err.name, "r", errors="replace") as f:
            text = f.read().splitlines()
    except OSError:
        return ""
    for i, line in enumerate(text):
        if "ERROR: AddressSanitizer" in line or "runtime error:" in line \
                or "ERROR: LeakSanitizer" in line:
            return "\n".join(text[i:i + lines])
    return ""


def still_healthy(proc):
    """check()s that `proc` still runs and reported no sanitizer error."""
    rc = proc.proc.poll() if proc.proc else None
    check(rc is None, f"{proc.name} is still running", f"exit code {rc}")
    report = sanitizer_report(proc)
    check(not report, f"{proc.name}: no sanitizer report", report)


def expect_unless_known(known, case, cond, what, detail=""):
    """check(), unless `case` is in `known` (case -> one-line description
    of a known bug): then only a note saying whether it still fails."""
    if case in known:
        state = "now passes" if cond else "still fails"
        note(f"KNOWN BUG '{case}' ({known[case]}): '{what}' not "
             f"asserted, {state}" + (f" [{detail}]" if detail and not cond
                                     else ""))
        return
    check(cond, what, detail)
