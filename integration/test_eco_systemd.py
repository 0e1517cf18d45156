"""config/wal2kafka.service: restart policy and hardening, and systemd's own verdict.

Proves: the unit restarts on failure but not after exit codes 2 and 3 (bad command line,
bad configuration: README's exit codes, where retrying cannot help); it gives wal2kafka
longer to stop than delivery.shutdown_timeout_ms; it runs as a dedicated user with no
new privileges, a read-only system, private /tmp, no home directories, no capabilities;
and `systemd-analyze verify` (Debian's systemd) accepts it, with ExecStart pointed at the
binary under test and User= at an existing user (verify checks both exist).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
UNIT = REPO / "config" / "wal2kafka.service"


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    out: dict[str, dict[str, list[str]]] = {}
    section = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            out.setdefault(section, {})
            continue
        k, _, v = line.partition("=")
        out[section].setdefault(k.strip(), []).append(v.strip())
    return out


def one(unit, section, key) -> str:
    v = unit[section][key]
    assert len(v) == 1, f"{key} set {len(v)} times"
    return v[0]


def test_restart_policy_and_exit_codes():
    unit = parse_unit(UNIT.read_text())
    svc = unit["Service"]
    assert one(unit, "Service", "Restart") == "on-failure"
    assert set(one(unit, "Service", "RestartPreventExitStatus").split()) == {"2", "3"}
    readme = (REPO / "README.md").read_text()
    assert re.search(r"^\| 2 \| bad command line \|$", readme, re.M)
    assert re.search(r"^\| 3 \| configuration file missing or invalid", readme, re.M)
    assert one(unit, "Service", "ExecStart") == \
        "/usr/local/bin/wal2kafka run --config /etc/wal2kafka/wal2kafka.cfg"
    assert one(unit, "Service", "KillSignal") == "SIGTERM"
    # longer than the default delivery.shutdown_timeout_ms (30000) of config/wal2kafka.cfg
    shutdown_ms = int(re.search(r"shutdown_timeout_ms = (\d+);",
                                (REPO / "config" / "wal2kafka.cfg").read_text()).group(1))
    assert int(one(unit, "Service", "TimeoutStopSec").rstrip("s")) * 1000 > shutdown_ms
    assert "WantedBy" in unit["Install"] and "After" in unit["Unit"]
    assert svc["Type"] == ["simple"]


def test_hardening():
    unit = parse_unit(UNIT.read_text())
    expected = {"User": "wal2kafka", "Group": "wal2kafka", "NoNewPrivileges": "yes",
                "ProtectSystem": "strict", "PrivateTmp": "yes", "ProtectHome": "yes",
                "PrivateDevices": "yes", "ReadOnlyPaths": "/etc/wal2kafka",
                "CapabilityBoundingSet": "", "AmbientCapabilities": "",
                "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
                "MemoryDenyWriteExecute": "yes", "RestrictSUIDSGID": "yes"}
    for k, v in expected.items():
        assert one(unit, "Service", k) == v, k
    assert "DynamicUser" not in unit["Service"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze not installed (Debian package systemd)")
def test_systemd_analyze_verify(wal2kafka_bin, tmp_path):
    text = UNIT.read_text()
    text = text.replace("/usr/local/bin/wal2kafka", str(wal2kafka_bin))
    text = text.replace("\nUser=wal2kafka\n", "\nUser=nobody\n")
    text = text.replace("\nGroup=wal2kafka\n", "\nGroup=nogroup\n")
    assert "=wal2kafka\n" not in text
    unit = tmp_path / "wal2kafka.service"
    unit.write_text(text)
    p = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                       text=True, timeout=60,
                       env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"})
    out = p.stdout + p.stderr
    # lines about other units of this machine (not ours) are not our business
    ours = [ln for ln in out.splitlines() if "wal2kafka.service" in ln]
    assert p.returncode == 0 and not ours, out
