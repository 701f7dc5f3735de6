#!/usr/bin/env python3
"""scopehub end to end over TLS (issue 6): with tls.cert-file and
tls.key-file the port serves https:// and wss:// only. A throwaway
self-signed certificate for 127.0.0.1 is made here with the `openssl` CLI.

Checks: a wss:// client trusting that certificate gets its heartbeat,
subscribes and runs get_status; GET /api/ws/health over HTTPS; TLS 1.2
and 1.3 clients are served, a TLS 1.1 one is refused (and a 1.2 one when
tls.min-version is 1.3); plain text on the TLS port (an HTTP request, a
ws:// upgrade) gets no HTTP answer and is closed, a silent client is
dropped at server.handshake-timeout; scopectl (net/ws_client) works over
wss:// and HTTPS; a server-side close still sends the close frame over
TLS; bad TLS settings (one file only, a missing, foreign or encrypted
key, an unknown min-version) stop the server with exit code 2.

Every server runs on 127.0.0.1 with --port=0; nothing connects elsewhere.
"""

import asyncio
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import warnings

import websockets

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scopehub_testlib import (  # noqa: E402
    HOST, Client, Server, bin_dir, check, is_type, note, run, wait_online)

HANDSHAKE_TIMEOUT = 1.0  # --server.handshake-timeout, seconds
TID = "seestar-001"


def make_cert(d, name):
    """(cert, key) paths of a fresh self-signed certificate for 127.0.0.1."""
    cert = os.path.join(d, f"{name}-cert.pem")
    key = os.path.join(d, f"{name}-key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext",
                    "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def client_context(cert, min_version=None, max_version=None):
    """A client context that trusts only `cert` (and checks the host)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cert)
    if min_version is not None:
        ctx.minimum_version = min_version
    if max_version is not None:
        ctx.maximum_version = max_version
    return ctx


def tls_flags(cert, key, *more):
    return (f"--tls.cert-file={cert}", f"--tls.key-file={key}",
            f"--server.handshake-timeout={int(HANDSHAKE_TIMEOUT * 1000)}ms",
            *more)


def https_get(port, path, ctx, timeout=5.0):
    """(status, parsed JSON body) of GET path over HTTPS."""
    conn = http.client.HTTPSConnection(HOST, port, timeout=timeout,
                                       context=ctx)
    try:
        conn.request("GET", path)
        res = conn.getresponse()
        body = res.read().decode("utf-8", "replace")
        try:
            return res.status, json.loads(body)
        except ValueError:
            return res.status, body
    finally:
        conn.close()


def tls_handshake(port, ctx, timeout=5.0):
    """None when a TLS handshake with `ctx` succeeds, else the SSLError
    (or OSError) it failed with; the negotiated version on success is
    returned as a string instead."""
    with socket.create_connection((HOST, port), timeout=timeout) as raw:
        try:
            with ctx.wrap_socket(raw, server_hostname=HOST) as s:
                return s.version()
        except (ssl.SSLError, OSError) as e:
            return e


async def read_to_eof(reader, timeout):
    """(bytes read, seconds until EOF or reset); seconds is None when the
    connection is still open after `timeout`."""
    start = time.monotonic()
    data = b""
    while True:
        left = timeout - (time.monotonic() - start)
        if left <= 0:
            return data, None
        try:
            chunk = await asyncio.wait_for(reader.read(65536), left)
        except asyncio.TimeoutError:
            return data, None
        except ConnectionError:
            return data, time.monotonic() - start
        if not chunk:
            return data, time.monotonic() - start
        data += chunk


async def wss_session(srv, ctx):
    """A wss:// client: heartbeat, subscribe, get_status, clean close."""
    url = f"wss://{HOST}:{srv.port}/api/ws"
    c = await Client.connect(url, name="wss", ssl=ctx)
    _, hb = await c.expect(lambda f: True, 10, "first frame")
    check(hb.get("type") == "heartbeat",
          "wss:// client trusting the test certificate gets a heartbeat "
          "first", str(hb))
    sub = await c.subscribe()
    r = await c.response(sub)
    check(r.get("success") is True, "subscribe over wss:// succeeds", str(r))
    await wait_online(c, [TID])
    cmd = await c.command(TID, "get_status")
    r = await c.response(cmd, timeout=15)
    check(r.get("success") is True and isinstance(r.get("result"), dict),
          "get_status over wss:// answers with success", str(r)[:300])
    await c.close(1000)
    check(c.closed and c.close_code == 1000,
          "client close over wss:// completes with 1000",
          f"closed={c.closed} code={c.close_code}")


async def https_health(srv, ctx):
    status, body = await asyncio.to_thread(https_get, srv.port,
                                           "/api/ws/health", ctx)
    check(status == 200 and isinstance(body, dict)
          and body.get("status") == "ok",
          "GET /api/ws/health over HTTPS -> 200 status ok", f"{status} {body}")
    status, body = await asyncio.to_thread(https_get, srv.port, "/nowhere",
                                           ctx)
    check(status == 404 and isinstance(body, dict)
          and body.get("error_code") == "NOT_FOUND",
          "HTTPS routes like HTTP: unknown path -> 404 NOT_FOUND",
          f"{status} {body}")


async def versions(srv, cert):
    got = await asyncio.to_thread(
        tls_handshake, srv.port,
        client_context(cert, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2))
    check(got == "TLSv1.2", "a TLS 1.2-only client is served", repr(got))
    got = await asyncio.to_thread(
        tls_handshake, srv.port,
        client_context(cert, ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_3))
    check(got == "TLSv1.3", "a TLS 1.3-only client is served", repr(got))
    # A TLS 1.1-only client: OpenSSL 3 needs security level 0 to offer it
    # at all (SHA-1 signatures); when this OpenSSL cannot, skip the check.
    try:
        old = client_context(cert)
        old.set_ciphers("DEFAULT:@SECLEVEL=0")
        with warnings.catch_warnings():  # "TLSv1_1 is deprecated": yes
            warnings.simplefilter("ignore", DeprecationWarning)
            old.minimum_version = ssl.TLSVersion.TLSv1_1
            old.maximum_version = ssl.TLSVersion.TLSv1_1
    except (ssl.SSLError, ValueError) as e:
        note(f"skipped the TLS 1.1 check: this OpenSSL cannot build a TLS "
             f"1.1 client context ({e})")
        return
    got = await asyncio.to_thread(tls_handshake, srv.port, old)
    if isinstance(got, ssl.SSLError) and "NO_PROTOCOLS_AVAILABLE" in str(got):
        note(f"skipped the TLS 1.1 check: this OpenSSL will not offer TLS "
             f"1.1 ({got})")
        return
    check(isinstance(got, ssl.SSLError) and "PROTOCOL_VERSION" in str(got),
          "a TLS 1.1-only client is refused by the server (alert "
          "protocol_version: its minimum is TLS 1.2)", repr(got))


async def plain_text(srv):
    # A plain HTTP request on the TLS port: no HTTP answer, closed at once
    # (OpenSSL recognises the request; at the latest at the timeout).
    reader, writer = await asyncio.open_connection(HOST, srv.port)
    writer.write(f"GET /api/ws/health HTTP/1.1\r\nHost: {HOST}:{srv.port}"
                 "\r\n\r\n".encode())
    await writer.drain()
    data, took = await read_to_eof(reader, HANDSHAKE_TIMEOUT + 3)
    writer.close()
    check(b"HTTP/" not in data and b"status" not in data,
          "plain GET /api/ws/health on the TLS port gets no HTTP response",
          repr(data[:80]))
    check(took is not None and took < HANDSHAKE_TIMEOUT + 1,
          "... and the connection is closed within the handshake timeout",
          f"took={took}")
    # A plain ws:// upgrade on the TLS port fails.
    failed = None
    try:
        ws = await websockets.connect(f"ws://{HOST}:{srv.port}/api/ws",
                                      open_timeout=HANDSHAKE_TIMEOUT + 4)
        await ws.close()
    except Exception as e:  # InvalidMessage, EOF, reset, timeout
        failed = e
    check(failed is not None, "a plain ws:// upgrade on the TLS port fails",
          "it connected")
    note(f"ws:// on the TLS port failed with: {failed!r}")
    # A client that connects and says nothing is dropped at the timeout.
    reader, writer = await asyncio.open_connection(HOST, srv.port)
    data, took = await read_to_eof(reader, HANDSHAKE_TIMEOUT + 4)
    writer.close()
    check(took is not None and HANDSHAKE_TIMEOUT * 0.8 <= took
          <= HANDSHAKE_TIMEOUT + 1.5 and not data,
          f"a silent client is dropped at the handshake timeout "
          f"({HANDSHAKE_TIMEOUT:.0f} s)", f"took={took} data={data[:40]!r}")
    # The server still serves TLS after all that.
    status, _ = await asyncio.to_thread(https_get, srv.port, "/api/ws/health",
                                        client_context(srv.cert))
    check(status == 200, "the server still answers HTTPS afterwards",
          str(status))


async def scopectl_wss(srv, cert):
    """The C++ client library (net/ws_client, through scopectl) against
    the real TLS server: wss:// and HTTPS with --ca-file."""
    exe = os.path.join(bin_dir(), "scopectl")
    url = f"wss://{HOST}:{srv.port}"

    def call(*args):
        res = subprocess.run([exe, f"--url={url}", *args],
                             capture_output=True, text=True, timeout=60,
                             stdin=subprocess.DEVNULL)
        return res.returncode, res.stdout + res.stderr

    rc, out = await asyncio.to_thread(call, f"--ca-file={cert}", "cmd", TID,
                                      "get_status")
    check(rc == 0, "scopectl cmd get_status over wss:// with --ca-file: "
          "exit 0", out[-600:])
    rc, out = await asyncio.to_thread(call, f"--ca-file={cert}", "health")
    check(rc == 0 and "ok" in out,
          "scopectl health over HTTPS with --ca-file: exit 0", out[-600:])
    rc, out = await asyncio.to_thread(call, "health")
    check(rc == 3, "scopectl without --ca-file does not trust the test "
          "certificate (exit 3)", f"{rc} {out[-600:]}")


async def server_close(srv, ctx):
    """The server's own close (SIGTERM: 1001 to every client) sends its
    close frame over TLS, then the process exits 0."""
    c = await Client.connect(f"wss://{HOST}:{srv.port}/api/ws", name="wss2",
                             ssl=ctx)
    await c.expect(is_type("heartbeat"), 10, "first heartbeat")
    srv.send_signal(signal.SIGTERM)
    await c.wait_closed(10)
    check(c.closed and c.close_code == 1001,
          "on shutdown a wss:// client gets the close frame 1001",
          f"closed={c.closed} code={c.close_code} reason={c.close_reason}")
    rc = await srv.wait_exit(15)
    check(rc == 0, "the TLS server exits 0 on SIGTERM", str(rc))
    with open(srv.err.name, errors="replace") as f:
        log = f.read()
    check("close did not finish in time" not in log,
          "no close handshake over TLS ran into the close timeout",
          log[-2000:])


async def min_version_13(cert, key):
    srv = await Server(*tls_flags(cert, key, "--tls.min-version=1.3",
                                  "--sim.count=0"), name="scopehub-tls13"
                       ).start()
    got = await asyncio.to_thread(
        tls_handshake, srv.port,
        client_context(cert, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2))
    check(isinstance(got, (ssl.SSLError, OSError)),
          "tls.min-version=1.3 refuses a TLS 1.2-only client", repr(got))
    got = await asyncio.to_thread(tls_handshake, srv.port,
                                  client_context(cert))
    check(got == "TLSv1.3", "tls.min-version=1.3 serves TLS 1.3", repr(got))
    srv.stop()


def start_fails(*flags):
    """(exit code, stderr) of a scopehub that should refuse to start."""
    out = subprocess.run([os.path.join(bin_dir(), "scopehub"), "--port=0",
                          "--sim.count=0", *flags],
                         capture_output=True, text=True, timeout=30,
                         stdin=subprocess.DEVNULL)
    return out.returncode, out.stderr


async def bad_settings(d, cert, key, other_key):
    rc, err = await asyncio.to_thread(
        start_fails, f"--tls.cert-file={cert}",
        f"--tls.key-file={os.path.join(d, 'missing-key.pem')}")
    check(rc == 2 and "tls.key-file" in err and "cannot read" in err,
          "a missing key file: exit 2 naming tls.key-file", f"{rc} {err}")
    rc, err = await asyncio.to_thread(
        start_fails, f"--tls.cert-file={os.path.join(d, 'nope.pem')}",
        f"--tls.key-file={key}")
    check(rc == 2 and "tls.cert-file" in err and "cannot read" in err,
          "a missing certificate file: exit 2 naming tls.cert-file",
          f"{rc} {err}")
    rc, err = await asyncio.to_thread(start_fails, f"--tls.cert-file={cert}")
    check(rc == 2 and "tls.cert-file and tls.key-file" in err,
          "only tls.cert-file set: exit 2 (they go together)", f"{rc} {err}")
    rc, err = await asyncio.to_thread(start_fails, f"--tls.key-file={key}")
    check(rc == 2 and "tls.cert-file and tls.key-file" in err,
          "only tls.key-file set: exit 2 (they go together)", f"{rc} {err}")
    rc, err = await asyncio.to_thread(start_fails, f"--tls.cert-file={cert}",
                                      f"--tls.key-file={other_key}")
    check(rc == 2 and "tls.key-file" in err,
          "a key of another certificate: exit 2 naming tls.key-file",
          f"{rc} {err}")
    enc = os.path.join(d, "encrypted-key.pem")
    subprocess.run(["openssl", "pkey", "-in", key, "-aes256", "-passout",
                    "pass:secret", "-out", enc],
                   check=True, capture_output=True, timeout=30)
    rc, err = await asyncio.to_thread(start_fails, f"--tls.cert-file={cert}",
                                      f"--tls.key-file={enc}")
    check(rc == 2 and "tls.key-file" in err and "unencrypted" in err,
          "an encrypted key: exit 2 at once (no pass phrase prompt)",
          f"{rc} {err}")
    rc, err = await asyncio.to_thread(start_fails, f"--tls.cert-file={key}",
                                      f"--tls.key-file={key}")
    check(rc == 2 and "tls.cert-file" in err,
          "a key file given as the certificate: exit 2 naming "
          "tls.cert-file", f"{rc} {err}")
    rc, err = await asyncio.to_thread(start_fails, f"--tls.cert-file={cert}",
                                      f"--tls.key-file={key}",
                                      "--tls.min-version=1.1")
    check(rc == 2 and "tls.min-version" in err,
          "tls.min-version=1.1: exit 2", f"{rc} {err}")


async def main():
    d = tempfile.mkdtemp(prefix="scopehub-tls-")
    try:
        cert, key = make_cert(d, "test")
        _, other_key = make_cert(d, "other")
        ctx = client_context(cert)
        srv = await Server(*tls_flags(cert, key, "--sim.count=1"),
                           name="scopehub-tls").start()
        srv.cert = cert
        check(srv.port > 0, "the ready line is unchanged with TLS on "
              f"(port {srv.port})")
        with open(srv.err.name, errors="replace") as f:
            log = f.read()
        check("TLS on" in log, "the startup log says TLS is on", log[-1500:])
        await wss_session(srv, ctx)
        await https_health(srv, ctx)
        await versions(srv, cert)
        await scopectl_wss(srv, cert)
        await plain_text(srv)
        await server_close(srv, ctx)
        await min_version_13(cert, key)
        await bad_settings(d, cert, key, other_key)
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    run(main, "test_tls")
