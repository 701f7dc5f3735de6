"""GET /metrics (issue 7, first part): Prometheus text format that parses,
with HELP and TYPE for every family, and counters that move with traffic:
sessions, messages in by type, commands by action and outcome with a
duration histogram, closes by code, telescopes by state.
"""

import asyncio
import http.client
import re

from scopehub_testlib import (HOST, SIM_IDS, Client, Failure, Server, check,
                              is_response, is_type, run, wait_online)

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"')


def scrape(port):
    """{(name, frozenset(labels)): value}, families {name: type}, headers."""
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        conn.request("GET", "/metrics")
        res = conn.getresponse()
        text = res.read().decode()
        if res.status != 200:
            raise Failure(f"/metrics answered {res.status}: {text[:200]}")
        ctype = res.getheader("Content-Type", "")
    finally:
        conn.close()
    samples, types, helps = {}, {}, set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helps.add(line.split(" ", 3)[2])
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
            continue
        m = SAMPLE.match(line)
        if not m:
            raise Failure(f"not Prometheus text: {line!r}")
        labels = frozenset(LABEL.findall(m.group(3) or ""))
        samples[(m.group(1), labels)] = float(m.group(4))
    return samples, types, helps, ctype


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


async def main():
    srv = await Server("--sim.time-scale=20").start()
    s0, types, helps, ctype = scrape(srv.port)
    check(ctype.startswith("text/plain; version=0.0.4"),
          "GET /metrics is Prometheus text (version 0.0.4)", ctype)
    check(set(types) == helps and len(types) >= 15,
          f"{len(types)} metric families, each with HELP and TYPE")
    families = set(types)
    base = {n[:-len(s)] for n in (k[0] for k in s0) for s in
            ("_bucket", "_sum", "_count") if n.endswith(s)}
    check(all(k[0] in families or k[0] in {b + s for b in base for s in
                                           ("_bucket", "_sum", "_count")}
              for k in s0),
          "every sample belongs to a declared family")
    check(all(n.startswith("scopehub_") for n in families)
          and all(n.endswith("_total") for n, t in types.items()
                  if t == "counter"),
          "names follow the conventions (scopehub_ prefix, counters _total)")

    c = await Client.connect(srv.url(), "m1")
    await wait_online(c, SIM_IDS)
    ok = await c.command("seestar-001", "get_status")
    await c.response(ok)
    missing = await c.command("no-such-scope", "get_status")
    await c.response(missing)
    await c.send_raw("{not json")
    await c.expect(is_type("error"), what="error for the bad frame")
    s1, _, _, _ = scrape(srv.port)

    def delta(name, **labels):
        return value(s1, name, **labels) - value(s0, name, **labels)

    check(value(s1, "scopehub_sessions_open", transport="websocket") == 1
          and delta("scopehub_sessions_total", transport="websocket") == 1,
          "one session open, one more in total")
    check(delta("scopehub_messages_in_total", type="control_command") == 2
          and delta("scopehub_messages_in_total", type="invalid") == 1,
          "messages in: 2 commands and 1 invalid frame")
    check(delta("scopehub_commands_total", action="get_status",
                outcome="ok") == 1
          and delta("scopehub_commands_total", action="get_status",
                    outcome="TELESCOPE_NOT_FOUND") == 1,
          "commands by action and outcome: get_status ok 1, "
          "TELESCOPE_NOT_FOUND 1")
    check(delta("scopehub_command_duration_seconds_count") >= 1
          and value(s1, "scopehub_command_duration_seconds_bucket",
                    le="+Inf")
          == value(s1, "scopehub_command_duration_seconds_count"),
          "the duration histogram counts the answered command; +Inf bucket "
          "equals _count")
    check(value(s1, "scopehub_telescopes", state="online") == 3
          and value(s1, "scopehub_telescopes", state="offline") == 0,
          "telescopes by state: 3 online")
    check(delta("scopehub_frames_in_total") >= 3
          and delta("scopehub_frames_out_total") >= 3,
          "frames in and out moved")

    await c.close(1000)
    await asyncio.sleep(0.3)
    s2, _, _, _ = scrape(srv.port)
    check(value(s2, "scopehub_closes_total", code="1000")
          - value(s1, "scopehub_closes_total", code="1000") == 1
          and value(s2, "scopehub_sessions_open", transport="websocket") == 0,
          "a close with 1000 is counted and the session is gone")

    conn = http.client.HTTPConnection(HOST, srv.port, timeout=10)
    try:
        conn.request("POST", "/metrics", body=b"")
        res = conn.getresponse()
        res.read()
        check(res.status == 405 and res.getheader("Allow") == "GET",
              "POST /metrics -> 405, Allow: GET")
    finally:
        conn.close()
    srv.stop()


if __name__ == "__main__":
    run(main, "metrics")
