"""The code stays as checked as it is now: ruff (E, F, I, B, UP, SIM, ASYNC) and mypy on the core."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    exe = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert exe, f"{name} is not installed (it is in the test extras: pip install -e '.[test]')"
    return exe


def test_ruff_is_clean() -> None:
    proc = subprocess.run([_tool("ruff"), "check", "."], cwd=ROOT, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:]


def test_mypy_is_clean_on_app_and_integrators(tmp_path: Path) -> None:
    # mypy does not follow setuptools' editable import hook, so give it the installed
    # layout as links: portside/app -> app, and so on.
    (tmp_path / "portside").mkdir()
    for name in ("app", "screens", "integrators", "styles"):
        (tmp_path / "portside" / name).symlink_to(ROOT / name)
    proc = subprocess.run(
        [_tool("mypy"), "-p", "portside.app", "-p", "portside.integrators",
         "--cache-dir", str(ROOT / ".mypy_cache")],
        cwd=ROOT, capture_output=True, text=True, check=False,
        env={**os.environ, "MYPYPATH": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
