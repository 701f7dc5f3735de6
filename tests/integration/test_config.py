"""The configuration surface of the scopehub binary: the shipped config
file parses and starts a server, bad values are refused with a message
and exit code 2, --long-help lists every group. Only 127.0.0.1."""

import os
import subprocess
import sys
import time

BIN = os.path.join(os.environ["SCOPEHUB_BIN_DIR"], "scopehub")
CONF = os.path.join(os.environ["SCOPEHUB_SOURCE_DIR"], "config",
                    "scopehub.conf")


def check(cond, what, detail=""):
    if not cond:
        print(f"FAIL: {what}: {detail}", flush=True)
        sys.exit(1)
    print(f"pass: {what}", flush=True)


def run(args, timeout=20):
    return subprocess.run([BIN] + args, capture_output=True, text=True,
                          timeout=timeout)


def main():
    # The shipped file is complete and valid: the server starts with it.
    proc = subprocess.Popen([BIN, f"--config-file={CONF}", "--port=0",
                             "--sim.count=1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        line = proc.stdout.readline()
        check(line.startswith("scopehub listening on 127.0.0.1:"),
              "config/scopehub.conf starts the server", line)
    finally:
        proc.terminate()
        rc = proc.wait(10)
    check(rc == 0, "SIGTERM stops it with exit code 0", str(rc))

    farm_examples()

    r = run(["--long-help"])
    for group in ("server.", "telescopes.", "sim.", "log.", "farm."):
        check(group in r.stdout + r.stderr, f"--long-help lists {group}*")
    check(r.returncode == 0, "--long-help exits 0", str(r.returncode))

    bad = [
        (["--server.heartbeat-interval=2s", "--server.stale-after=1s"],
         "stale-after must be longer"),
        (["--server.open-role=\"root\""], "open-role must be"),
        (["--server.max-message-size=10"], "max-message-size must be"),
        (["--sim.time-scale=0"], "time-scale must be"),
        (["--telescopes.connect=[\"nocolon\"]"], "telescopes.connect"),
        (["--log.level=\"loud\""], "log.level"),
        (["--farm.role=\"hub\""], "farm.role must be"),
        (["--farm.role=\"edge\"", "--farm.node=\"e\""],
         "farm.secret (or farm.secret-file) is required"),
        (["--farm.role=\"edge\"", "--farm.secret=\"s\""],
         "farm.node is required"),
        (["--farm.role=\"gateway\"", "--farm.secret=\"s\""],
         "a gateway needs at least one edge"),
        (["--farm.role=\"gateway\"", "--farm.secret=\"s\"",
          "--farm.edges=[\"nohost\"]"], "farm.edges entries look like"),
        (["--sim.id-prefix=\"bad id \""], "sim.id-prefix"),
    ]
    for args, text in bad:
        r = run(args + ["--port=0"])
        check(r.returncode == 2 and text in r.stderr,
              f"{args[0]} is refused: {text}", f"rc={r.returncode} "
              f"err={r.stderr.strip()[:200]}")
    r = run(["--no-such-option=1"])
    check(r.returncode != 0, "an unknown option is refused", str(r.returncode))
    missing = run(["--config-file=/nonexistent/scopehub.conf"])
    check(missing.returncode != 0, "a missing --config-file is refused")


def farm_examples():
    """config/farm-edge.conf and farm-gateway.conf start an edge and a
    gateway that links to it (ports made free for the test)."""
    import json
    import urllib.request
    conf = os.path.dirname(CONF)
    edge = subprocess.Popen([BIN, f"--config-file={conf}/farm-edge.conf",
                             "--port=0", "--farm.port=0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    gw = None
    try:
        line = edge.stdout.readline()
        check(line.startswith("scopehub farm link on 127.0.0.1:"),
              "config/farm-edge.conf starts an edge", line)
        farm_port = int(line.strip().rsplit(":", 1)[1])
        gw = subprocess.Popen([BIN, f"--config-file={conf}/farm-gateway.conf",
                               "--port=0",
                               f"--farm.edges=[\"127.0.0.1:{farm_port}\"]"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
        line = gw.stdout.readline()
        check(line.startswith("scopehub listening on 127.0.0.1:"),
              "config/farm-gateway.conf starts a gateway", line)
        port = int(line.strip().rsplit(":", 1)[1])
        ids = []
        end = time.monotonic() + 15
        while time.monotonic() < end and len(ids) < 2:
            with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/api/telescopes", timeout=5) as r:
                ids = [t["id"] for t in json.load(r)
                       if t["node"] == "edge-a" and t["state"] == "online"]
            time.sleep(0.1)
        check(sorted(ids) == ["a-seestar-001", "a-seestar-002"],
              "the gateway shows the edge's two telescopes", str(ids))
    finally:
        for p in (gw, edge):
            if p:
                p.terminate()
                p.wait(10)


def silent_clients():
    """A client that connects and sends nothing, and one that dribbles its
    request, are both dropped after server.handshake-timeout."""
    import socket
    proc = subprocess.Popen([BIN, "--port=0", "--sim.count=0",
                             "--server.handshake-timeout=1s"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    try:
        port = int(proc.stdout.readline().strip().rsplit(":", 1)[1])
        for dribble in (False, True):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            start = time.monotonic()
            closed = False
            request = b"GET /api/ws HTTP/1.1\r\nHost: x\r\n"
            i = 0
            s.settimeout(0.2)
            while time.monotonic() - start < 6:
                if dribble and i < len(request):
                    try:
                        s.send(request[i:i + 1])
                    except OSError:
                        closed = True
                        break
                    i += 1
                try:
                    if s.recv(100) == b"":
                        closed = True
                        break
                except socket.timeout:
                    pass
                except OSError:
                    closed = True
                    break
            took = time.monotonic() - start
            s.close()
            what = "a dribbling client" if dribble else "a silent client"
            check(closed and 0.8 <= took <= 3.0,
                  f"{what} is dropped after the handshake timeout",
                  f"closed={closed} after {took:.2f} s")
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
    silent_clients()
