"""Discovery end to end, as a user runs it: `portside ports` / `conflicts` / `--auto` on a real engine."""

from __future__ import annotations

import json
import subprocess

from tests.conftest import free_port, require


def test_compose_port_held_by_a_container_is_flagged_before_up(cli, compose_project, run_container) -> None:
    port = free_port()
    holder = run_container({"80/tcp": port})
    proj = compose_project({
        "compose.yaml": f"""
            services:
              web:
                image: portside-test-busybox:1
                ports: ["{port}:80"]
        """,
    })
    code, out, err = cli("conflicts", "--json", "--project-dir", str(proj))
    assert code == 1, err
    report = json.loads(out)
    assert report["sources"]["docker"]["ok"] and report["sources"]["compose"]["ok"]
    [c] = [c for c in report["conflicts"] if c["port"] == port]
    assert c["kind"] == "declared-vs-live" and c["severity"] == "error"
    assert {p["owner"] for p in c["parties"]} == {f"compose:{proj.name}/web", f"container:{holder.name}"}
    assert c["parties"][0]["origin"]["line"] == 5  # the party to move, with where its port is written
    assert c["fix"] and c["message"]

    code, out, _ = cli("ports", "--json", "--port", str(port), "--project-dir", str(proj))
    rows = json.loads(out)["bindings"]
    assert {(r["source"], r["state"], r["conflict"]) for r in rows} >= {
        ("compose", "declared", "error"), ("docker", "running", "error")}

    code, out, _ = cli("conflicts", "--project-dir", str(proj))
    assert "declared-vs-live" in out and f"{port}/tcp" in out and "fix: remap" in out


def test_a_project_that_is_up_is_one_claim_not_a_conflict(cli, compose_project) -> None:
    require("docker-compose")
    port = free_port()
    proj = compose_project({
        "docker-compose.yml": f"""
            version: "3"
            services:
              web:
                image: portside-test-busybox:1
                ports: ["127.0.0.1:{port}:80"]
                labels: {{portside.test: "1"}}
        """,
    })
    subprocess.run(["docker-compose", "up", "-d"], cwd=proj, check=True, capture_output=True, timeout=120)
    code, out, _ = cli("ports", "--json", "--port", str(port))  # found through the container's labels
    rows = json.loads(out)["bindings"]
    assert {(r["source"], r["project"], r["service"]) for r in rows} == {
        ("docker", proj.name, "web"), ("compose", proj.name, "web")}
    assert all(r["conflict"] is None for r in rows)


def test_docker_down_still_reports_compose_and_host(cli, compose_project, monkeypatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    port = free_port()  # declared only; free so that no host listener adds a conflict of its own
    a, b = compose_project({"compose.yaml": f"services:\n  x:\n    image: i\n    ports: ['{port}:80']\n"}), \
        compose_project({"compose.yaml": f"services:\n  y:\n    image: i\n    ports: ['{port}:8080']\n"})
    code, out, err = cli("conflicts", "--json", "--project-dir", str(a), "--project-dir", str(b))
    report = json.loads(out)
    assert not report["sources"]["docker"]["ok"] and "not running" in report["sources"]["docker"]["error"]
    assert report["sources"]["compose"]["ok"] and report["sources"]["host"]["ok"]
    assert "docker unavailable" in err
    assert [c["kind"] for c in report["conflicts"] if c["port"] == port] == ["declared-vs-declared"]
    assert code == 1


def test_auto_reports_conflicts_as_its_discovery_step(cli, compose_project, tmp_path) -> None:
    proj = compose_project({"compose.yaml": "services:\n  x:\n    image: i\n    ports: ['18081:80']\n"})
    (tmp_path / "portside.yaml").write_text("reserved_ports: [18081]\n")
    code, out, _ = cli("--auto", "--json", "--dry-run", "--project-dir", str(proj))
    steps = json.loads(out)["steps"]
    assert [c["kind"] for c in steps["conflicts"]["conflicts"] if c["port"] == 18081] == ["reserved"]


def test_json_shapes_and_exit_codes(cli, compose_project, tmp_path, monkeypatch) -> None:
    """0: no error-severity conflict; 1: one exists; 2: failure (a bad config). Shapes as documented."""
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")  # no other session's containers
    port = free_port()
    a = compose_project({"compose.yaml": f"services:\n  x:\n    image: i\n    ports: ['{port}:80/udp']\n"})
    code, out, _ = cli("ports", "--json", "--project-dir", str(a))
    assert code == 0
    report = json.loads(out)
    assert set(report) >= {"bindings", "sources"}
    for name in ("docker", "swarm", "compose", "host", "registry"):
        assert set(report["sources"][name]) >= {"ok", "error"}
        assert isinstance(report["sources"][name]["ok"], bool)
    assert report["sources"]["docker"]["ok"] is False and report["sources"]["docker"]["error"]
    assert report["sources"]["compose"] == {**report["sources"]["compose"], "ok": True, "error": None}
    [mine] = [b for b in report["bindings"] if b["port"] == port]
    assert (mine["source"], mine["protocol"], mine["state"], mine["owner"]) == (
        "compose", "udp", "declared", f"compose:{a.name}/x")
    code, out, _ = cli("conflicts", "--json", "--project-dir", str(a))
    assert code == 0 and not [c for c in json.loads(out)["conflicts"] if c["port"] == port]

    b = compose_project({"compose.yaml": f"services:\n  y:\n    image: i\n    ports: ['127.0.0.1:{port}:81/udp']\n"})
    code, out, _ = cli("conflicts", "--json", "--project-dir", str(a), "--project-dir", str(b))
    assert code == 1
    [c] = [c for c in json.loads(out)["conflicts"] if c["port"] == port]
    assert set(c) >= {"kind", "severity", "protocol", "port", "host_ip", "parties", "message"}
    assert (c["kind"], c["severity"], c["protocol"], c["host_ip"]) == ("declared-vs-declared", "error", "udp", "127.0.0.1")
    assert {p["owner"] for p in c["parties"]} == {f"compose:{a.name}/x", f"compose:{b.name}/y"}
    assert all({"source", "owner", "host_ip", "port", "protocol", "state"} <= set(p) for p in c["parties"])

    (tmp_path / "portside.yaml").write_text("port_range: {start: 9000, end: 8000}\nbogus: 1\n")
    for cmd in ("ports", "conflicts"):
        code, out, err = cli(cmd, "--json")
        assert code == 2 and "portside.yaml" in err and out == "", (cmd, code, err)


def test_only_the_named_command_module_is_imported_when_that_is_certain() -> None:
    from portside.app.cli import requested_command

    assert requested_command(["ports", "--json"]) == "ports"
    assert requested_command(["--json", "--dry-run", "conflicts"]) == "conflicts"
    assert requested_command(["--config=x.yaml", "ports"]) == "ports"
    assert requested_command(["--config", "ports", "remap"]) == "remap"  # `ports` is the option's value
    assert requested_command(["import", "x.json"]) == "import"  # module import_ports
    assert requested_command(["--help"]) is None and requested_command([]) is None
