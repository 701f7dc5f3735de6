#!/usr/bin/env python3
"""Prints per-label medians of scopebench JSON lines.

usage: bench/medians.py FILE.jsonl [BATCH]   (BATCH: only that batch)
"""
import json
import statistics
import sys

KEYS = {
    "fanout": ["p50_us", "p90_us", "p99_us", "max_us", "delivered_pct",
               "updates_per_s", "harness_cores", "server_cores"],
    "command": ["rtt_p50_us", "rtt_p99_us", "rtt_max_us", "commands_per_s",
                "harness_cores", "server_cores"],
    "conns": ["kb_per_conn", "rss_after_kb", "connect_s",
              "hold_delivered_pct", "hold_p99_us", "harness_cores"],
    "connect-rate": ["connects_per_s", "handshake_p50_us",
                     "handshake_p99_us", "ready_p50_us", "ready_p99_us",
                     "failures", "harness_cores", "server_cores"],
}


def main():
    path = sys.argv[1]
    batch = sys.argv[2] if len(sys.argv) > 2 else None
    rows = {}
    with open(path) as f:
        for text in f:
            text = text.strip()
            if not text:
                continue
            try:
                r = json.loads(text)
            except json.JSONDecodeError:
                continue
            if batch and r.get("batch") != batch:
                continue
            rows.setdefault(r.get("label", "?"), []).append(r)
    for label, rs in rows.items():
        scen = rs[0].get("scenario", "")
        parts = []
        for k in KEYS.get(scen, []):
            vals = [r[k] for r in rs if isinstance(r.get(k), (int, float))]
            if vals:
                parts.append(f"{k}={statistics.median(vals):.4g}")
        bound = sum(1 for r in rs if r.get("harness_bound"))
        bad = sum(1 for r in rs if not r.get("ok"))
        parts.append(f"harness_bound={bound}/{len(rs)}")
        if bad:
            parts.append(f"FAILED={bad}/{len(rs)}")
        print(f"{label:18s} " + " ".join(parts))


if __name__ == "__main__":
    main()
