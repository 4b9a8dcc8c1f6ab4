"""Health polling against real containers: healthy, HTTP 500, a hung endpoint, a failing HEALTHCHECK.

Plus the notification path: a real local HTTP server receives the webhook for
a healthy -> unhealthy transition exactly once, and one for the recovery.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import pytest

from portside.app import events
from portside.app.config import Config
from portside.app.health import Poller, TargetStatus
from portside.app.health_targets import build_targets
from portside.app.models import HealthState, Snapshot
from portside.app.sources.docker_src import container_from_api
from portside.app.state import State
from tests.conftest import free_port
from tests.test_events import Sink

pytestmark = pytest.mark.docker

INTERVAL = 0.5
TIMEOUT = 1.5


def cgi(script: str) -> list[str]:
    """busybox httpd serving /cgi-bin/health from `script` (a real HTTP server answering as told)."""
    body = "#!/bin/sh\n" + script + "\n"
    return [
        "sh",
        "-c",
        'mkdir -p /www/cgi-bin && printf "%s" "$0" > /www/cgi-bin/health'
        " && chmod +x /www/cgi-bin/health && exec httpd -f -p 80 -h /www",
        body,
    ]


def snapshot_of(docker_client: Any, *containers: Any) -> Snapshot:
    """A Snapshot of just these containers, built by the discovery source's own parser."""
    raw = docker_client.api.containers(all=True, filters={"id": [c.id for c in containers]})
    return Snapshot(containers=[container_from_api(r) for r in raw])


def config(**notifications: Any) -> Config:
    return Config.model_validate(
        {
            "health": {"interval": INTERVAL, "timeout": TIMEOUT, "slow_ms": 1000},
            "notifications": notifications,
        }
    )


async def poll_until(poller: Poller, done, limit: float = 30.0) -> None:
    """Run the poller until done() holds (the limit only guards against a hang of the test)."""
    changed = asyncio.Event()
    poller.on_update = lambda _st: changed.set()
    task = asyncio.create_task(poller.run())
    try:
        async with asyncio.timeout(limit):
            while not done():
                await changed.wait()
                changed.clear()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_each_kind_of_target_gets_its_status(docker_client, run_container, tmp_path):
    ok = run_container({"80/tcp": free_port()}, labels={"portside.health": "/health"})
    err = run_container(
        {"80/tcp": free_port()},
        command=cgi("printf 'HTTP/1.0 500 Internal Server Error\\r\\n\\r\\nboom\\n'"),
        labels={"portside.health": "/cgi-bin/health"},
    )
    hang = run_container(
        {"80/tcp": free_port()},
        command=cgi("exec sleep 3600"),
        labels={"portside.health": "/cgi-bin/health"},
    )
    sick = run_container(
        healthcheck={
            "test": ["CMD", "false"],
            "interval": 200_000_000,
            "timeout": 1_000_000_000,
            "retries": 1,
        }
    )
    cfg = config()
    targets = {
        t.container: t for t in build_targets(snapshot_of(docker_client, ok, err, hang, sick), cfg)
    }
    assert {targets[c.name].kind for c in (ok, err, hang)} == {"http"}
    assert targets[sick.name].kind == "docker"  # no HTTP endpoint known: Docker's HEALTHCHECK

    poller = Poller(cfg, state_dir=tmp_path / "state")
    poller.set_targets(targets.values())
    by = {c.name: poller.statuses[targets[c.name].id] for c in (ok, err, hang, sick)}

    def settled() -> bool:
        return all(len(st.history) >= 2 for st in by.values())

    await poll_until(poller, settled)
    await poller.aclose()

    def first_two(st: TargetStatus) -> list[HealthState]:
        return [s.status for s in list(st.history)[:2]]

    # The right status by the second poll at the latest.
    assert HealthState.HEALTHY in first_two(by[ok.name])
    assert HealthState.UNHEALTHY in first_two(by[err.name])
    assert by[err.name].last_error == "HTTP 500 (expected 2xx)"
    assert HealthState.UNHEALTHY in first_two(by[hang.name])
    assert by[hang.name].last_error == f"no answer within {TIMEOUT:g} s"
    assert HealthState.UNHEALTHY in first_two(by[sick.name])
    assert by[sick.name].status == HealthState.UNHEALTHY

    # The hang held only its own check: the healthy target kept being polled meanwhile.
    hang_first = by[hang.name].history[0]
    assert hang_first.latency_ms is not None and hang_first.latency_ms >= TIMEOUT * 1000
    during = [s for s in by[ok.name].history if s.at < hang_first.at]
    assert len(during) >= 2, [s.at for s in by[ok.name].history]
    assert all(s.status == HealthState.HEALTHY and s.latency_ms < TIMEOUT * 1000 for s in during)

    # Samples are in the state store, keyed by target.
    stored = State(tmp_path / "state").health_samples(targets[err.name].id)
    assert stored and stored[-1].status == HealthState.UNHEALTHY


async def test_webhook_once_per_transition(docker_client, run_container, tmp_path, monkeypatch):
    monkeypatch.setattr(events, "BACKOFF", 0.05)
    sink = Sink()
    web = run_container({"80/tcp": free_port()}, labels={"portside.health": "/health"})
    cfg = config(webhooks=[sink.url + "/hook"])
    poller = Poller(cfg, state_dir=tmp_path / "state")
    (target,) = build_targets(snapshot_of(docker_client, web), cfg)
    poller.set_targets([target])
    st = poller.statuses[target.id]
    try:
        await poll_until(poller, lambda: st.status == HealthState.HEALTHY)
        await asyncio.to_thread(web.exec_run, ["rm", "/www/health"])
        await poll_until(poller, lambda: st.status == HealthState.UNHEALTHY)
        await asyncio.to_thread(web.exec_run, ["sh", "-c", "echo ok > /www/health"])
        await poll_until(poller, lambda: st.status == HealthState.HEALTHY)
        # a few more polls while healthy: no further notification
        n = len(st.history)
        await poll_until(poller, lambda: len(st.history) >= n + 2)
        await poller.aclose()
        assert await events.aflush(10)
        got = sink.wait_for(2)
        bodies = [json.loads(r["body"]) for r in got]
        assert [(b["old"], b["new"]) for b in bodies] == [
            ("healthy", "unhealthy"),
            ("unhealthy", "healthy"),
        ]
        assert bodies[0]["kind"] == "health-changed" and bodies[0]["container"] == web.name
        assert "404" in bodies[0]["error"]
        kinds = [e["kind"] for e in State(tmp_path / "state").events()]
        assert kinds == ["health-changed", "health-changed"]
    finally:
        sink.close()


def test_cli_reports_and_exits_by_status(docker_client, run_container, cli):
    ok = run_container({"80/tcp": free_port()}, labels={"portside.health": "/health"})
    bad = run_container({"80/tcp": free_port()}, labels={"portside.health": "/missing"})
    code, out, _err = cli("health", ok.name, "--json")
    assert code == 0, out
    data = json.loads(out)
    assert [(t["name"], t["status"]) for t in data["targets"]] == [(ok.name, "healthy")]
    code, out, _err = cli("health", ok.name, bad.name)
    assert code == 1
    line = next(line for line in out.splitlines() if bad.name in line)
    assert line.startswith("unhealthy") and "HTTP 404" in line


def test_watch_prints_each_change_until_interrupted(docker_client, run_container, tmp_path):
    """`portside health NAME --watch --json`: one line per status change, a clean exit on Ctrl-C."""
    import signal
    import subprocess
    import sys
    import time

    (tmp_path / "portside.yaml").write_text("health: {interval: 0.3, timeout: 1.0}\n")
    web = run_container({"80/tcp": free_port()}, labels={"portside.health": "/health"})
    proc = subprocess.Popen(
        [sys.executable, "-m", "portside.app", "health", web.name, "--watch", "--json"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        first = json.loads(proc.stdout.readline())
        assert first["status"] == "healthy", first
        web.exec_run(["rm", "/www/health"])
        second = json.loads(proc.stdout.readline())  # the next line is the change, nothing in between
        assert second["status"] == "unhealthy" and second["detail"] == "HTTP 404", second
        proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 20
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.returncode == 1  # it ended on an unhealthy target
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
