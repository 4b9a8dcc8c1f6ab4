"""The TUI's poller process (app.health_worker): statuses come through, it dies with its parent."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.widgets import DataTable

from portside.app.config import Config
from portside.app.health_targets import Target
from portside.app.health_worker import HealthProcess, Mirror
from portside.app.models import HealthState
from portside.app.state import State
from portside.app.tui import make_app
from tests.test_health_http import Server, server  # noqa: F401 (a fixture)

ROOT = Path(__file__).resolve().parent.parent
CFG = Config.model_validate({"health": {"interval": 0.3, "timeout": 1.0}})


def targets(base: str) -> list[Target]:
    return [
        Target(id=f"check:{p}", name=p, kind="http", url=f"{base}/{p}", interval=0.3, timeout=1)
        for p in ("ok", "missing")
    ]


def gone(pid: int) -> bool:
    """No such process, or a zombie nobody reaped yet (it has exited all the same)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def wait_for(cond: Callable[[], bool], limit: float = 20.0) -> None:
    deadline = time.monotonic() + limit
    while not cond():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.05)


def test_child_reports_batches_stores_samples_and_exits_on_eof(
    server: Server,  # noqa: F811
    tmp_path: Path,
) -> None:
    child = HealthProcess(CFG, tmp_path / "state")
    mirror = Mirror()
    ts = targets(server.url)
    mirror.set_targets(ts)
    child.start()
    try:
        child.set_targets(ts)
        for _ in range(200):
            batches, ended = child.get(0.25)
            assert not ended, child.error
            for b in batches:
                mirror.apply(b)
            sts = mirror.statuses
            if all(len(sts[t.id].history) >= 2 for t in ts):
                break
        assert sts["check:ok"].status == HealthState.HEALTHY
        assert sts["check:missing"].status == HealthState.UNHEALTHY
        assert "404" in (sts["check:missing"].last_error or "")
        assert [s.status for s in sts["check:ok"].history][:2] == [HealthState.HEALTHY] * 2
    finally:
        proc = child.proc
        child.close(timeout=10)
    assert proc is not None and proc.returncode == 0  # end of input: a clean exit
    stored = State(tmp_path / "state").health_samples("check:missing")
    assert stored and stored[-1].status == HealthState.UNHEALTHY


def test_child_dies_with_its_parent(tmp_path: Path) -> None:
    """SIGKILL the process that started the poller: the poller goes too (no orphan)."""
    code = (
        "import sys, time\n"
        "from portside.app.config import Config\n"
        "from portside.app.health_worker import HealthProcess\n"
        "p = HealthProcess(Config(), None)\n"
        "p.start()\n"
        "print(p.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    env = {**os.environ, "PORTSIDE_STATE_DIR": str(tmp_path)}
    parent = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env
    )
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        assert not gone(pid)
        parent.kill()
        parent.wait()
        wait_for(lambda: gone(pid))
    finally:
        if parent.poll() is None:
            parent.kill()


@pytest.mark.docker  # the app's own discovery talks to the engine meanwhile
async def test_tui_shows_child_statuses_and_the_child_ends_with_the_app(
    server: Server,  # noqa: F811
) -> None:
    ts = targets(server.url)
    app = make_app(config=CFG)
    app.health_targets = lambda: ts
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("4")
        table = app.screen.query_one(DataTable)

        def shown() -> list[str]:
            return [str(table.get_cell(t.id, "status")) for t in ts if t.id in table.rows]

        for _ in range(300):
            if shown() == ["healthy", "unhealthy"]:
                break
            await pilot.pause(0.05)
        assert shown() == ["healthy", "unhealthy"]
        pid = app.health_worker.pid
        assert pid is not None and pid != os.getpid() and not gone(pid)
    wait_for(lambda: gone(pid))
