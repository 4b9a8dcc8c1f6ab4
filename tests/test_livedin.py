"""The rig on a lived-in machine: the swarm fixture's marks, and the world check that `.ci/run`
runs around the test command (it leaves out what the suite makes, and sees any other change)."""

from __future__ import annotations

import importlib.util
import os
from typing import Any

import pytest

from tests.conftest import LABEL, ROOT, SWARM_USER


def world_check() -> Any:
    spec = importlib.util.spec_from_file_location("world_check", ROOT / "scripts" / "world_check.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.docker
def test_the_swarm_fixture_marks_only_a_swarm_the_suite_started(swarm: Any) -> None:
    node = swarm.nodes.get(swarm.info()["Swarm"]["NodeID"])
    labels = node.attrs["Spec"].get("Labels") or {}
    if labels.get(LABEL) == "1":  # the suite's swarm: this session is one of its users until it ends
        assert labels.get(SWARM_USER) == str(os.getpid())
    else:  # a user's swarm: used as it is, its node not relabelled
        assert not any(k.startswith(f"{LABEL}.") for k in labels)


@pytest.mark.docker
def test_world_check_leaves_out_the_suites_containers_and_their_ports(run_container) -> None:
    wc = world_check()
    c = run_container({"80/tcp": ("127.0.0.1", None)})
    port = c.ports["80/tcp"][0]["HostPort"]
    now = wc.snapshot()
    assert not any(line.startswith(f"{c.name} ") for line in now["containers"])
    assert not any(f":{port} " in line for line in now["listening sockets"])


def test_world_check_names_what_changed() -> None:
    wc = world_check()
    before = {"swarm": ["inactive"], "containers": ["db image=postgres status=running ports=- mounts=-"],
              "listening sockets": ["tcp 127.0.0.1:1883 mosquitto"]}
    after = {"swarm": ["inactive (the suite's swarm)"], "containers": ["db image=postgres status=exited ports=- mounts=-"],
             "listening sockets": []}
    assert wc.differences(before, after) == [
        "containers: gone: db image=postgres status=running ports=- mounts=-",
        "containers: new: db image=postgres status=exited ports=- mounts=-",
        "listening sockets: gone: tcp 127.0.0.1:1883 mosquitto",
    ]
    assert wc.differences(before, before) == []
