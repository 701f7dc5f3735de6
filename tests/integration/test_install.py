"""The install target (issue 7): `cmake --install <build> --prefix P`
puts scopehub, scopectl and seestar-sim into P/bin, the config into
P/etc/scopehub/ and the systemd unit into P/lib/systemd/system/; the
installed server starts from the installed config with the flag the unit
uses; the unit names a dedicated user, restarts on failure and is
hardened. `systemd-analyze verify` checks the unit where it exists.
"""

import asyncio
import filecmp
import os
import re
import shutil
import subprocess
import tempfile

from scopehub_testlib import (Process, bin_dir, check, note, run,
                              still_healthy)

PROGRAMS = ["scopehub", "scopectl", "seestar-sim"]
UNIT_BIN = "/usr/local/bin/scopehub"
UNIT_CONF = "/usr/local/etc/scopehub/scopehub.conf"
HARDENING = {
    "NoNewPrivileges": "yes", "ProtectSystem": "strict",
    "ProtectHome": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    "CapabilityBoundingSet": "", "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes",
}


def source_dir():
    d = os.environ.get("SCOPEHUB_SOURCE_DIR")
    if d:
        return d
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.normpath(os.path.join(here, "..", ".."))


def unit_settings(path):
    """{(section, key): [values]} of a systemd unit file."""
    out, section = {}, None
    with open(path) as f:
        for raw in f:
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            m = re.fullmatch(r"\[(\w+)\]", line)
            if m:
                section = m.group(1)
                continue
            key, _, value = line.partition("=")
            out.setdefault((section, key.strip()), []).append(value.strip())
    return out


async def main():
    build = os.path.dirname(os.path.abspath(bin_dir()))
    src = source_dir()
    prefix = tempfile.mkdtemp(prefix="scopehub-install-")
    try:
        env = {k: v for k, v in os.environ.items() if k != "DESTDIR"}
        res = subprocess.run(["cmake", "--install", build, "--prefix", prefix],
                             env=env, capture_output=True, text=True,
                             timeout=120)
        check(res.returncode == 0, f"cmake --install {build} --prefix "
              f"{prefix} succeeds", res.stdout[-800:] + res.stderr[-800:])

        for p in PROGRAMS:
            path = os.path.join(prefix, "bin", p)
            check(os.path.isfile(path) and os.access(path, os.X_OK),
                  f"bin/{p} is installed and executable")
        conf = os.path.join(prefix, "etc", "scopehub", "scopehub.conf")
        check(os.path.isfile(conf) and filecmp.cmp(
            conf, os.path.join(src, "config", "scopehub.conf"), shallow=False),
            "etc/scopehub/scopehub.conf is config/scopehub.conf")
        unit = os.path.join(prefix, "lib", "systemd", "system",
                            "scopehub.service")
        check(os.path.isfile(unit) and filecmp.cmp(
            unit, os.path.join(src, "config", "scopehub.service"),
            shallow=False),
            "lib/systemd/system/scopehub.service is config/scopehub.service")
        check(not os.path.exists(os.path.join(prefix, "bin", "scopebench")),
              "the benchmark tool stays in the build tree")

        s = unit_settings(unit)
        execs = s.get(("Service", "ExecStart"), [])
        check(len(execs) == 1 and execs[0].split()[0] == UNIT_BIN
              and f"--config-file={UNIT_CONF}" in execs[0].split(),
              f"the unit runs {UNIT_BIN} --config-file={UNIT_CONF}",
              str(execs))
        check(s.get(("Service", "User")) == ["scopehub"]
              and s.get(("Service", "DynamicUser")) == ["yes"],
              "the unit runs as the dedicated (dynamic) user scopehub")
        check(s.get(("Service", "Restart")) == ["on-failure"],
              "the unit restarts on failure")
        wrong = {k: s.get(("Service", k)) for k, v in HARDENING.items()
                 if s.get(("Service", k)) != [v]}
        check(not wrong, f"the unit sets {len(HARDENING)} hardening options",
              str(wrong))
        check(s.get(("Install", "WantedBy")) == ["multi-user.target"],
              "the unit is enabled into multi-user.target")

        # The installed server starts from the installed config with the
        # unit's flag (simulators off: only the start matters here).
        srv = Process("installed-scopehub", [
            os.path.join(prefix, "bin", "scopehub"), f"--config-file={conf}",
            "--port=0", "--sim.count=0"])
        port = await srv.start(r"scopehub listening on 127\.0\.0\.1:(\d+)")
        check(int(port) > 0, "the installed scopehub starts from the "
              f"installed config (port {port})")
        still_healthy(srv)
        srv.stop()

        analyze = shutil.which("systemd-analyze")
        if not analyze:
            note("systemd-analyze not found: unit syntax not verified")
            return
        # verify wants the ExecStart binary to exist: point it at the
        # installed one.
        local = os.path.join(prefix, "scopehub.service")
        with open(unit) as f:
            text = f.read()
        with open(local, "w") as f:
            f.write(text.replace(UNIT_BIN, os.path.join(prefix, "bin",
                                                         "scopehub"))
                    .replace(UNIT_CONF, conf))
        res = subprocess.run([analyze, "verify", local], capture_output=True,
                             text=True, timeout=60)
        complaints = [line for line in (res.stdout + res.stderr).splitlines()
                      if "scopehub.service" in line]
        check(res.returncode == 0 and not complaints,
              "systemd-analyze verify accepts the unit",
              f"exit {res.returncode}: " + "\n".join(complaints or
                                                      [res.stderr[-800:]]))
    finally:
        shutil.rmtree(prefix, ignore_errors=True)


if __name__ == "__main__":
    run(main, "install")
