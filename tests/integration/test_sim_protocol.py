#!/usr/bin/env python3
"""seestar-sim over real sockets, as a third-party Seestar client sees it.

Starts $SCOPEHUB_BIN_DIR/seestar-sim on 127.0.0.1 with ephemeral ports,
speaks the device's JSON-RPC (TCP) and discovery (UDP) protocols with the
Python standard library only, prints one line per passed check and exits
non-zero on the first failure. The simulator is always stopped.
"""

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time

HOST = "127.0.0.1"
STEP_TIMEOUT = 10.0  # seconds for any one expected reply or event


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)
    print("pass:", what, flush=True)


class Client:
    """One TCP connection: requests by id, events collected on the side."""

    def __init__(self, port):
        self.sock = socket.create_connection((HOST, port), timeout=5)
        self.buf = b""
        self.lines = []  # every line received, in order (raw text)
        self.events = []  # parsed events
        self.replies = {}  # id -> parsed reply
        self.next_id = 100

    def send(self, obj):
        self.sock.sendall((json.dumps(obj) + "\r\n").encode())

    def pump(self, timeout):
        """Reads what arrives within `timeout` seconds."""
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                return
            data = self.sock.recv(65536)
            if not data:
                raise Failure("simulator closed the connection")
            self.buf += data
            while b"\r\n" in self.buf:
                line, self.buf = self.buf.split(b"\r\n", 1)
                text = line.decode("utf-8", "replace")
                self.lines.append(text)
                try:
                    msg = json.loads(text)
                except ValueError:
                    continue
                if "Event" in msg:
                    self.events.append(msg)
                elif "id" in msg:
                    self.replies[msg["id"]] = msg
            return

    def wait(self, pred, timeout=STEP_TIMEOUT):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            found = pred()
            if found:
                return found
            self.pump(min(0.2, max(0.0, end - time.monotonic())))
        return pred()

    def request(self, method, params=None, timeout=STEP_TIMEOUT):
        self.next_id += 1
        rid = self.next_id
        msg = {"id": rid, "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)
        reply = self.wait(lambda: self.replies.get(rid), timeout)
        return reply, rid

    def event(self, name, state=None, since=0, timeout=STEP_TIMEOUT):
        def find():
            for e in self.events[since:]:
                if e["Event"] == name and (state is None
                                           or e.get("state") == state):
                    return e
            return None
        return self.wait(find, timeout)

    def close(self):
        self.sock.close()


def start_sim(bin_dir):
    exe = os.path.join(bin_dir, "seestar-sim")
    proc = subprocess.Popen(
        [exe, "--port=0", "--discovery-port=0", "--time-scale=20",
         "--seed=42", "--log-level=warn", "--name=it-sim",
         "--serial=SIMIT0001"],
        stdout=subprocess.PIPE, stderr=sys.stderr)
    ports = {}
    end = time.monotonic() + 10
    buf = b""
    while len(ports) < 2 and time.monotonic() < end:
        r, _, _ = select.select([proc.stdout], [], [], 0.5)
        if not r:
            if proc.poll() is not None:
                break
            continue
        chunk = os.read(proc.stdout.fileno(), 4096)
        if not chunk:
            break
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            key, _, val = line.decode().strip().partition("=")
            ports[key] = int(val)
    return proc, ports


def stop_sim(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
            return None
    return proc.returncode


def run(port, dport):
    a = Client(port)

    reply, rid = a.request("test_connection")
    check(reply and reply["result"] == "server connected!"
          and reply["code"] == 0 and reply["jsonrpc"] == "2.0"
          and isinstance(reply["Timestamp"], str), "test_connection")

    reply, _ = a.request("get_device_state")
    res = reply["result"]
    check(res["device"]["firmware_ver_string"] == "5.82"
          and res["device"]["sn"] == "SIMIT0001"
          and res["focuser"]["max_step"] == 2600
          and "close" in res["mount"] and "pi_status" in res,
          "get_device_state covers device, focuser, mount, pi_status")

    reply, _ = a.request("get_device_state", {"keys": ["mount"]})
    check(list(reply["result"].keys()) == ["mount"],
          "get_device_state with keys")

    reply, _ = a.request("scope_get_equ_coord")
    check("ra" in reply["result"] and "dec" in reply["result"],
          "scope_get_equ_coord")

    reply, _ = a.request("scope_get_horiz_coord")
    check(isinstance(reply["result"], list) and len(reply["result"]) == 2,
          "scope_get_horiz_coord is [alt, az]")

    reply, _ = a.request("no_such_method")
    check(reply["code"] == 103 and reply["error"] == "method not found"
          and "result" not in reply, "unknown method -> 103")

    # A line nested 100,000 deep is ignored, not parsed recursively (it
    # used to be able to overflow the stack); the connection keeps working.
    a.sock.sendall(b"[" * 100000 + b"\r\n")
    reply, _ = a.request("test_connection")
    check(reply and reply["code"] == 0,
          "a line nested 100000 deep is ignored; the next request works")

    reply, _ = a.request("move_focuser", [1, 2])
    check(reply["code"] == 107, "array for an object param -> 107")
    reply, _ = a.request("scope_goto", [["x"], 1])
    check(reply["code"] == 108, "non-number coordinates -> 108")
    reply, _ = a.request("test_connection", "verify")
    check(reply["code"] == 0, "params \"verify\" is accepted")

    since = len(a.events)
    reply, _ = a.request("scope_goto", [6.0, 80.0])
    check(reply["code"] == 0 and reply["result"] == 0, "scope_goto -> 0")
    done = a.event("ScopeGoto", "complete", since)
    working = [e for e in a.events[since:]
               if e["Event"] == "ScopeGoto" and e.get("state") == "working"]
    check(done is not None and len(working) >= 2
          and all("cur_ra_dec" in e and "dist_deg" in e for e in working),
          "goto sends progress events then ScopeGoto complete")
    reply, _ = a.request("scope_get_equ_coord")
    check(abs(reply["result"]["ra"] - 6.0) < 1e-3
          and abs(reply["result"]["dec"] - 80.0) < 1e-3,
          "the mount is on target after the goto")

    b = Client(port)
    b.request("test_connection")
    since_a, since_b = len(a.events), len(b.events)
    reply, rid = a.request("move_focuser", {"step": 1700, "ret_step": True})
    check(reply["code"] == 0 and "step" in reply["result"],
          "move_focuser -> {step}")
    ev = a.event("FocuserMove", "complete", since_a)
    check(ev is not None and ev["position"] == 1700,
          "FocuserMove complete with the new position")
    evb = b.event("FocuserMove", "complete", since_b)
    b.pump(0.3)
    check(evb is not None and rid not in b.replies,
          "second client sees the events but not the other's reply")
    b.close()

    since = len(a.events)
    reply, _ = a.request("scope_park")
    check(reply["code"] == 0, "scope_park -> 0")
    ev = a.event("ScopeHome", "complete", since)
    check(ev is not None and ev["close"] is True, "ScopeHome complete, close")

    # UDP discovery on the loopback address.
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(5)
    u.sendto(json.dumps({"id": 201, "method": "scan_iscope",
                         "name": "it", "ip": HOST}).encode() + b"\r\n",
             (HOST, dport))
    data, src = u.recvfrom(4096)
    u.close()
    disc = json.loads(data.decode())
    check(src[0] == HOST and disc["id"] == 201
          and disc["result"]["sn"] == "SIMIT0001"
          and disc["result"]["port"] == port
          and disc["result"]["product_model"] == "Seestar S50",
          "UDP scan_iscope answers with sn and TCP port")

    # Faults at run time.
    reply, _ = a.request("sim_set_faults", {"spec": "drop_replies=100"})
    check(reply["code"] == 0 and reply["result"]["faults"]
          == "drop_replies=100", "sim_set_faults accepted")
    reply, _ = a.request("test_connection", timeout=1.0)
    check(reply is None, "drop_replies=100 -> no reply")
    reply, _ = a.request("sim_get_faults")
    check(reply["result"]["faults"] == "drop_replies=100", "sim_get_faults")

    reply, _ = a.request("sim_set_faults", {"spec": "garbage_every=1"})
    before = len(a.lines)
    reply, _ = a.request("test_connection")
    a.pump(0.3)

    def is_json(text):
        try:
            json.loads(text)
            return True
        except ValueError:
            return False
    check(reply is not None and any(not is_json(l) for l in a.lines[before:]),
          "garbage_every=1 -> a non-JSON line arrives")

    reply, _ = a.request("sim_set_faults", "bogus=1")
    check(reply["code"] != 0 and "bogus" in reply["error"],
          "a bad fault spec is refused")
    reply, _ = a.request("sim_set_faults", {"spec": "none"})
    reply, _ = a.request("test_connection")
    check(reply is not None and reply["code"] == 0, "faults cleared")
    a.close()


def main():
    bin_dir = os.environ.get("SCOPEHUB_BIN_DIR")
    if not bin_dir:
        print("SCOPEHUB_BIN_DIR is not set", file=sys.stderr)
        return 2
    signal.alarm(90)  # hard stop for the whole test
    proc, ports = start_sim(bin_dir)
    try:
        if "port" not in ports or "discovery_port" not in ports:
            raise Failure("simulator did not print its ports: %r" % ports)
        print("pass: sim started on port", ports["port"], flush=True)
        run(ports["port"], ports["discovery_port"])
    except (Failure, OSError, KeyError, TypeError) as e:
        print("FAIL:", repr(e), flush=True)
        stop_sim(proc)
        return 1
    rc = stop_sim(proc)
    if rc != 0:
        print("FAIL: simulator exit code", rc)
        return 1
    print("pass: simulator stopped with exit code 0")
    return 0


if __name__ == "__main__":
    sys.exit(main())
