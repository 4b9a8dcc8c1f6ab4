"""`portside remap --yes` against the real engine and real docker-compose.

A compose project declares a host port a running container holds, so
`docker-compose up -d` fails; after the remap it is accepted by
`docker-compose config`, every byte outside the port survives, and `up -d`
succeeds. Literal, `.env` variable, `${VAR:-default}` only, long syntax and a
range; a second run changes nothing and says so.
"""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import pytest

from tests.conftest import free_port, require

pytestmark = pytest.mark.docker


def compose(d: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker-compose", *args], cwd=d, capture_output=True, text=True, timeout=120)


def changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    a, b = before.splitlines(keepends=True), after.splitlines(keepends=True)
    assert len(a) == len(b)
    return [(x, y) for x, y in zip(a, b, strict=True) if x != y]


CASES = {
    "literal": ({"compose.yaml": """\
        # shop stack: keep this comment
        services:
          web:
            image: portside-test-busybox:1   # busybox httpd
            ports:
              - "{P}:80"    # the public port
        """}, "compose.yaml"),
    "dotenv": ({"compose.yaml": """\
        services:
          web:
            image: portside-test-busybox:1
            ports:
              - "${{WEB_PORT:-8080}}:80"   # from .env
        """, ".env": "# ports live here\nWEB_PORT={P}  # web\n"}, ".env"),
    "default-only": ({"compose.yaml": """\
        services:
          web:
            image: portside-test-busybox:1
            ports:
              - "${{WEB_PORT:-{P}}}:80"
        """}, ".env"),
    "long": ({"compose.yaml": """\
        services:
          web:
            image: portside-test-busybox:1
            ports:
              - target: 80
                published: {P}   # long syntax
                protocol: tcp
        """}, "compose.yaml"),
    "range": ({"compose.yaml": """\
        services:
          web:
            image: portside-test-busybox:1
            command: ["sh", "-c", "httpd -p 81 -h /www; httpd -f -p 80 -h /www"]
            ports:
              - "{P}-{P1}:80-81"
        """}, "compose.yaml"),
}


def two_free() -> int:
    for _ in range(50):
        p = free_port()
        try:
            import socket

            with socket.socket() as s:
                s.bind(("0.0.0.0", p + 1))
            return p
        except OSError:
            continue
    raise RuntimeError("no two adjacent free ports")


@pytest.mark.parametrize("case", sorted(CASES))
def test_remap_fixes_a_compose_project_that_collides_with_a_running_container(
    case, run_container, compose_project, cli, tmp_path
):
    require("docker-compose")
    files, edited = CASES[case]
    p = two_free()
    held = p + 1 if case == "range" else p
    run_container(ports={"80/tcp": held})
    d = compose_project({k: v.replace("{P}", str(p)).replace("{P1}", str(p + 1)).replace("{{", "{").replace("}}", "}")
                         for k, v in files.items()})
    # below the kernel's ephemeral range (32768+), where outgoing sockets could take the port
    start = random.randint(12000, 19000) // 10 * 10
    (tmp_path / "portside.yaml").write_text(f"port_range:\n  start: {start}\n  end: {start + 400}\n")
    before = {f.name: f.read_bytes() for f in d.iterdir() if f.is_file()}

    failed = compose(d, "up", "-d")
    assert failed.returncode != 0 and "allocated" in failed.stderr + failed.stdout
    compose(d, "down")

    code, out, err = cli("remap", "--yes", "--project-dir", str(d))
    assert code == 0, out + err
    assert "restart required" in out

    code, dout, _ = cli("decisions", "--json")
    decisions = json.loads(dout)["decisions"]
    assert len(decisions) == 1
    move = decisions[0]["moves"][0]
    new_port = move["new_port"]
    old_t = f"{p}-{p + 1}" if case == "range" else str(p)
    new_t = f"{new_port}-{new_port + 1}" if case == "range" else str(new_port)

    after = {f.name: f.read_bytes() for f in d.iterdir() if f.is_file()}
    if case == "default-only":
        # only a default existed: the variable is added to a new .env, the compose file is untouched
        assert set(after) - set(before) == {".env"} and after["compose.yaml"] == before["compose.yaml"]
        assert after[".env"].decode() == f"WEB_PORT={new_port}\n"
    else:
        assert set(after) == set(before)
        for name in before:
            if name != edited:
                assert after[name] == before[name]
        # one changed line, and in it exactly the characters of the port
        (old_line, new_line), = changed_lines(before[edited].decode(), after[edited].decode())
        assert old_line.replace(old_t, new_t, 1) == new_line
    assert start <= new_port <= start + 400

    assert compose(d, "config", "-q").returncode == 0
    up = compose(d, "up", "-d")
    assert up.returncode == 0, up.stderr
    ps = compose(d, "port", "web", "80")
    assert ps.stdout.strip().endswith(f":{new_port}")

    again_code, again_out, _ = cli("remap", "--yes", "--project-dir", str(d))
    assert again_code == 0 and "nothing to do" in again_out
    assert {f.name: f.read_bytes() for f in d.iterdir() if f.is_file()} == after



def test_remap_recreate_starts_the_moved_service_on_its_new_port(run_container, compose_project, cli, tmp_path):
    """--recreate: a stopped compose container whose port was taken is moved and started again."""
    require("docker-compose")
    p = free_port()
    d = compose_project({"compose.yaml": f"services:\n  web:\n    image: portside-test-busybox:1\n    ports:\n      - \"{p}:80\"\n"})
    assert compose(d, "up", "-d").returncode == 0
    assert compose(d, "stop").returncode == 0
    run_container(ports={"80/tcp": p})  # someone else takes the port while web is stopped
    start = random.randint(12000, 19000) // 10 * 10
    (tmp_path / "portside.yaml").write_text(f"port_range:\n  start: {start}\n  end: {start + 400}\n")

    code, out, err = cli("remap", "--yes", "--recreate", "--project-dir", str(d))
    assert code == 0, out + err
    new_port = json.loads(cli("decisions", "--json")[1])["decisions"][0]["moves"][0]["new_port"]
    assert start <= new_port <= start + 400
    ps = compose(d, "ps", "-q", "web")
    state = subprocess.run(["docker", "inspect", "-f", "{{.State.Running}}", ps.stdout.strip()],
                           capture_output=True, text=True, check=False)
    assert state.stdout.strip() == "true"
    assert compose(d, "port", "web", "80").stdout.strip().endswith(f":{new_port}")
