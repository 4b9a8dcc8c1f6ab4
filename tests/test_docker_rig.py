"""The real-engine rig: labelled containers publish ports that the docker SDK reads back."""

from __future__ import annotations

import contextlib
import urllib.request

from tests.conftest import LABEL, SESSION, free_port


def test_containers_publish_ports_read_back_through_the_sdk(docker_client, run_container) -> None:
    port = free_port()
    c = run_container({"80/tcp": ("127.0.0.1", port)})
    assert c.status == "running"
    bindings = c.attrs["NetworkSettings"]["Ports"]["80/tcp"]
    assert {"HostIp": "127.0.0.1", "HostPort": str(port)} in bindings
    body = ""
    for _ in range(50):
        with contextlib.suppress(OSError):
            body = urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).read().decode()
            break
    assert body.strip() == "ok"
    listed = docker_client.containers.list(filters={"label": f"{LABEL}.session={SESSION}"})
    assert c.id in {x.id for x in listed}


def test_stopped_container_keeps_its_port_bindings(run_container) -> None:
    port = free_port()
    c = run_container({"80/tcp": port}, start=False)
    assert c.status == "created"
    assert c.attrs["HostConfig"]["PortBindings"]["80/tcp"][0]["HostPort"] == str(port)
