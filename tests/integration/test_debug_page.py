"""The debug page (issue 7) in a real browser: the server serves the
embedded page at /debug and its files at /debug/<name>, and headless
Chromium, driven by tests/browser/debug_page.mjs (playwright-core on
Debian's /usr/bin/chromium), connects, sees the three simulated
telescopes, subscribes, sends a goto and sees its progress and its
response; it runs once in open mode and once with an admin token
(flags toggled through the page). The page's screenshots are left in
<build>/test-artefacts/debug_page/ (and admin/ below it).

node, chromium and tests/browser/node_modules are required: CI installs
them (scripts/setup.sh), so a missing one is a failure, not a skip.
"""

import asyncio
import hashlib
import os
import shutil
import time

from scopehub_testlib import (Failure, Server, check, note, run,
                              still_healthy)

CHROMIUM = "/usr/bin/chromium"
BROWSER_S = 65  # bound of one browser run (run() allows 150 for both)
PNG = b"\x89PNG\r\n\x1a\n"
ADMIN_TOKEN = "debug-page-admin-token"


def header(headers, name):
    return next((v for k, v in headers.items() if k.lower() == name), "")


def source_dir():
    d = os.environ.get("SCOPEHUB_SOURCE_DIR")
    if d:
        return d
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.normpath(os.path.join(here, "..", ".."))


def prerequisites():
    """(node path, browser test dir); Failure naming what is missing."""
    browser = os.path.join(source_dir(), "tests", "browser")
    node = shutil.which("node")
    missing = []
    if not node:
        missing.append("node (Debian nodejs)")
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(f"{CHROMIUM} (Debian chromium)")
    if not os.path.isdir(os.path.join(browser, "node_modules",
                                      "playwright-core")):
        missing.append("tests/browser/node_modules/playwright-core (npm ci)")
    if missing:
        raise Failure("missing " + ", ".join(missing)
                      + ": run scripts/setup.sh")
    return node, browser


async def browser_run(node, browser, srv, artefacts, token=None):
    """Runs debug_page.mjs against `srv`; check()s that it passed and
    left a PNG screenshot in `artefacts`."""
    os.makedirs(artefacts, exist_ok=True)
    shot = os.path.join(artefacts, "debug-page.png")
    if os.path.exists(shot):
        os.unlink(shot)
    env = dict(os.environ)
    env.pop("SCOPEHUB_DEBUG_URL", None)
    if token:
        env["SCOPEHUB_TOKEN"] = token
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        node, os.path.join(browser, "debug_page.mjs"), str(srv.port),
        artefacts, cwd=browser, env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), BROWSER_S)
    except asyncio.TimeoutError:
        proc.kill()
        out, _ = await proc.communicate()
        raise Failure(f"the browser test ran over {BROWSER_S} s:\n"
                      + out.decode(errors="replace"))
    for line in out.decode(errors="replace").rstrip().splitlines():
        note(f"browser: {line}")
    check(proc.returncode == 0,
          f"the browser test passed in {time.monotonic() - started:.1f} s",
          f"exit code {proc.returncode}; artefacts in {artefacts}")
    with open(shot, "rb") as f:
        head = f.read(8)
    check(head == PNG and os.path.getsize(shot) > 10000,
          f"screenshot saved as {shot}")


async def main():
    node, browser = prerequisites()
    check(True, "node, chromium and playwright-core are installed")
    artefacts = os.path.join(os.path.dirname(os.path.abspath(
        os.environ.get("SCOPEHUB_BIN_DIR", "."))), "test-artefacts",
        "debug_page")

    # Open mode (the embedded default): every client is an operator, so
    # the page shows the flags but a toggle is refused (403).
    srv = await Server("--sim.time-scale=20").start()
    status, body, headers = srv.get("/debug")
    ctype = header(headers, "content-type")
    check(status == 200 and ctype.startswith("text/html")
          and "/debug/app.js" in str(body),
          "GET /debug answers the page (text/html, loads /debug/app.js)",
          f"{status} {ctype} {str(body)[:120]!r}")
    status, _, headers = srv.get("/debug/app.js")
    ctype = header(headers, "content-type")
    check(status == 200 and ctype.startswith("text/javascript"),
          "GET /debug/app.js is JavaScript (module scripts need the type)",
          f"{status} {ctype}")
    status, _, headers = srv.get("/debug/style.css")
    check(status == 200
          and header(headers, "content-type").startswith("text/css"),
          "GET /debug/style.css is CSS", f"{status}")
    status, _, _ = srv.get("/debug/no-such-file.js")
    check(status == 404, "GET /debug/no-such-file.js -> 404", f"{status}")
    note("open mode")
    await browser_run(node, browser, srv, artefacts)
    still_healthy(srv)
    srv.stop()

    # With tokens: the page loads without one, the admin endpoints refuse
    # it (401) until the admin token is entered; then the socket carries
    # ?token= and a flag toggles through PUT /api/features and back.
    digest = hashlib.sha256(ADMIN_TOKEN.encode()).hexdigest()
    srv = await Server("--sim.time-scale=20",
                       f'--auth.tokens=["{digest}:admin:debug-page"]',
                       name="scopehub-auth").start()
    note("admin token")
    await browser_run(node, browser, srv, os.path.join(artefacts, "admin"),
                      ADMIN_TOKEN)
    still_healthy(srv)


if __name__ == "__main__":
    run(main, "debug_page")
