"""The Docker source against the real engine: running and stopped containers, v4+v6, ranges, udp, health."""

from __future__ import annotations

import time

import pytest

from portside.app.models import BindingState, HealthState, Protocol
from portside.app.sources.docker_src import container_from_api, health_from_status, list_containers
from tests.conftest import free_port


def _mine(client, container) -> object:
    [info] = [c for c in list_containers(client) if c.id == container.id]
    return info


def test_running_container_ports_ipv4_ipv6_udp_and_a_range(docker_client, run_container) -> None:
    tcp, udp, rng = free_port(), free_port(), free_port()
    c = run_container(
        {"80/tcp": tcp, "53/udp": udp, "81/tcp": ("127.0.0.1", rng), "82/tcp": ("127.0.0.1", rng + 1)},
        labels={"com.docker.compose.project": "shop", "com.docker.compose.service": "web"},
    )
    info = _mine(docker_client, c)
    assert info.state == "running" and info.project == "shop" and info.service == "web"
    by_port = {}
    for b in info.ports:
        by_port.setdefault((b.port, b.protocol), []).append(b)
        assert b.owner == f"container:{c.name}" and b.state is BindingState.RUNNING
    assert {b.host_ip for b in by_port[(tcp, Protocol.TCP)]} >= {"0.0.0.0"}  # plus "::" with IPv6
    assert by_port[(tcp, Protocol.TCP)][0].target == 80
    assert (udp, Protocol.UDP) in by_port
    [r] = by_port[(rng, Protocol.TCP)]  # 81 and 82 published consecutively: one range
    assert (r.port_end, r.target, r.target_end, r.host_ip) == (rng + 1, 81, 82, "127.0.0.1")


def test_stopped_container_reports_the_ports_it_will_claim(docker_client, run_container) -> None:
    port = free_port()
    c = run_container({"80/tcp": port, "90/tcp": None}, start=False)
    info = _mine(docker_client, c)
    assert info.state == "created" and not info.running
    [b] = info.ports  # the ephemeral 90/tcp claims nothing fixed
    assert (b.port, b.target, b.state) == (port, 80, BindingState.STOPPED)


def test_healthcheck_status_comes_from_the_status_text(docker_client, run_container) -> None:
    c = run_container(
        {"80/tcp": free_port()},
        healthcheck={"test": ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1/health"],
                     "interval": 200_000_000, "start_period": 0},
    )
    deadline = time.monotonic() + 30  # the first check runs one interval after start
    while True:
        info = _mine(docker_client, c)
        if info.health is HealthState.HEALTHY or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert info.health is HealthState.HEALTHY, info.status
    plain = run_container({"80/tcp": free_port()})
    assert _mine(docker_client, plain).health is None


@pytest.mark.parametrize(("status", "health"), [
    ("Up 3 minutes (healthy)", HealthState.HEALTHY),
    ("Up 5 seconds (health: starting)", HealthState.STARTING),
    ("Up 2 hours (unhealthy)", HealthState.UNHEALTHY),
    ("Exited (0) 3 minutes ago", None),
])
def test_health_from_status(status: str, health: HealthState | None) -> None:
    assert health_from_status(status) is health


def test_swarm_task_container_ports_belong_to_the_service() -> None:
    raw = {"Id": "a" * 64, "Names": ["/api.1.x"], "State": "running", "Status": "Up",
           "Labels": {"com.docker.swarm.service.name": "api"},
           "Ports": [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
                     {"IP": "0.0.0.0", "PrivatePort": 5000, "PublicPort": 5000, "Type": "sctp"}]}
    [b] = container_from_api(raw).ports
    assert b.owner == "swarm:api" and b.port == 8080
