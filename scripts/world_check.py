#!/usr/bin/env python3
"""Is the user's world as it was? A before/after check around the test command.

    scripts/world_check.py snapshot FILE   # record the world
    scripts/world_check.py compare FILE    # exit 1 and list the differences if it changed

The world: the engine's containers (name, image, state, published ports),
networks, volumes, swarm services and swarm state, and the host's listening
TCP/UDP sockets with their programs. What the test suite makes is not the
user's world and is left out: anything carrying the label `portside.test`,
a swarm whose node carries it (the suite turned swarm mode on), the ports such
containers publish, and sockets held by a process running under pytest. So a
test session that is still running elsewhere on the machine changes nothing here.
Standard library only: it reads `docker ... inspect` and `ss`.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

LABEL = "portside.test"
SUITE_NETWORKS = {"ingress", "docker_gwbridge"}  # made by swarm init


def sh(*cmd: str) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=60).stdout


def inspect(kind: str, ids: list[str]) -> list[dict]:
    ids = [i for i in ids if i]
    if not ids:
        return []
    p = subprocess.run(["docker", kind, "inspect", *ids], capture_output=True, text=True, check=False, timeout=60)
    return json.loads(p.stdout or "[]")  # one that vanished meanwhile is simply absent


def suite_labelled(labels: dict | None) -> bool:
    """Made by the suite: `portside.test=1` (the test image's own `portside.test=image`,
    which its containers inherit, does not count)."""
    return (labels or {}).get(LABEL) == "1"


def swarm() -> tuple[str, bool]:
    """(swarm state, whether the suite turned it on)."""
    info = json.loads(sh("docker", "info", "--format", "{{json .Swarm}}"))
    state = info.get("LocalNodeState", "")
    if state != "active":
        return state, False
    node = inspect("node", [info.get("NodeID", "")])
    labels = node[0].get("Spec", {}).get("Labels") if node else {}
    return state, suite_labelled(labels)


def containers() -> list[str]:
    """The user's containers: name, image, status, published ports, mounts."""
    rows = inspect("container", sh("docker", "ps", "-aq", "--no-trunc").split())
    mine = []
    for c in rows:
        labels = c.get("Config", {}).get("Labels")
        ports = sorted(
            f"{b.get('HostIp', '')}:{b.get('HostPort', '')}->{p}"
            for p, binds in (c.get("NetworkSettings", {}).get("Ports") or {}).items()
            for b in binds or []
        )
        if suite_labelled(labels) or (labels or {}).get("com.docker.compose.project", "").startswith("pst"):
            continue  # the suite's compose projects are named pst<session><n> (tests/conftest.py)
        state = c.get("State", {})
        mounts = sorted(m.get("Name") or m.get("Source", "") for m in c.get("Mounts") or [])
        lines = f"{c['Name'].lstrip('/')} image={c['Config']['Image']} status={state.get('Status')} "
        lines += f"ports={','.join(ports) or '-'} mounts={','.join(mounts) or '-'}"
        mine.append(lines)
    return sorted(mine)


def networks(suite_swarm: bool) -> list[str]:
    out = []
    for n in inspect("network", sh("docker", "network", "ls", "-q", "--no-trunc").split()):
        if suite_labelled(n.get("Labels")) or n["Name"].startswith("pst"):
            continue
        if suite_swarm and n["Name"] in SUITE_NETWORKS:
            continue
        out.append(f"{n['Name']} driver={n.get('Driver')} scope={n.get('Scope')}")
    return sorted(out)


def volumes() -> list[str]:
    names = sh("docker", "volume", "ls", "-q").split()
    return sorted(v["Name"] for v in inspect("volume", names) if not suite_labelled(v.get("Labels")))


def services(state: str) -> list[str]:
    if state != "active":
        return []
    p = subprocess.run(["docker", "service", "ls", "-q"], capture_output=True, text=True, check=False, timeout=60)
    return sorted(s["Spec"]["Name"] for s in inspect("service", p.stdout.split())
                  if not suite_labelled(s.get("Spec", {}).get("Labels")))


def under_pytest(pid: int) -> bool:
    """pid or one of its ancestors is a pytest run (a test's own server or broker)."""
    seen = 0
    while pid > 1 and seen < 64:
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        if b"pytest" in cmd:
            return True
        pid = int(stat.rsplit(")", 1)[1].split()[1])
        seen += 1
    return False


def sockets(suite_swarm: bool) -> list[str]:
    out = set()
    for line in sh("ss", "-Htlnup").splitlines():
        parts = line.split()
        if len(parts) < 5:
            continue
        proto, local = parts[0], parts[4]
        port = local.rsplit(":", 1)[1]
        users = line.split("users:", 1)[1] if "users:" in line else ""
        progs = sorted(set(re.findall(r'"([^"]+)"', users)))
        pids = [int(x) for x in re.findall(r"pid=(\d+)", users)]
        if pids and any(under_pytest(p) for p in pids):
            continue
        if progs == ["docker-proxy"]:  # a published port: already listed with its container
            continue
        if suite_swarm and (progs == ["dockerd"] or (not progs and port == "4789")):
            continue  # the swarm ports of a swarm the suite turned on (4789: the kernel's VXLAN)
        out.add(f"{proto} {local} {','.join(progs) or '?'}")
    return sorted(out)


def snapshot() -> dict[str, list[str]]:
    state, suite_swarm = swarm()
    ctrs = containers()
    return {
        "swarm": [("inactive (the suite's swarm)" if suite_swarm else state)],
        "containers": ctrs,
        "networks": networks(suite_swarm),
        "volumes": volumes(),
        "services": [] if suite_swarm else services(state),
        "listening sockets": sockets(suite_swarm),
    }


def differences(before: dict[str, list[str]], now: dict[str, list[str]]) -> list[str]:
    out = []
    for key in now:
        b, a = set(before.get(key, [])), set(now[key])
        if key == "swarm":  # the suite's swarm counts as the state it replaced
            b = {"inactive" if x.startswith("inactive") else x for x in b}
            a = {"inactive" if x.startswith("inactive") else x for x in a}
        out += [f"{key}: gone: {item}" for item in sorted(b - a)]
        out += [f"{key}: new: {item}" for item in sorted(a - b)]
    return out


def main(argv: list[str], settle: float = 60.0) -> int:
    if len(argv) != 2 or argv[0] not in ("snapshot", "compare"):
        print("usage: scripts/world_check.py snapshot|compare FILE", file=sys.stderr)
        return 2
    cmd, path = argv[0], Path(argv[1])
    now = snapshot()
    if cmd == "snapshot":
        path.write_text(json.dumps(now, indent=1))
        print(f"world: {sum(map(len, now.values()))} items recorded in {path}")
        return 0
    before = json.loads(path.read_text())
    # A container or process that is still stopping is given `settle` seconds to go.
    deadline = time.monotonic() + settle
    while (diff := differences(before, now)) and time.monotonic() < deadline:
        time.sleep(5)
        now = snapshot()
    for line in diff:
        print(f"world changed: {line}")
    if not diff:
        print(f"world unchanged: {sum(map(len, now.values()))} items as before")
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
