"""A person at a terminal: the real `portside` command in tmux, first screen, `?`, `q`."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

from tests.conftest import require


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=False).stdout


def wait_for(session: str, needle: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = tmux("capture-pane", "-p", "-t", session)
        if needle in screen:
            return screen
        time.sleep(0.2)
    raise AssertionError(f"{needle!r} never appeared; screen was:\n{screen}")


def test_portside_in_tmux_opens_shows_help_and_quits(tmp_path: Path) -> None:
    require("tmux")
    exe = shutil.which("portside", path=str(Path(sys.executable).parent))
    assert exe, "the portside console script is not installed in this environment"
    session = f"pst-{uuid.uuid4().hex[:6]}"
    marker = tmp_path / "exited"
    tmux(
        "new-session", "-d", "-s", session, "-x", "80", "-y", "24",
        f"{exe} --state-dir {tmp_path / 'state'}; echo $? > {marker}; sleep 30",
    )
    try:
        screen = wait_for(session, "Containers")
        assert "portside" in screen
        tmux("send-keys", "-t", session, "?")
        screen = wait_for(session, "portside keys")
        assert "Quit" in screen
        tmux("send-keys", "-t", session, "Escape")
        time.sleep(0.5)
        tmux("send-keys", "-t", session, "q")
        deadline = time.monotonic() + 10
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert marker.read_text().strip() == "0"
    finally:
        tmux("kill-session", "-t", session)
