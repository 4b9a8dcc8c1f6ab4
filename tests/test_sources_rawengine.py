"""The stdlib Engine API client of the headless path agrees with the docker SDK, and `ports` skips the SDK."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from portside.app.sources.docker_src import list_containers
from portside.app.sources.engine import Endpoint
from portside.app.sources.rawengine import RawEngine, RawEngineError, raw_url
from tests.conftest import LABEL, SESSION, free_port

pytestmark = pytest.mark.docker

VOLATILE = {"Status"}  # "Up 2 seconds" vs "Up 3 seconds": the two lists are taken a moment apart


def _ours(entries: list[dict]) -> dict[str, dict]:
    """This session's containers; `Ports` sorted (the engine lists them in Go map order)."""
    return {
        e["Id"]: {k: sorted(v, key=json.dumps) if k == "Ports" else v for k, v in e.items() if k not in VOLATILE}
        for e in entries
        if (e.get("Labels") or {}).get(f"{LABEL}.session") == SESSION
    }


def test_raw_container_list_equals_the_sdks(docker_client, run_container) -> None:
    v4, both, stopped = free_port(), free_port(), free_port()
    running = run_container({"80/tcp": ("127.0.0.1", v4), "81/udp": both, "82/tcp": both})
    idle = run_container({"80/tcp": stopped}, start=False)
    raw = RawEngine.for_endpoint(Endpoint(None))
    assert raw is not None
    mine = _ours(raw.containers(all=True))
    assert mine == _ours(docker_client.api.containers(all=True))
    assert {running.id, idle.id} <= set(mine)
    published = {(p.get("IP"), p["PublicPort"], p["Type"]) for p in mine[running.id]["Ports"] if p.get("PublicPort")}
    assert ("127.0.0.1", v4, "tcp") in published and ("0.0.0.0", both, "udp") in published
    # Docker 20.10 reports a wildcard publish once per family when the host has IPv6
    if any(ip == "::" for ip, _, _ in published):
        assert ("::", both, "tcp") in published
    # the stopped container's future claim comes from one inspect, the same through both clients
    assert raw.inspect_container(idle.id)["HostConfig"]["PortBindings"] == \
        docker_client.api.inspect_container(idle.id)["HostConfig"]["PortBindings"]
    by_client = {c.id: c for c in list_containers(raw)}
    by_sdk = {c.id: c for c in list_containers(docker_client)}
    for cid in (running.id, idle.id):
        assert by_client[cid].model_copy(update={"status": ""}) == by_sdk[cid].model_copy(update={"status": ""})
    assert [(b.port, b.state.value) for b in by_client[idle.id].ports] == [(stopped, "stopped")]


def test_raw_client_errors_carry_the_status(run_container) -> None:
    raw = RawEngine.for_endpoint(Endpoint(None))
    assert raw is not None
    with pytest.raises(RawEngineError) as err:
        raw.inspect_container("pst-no-such-container-" + SESSION)
    assert err.value.status_code == 404
    assert raw.info()["ID"]


def test_a_malformed_or_short_answer_is_an_error_not_data(tmp_path) -> None:
    """What a real engine never sends (the SDK is asked instead): served by a one-shot unix socket."""
    import socket
    import threading

    for answer in (b"garbage\r\n\r\n", b"HTTP/1.0 200 OK\r\nContent-Length: 99\r\n\r\n[]",
                   b"HTTP/1.0 200 OK\r\n\r\n{not json"):
        path = str(tmp_path / "engine.sock")
        with socket.socket(socket.AF_UNIX) as server:
            server.bind(path)
            server.listen()

            def serve(server=server, answer=answer) -> None:
                conn, _ = server.accept()
                with conn:
                    conn.recv(4096)
                    conn.sendall(answer)

            threading.Thread(target=serve, daemon=True).start()
            with pytest.raises(RawEngineError):
                RawEngine(f"unix://{path}", timeout=5).containers(all=True)
        os.unlink(path)


def test_raw_client_only_for_plain_local_endpoints(monkeypatch) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_TLS_VERIFY", raising=False)
    monkeypatch.delenv("DOCKER_CERT_PATH", raising=False)
    assert raw_url(Endpoint(None)) == "unix:///var/run/docker.sock"
    assert raw_url(Endpoint("unix:///run/user/1000/docker.sock", "rootless")) == "unix:///run/user/1000/docker.sock"
    assert raw_url(Endpoint("tcp://127.0.0.1:2375")) == "tcp://127.0.0.1:2375"
    assert raw_url(Endpoint("ssh://me@box")) is None
    assert raw_url(Endpoint("tcp://box:2376", "remote")) is None  # a context may carry TLS material
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    assert raw_url(Endpoint("tcp://box:2376")) is None


def test_ports_json_does_not_import_the_docker_sdk(run_container, tmp_path) -> None:
    port = free_port()
    run_container({"80/tcp": port})
    script = (
        "import sys, io, contextlib\n"
        "from portside.app.cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    code = main(['ports', '--json', '--port', sys.argv[1]])\n"
        "heavy = sorted(m for m in ('docker', 'requests', 'urllib3', 'psutil') if m in sys.modules)\n"
        "print(json.dumps({'code': code, 'heavy': heavy, 'report': json.loads(out.getvalue())}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "DOCKER_CONTEXT")}
    env.update(PORTSIDE_STATE_DIR=str(tmp_path / "state"), XDG_CONFIG_HOME=str(tmp_path), DOCKER_CONFIG=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", "import json\n" + script, str(port)], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    sources = result["report"]["sources"]
    assert result["code"] == 0 and sources["docker"]["ok"]
    if not sources["swarm"]["ok"]:  # a swarm another test is taking down: the SDK was asked too (and failed)
        pytest.skip(f"swarm in transition: {sources['swarm']['error']}")
    assert result["heavy"] == []
    assert any(b["source"] == "docker" and b["port"] == port for b in result["report"]["bindings"])
