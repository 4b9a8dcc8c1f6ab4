"""The design's boundaries, checked: the core and integrators never pull in textual."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def core_modules() -> list[str]:
    names = []
    for pkg in ("app", "integrators"):
        for info in pkgutil.walk_packages([str(ROOT / pkg)], prefix=f"portside.{pkg}."):
            if info.name not in ("portside.app.tui", "portside.app.__main__") and not info.name.startswith("portside.app.tui_"):
                names.append(info.name)
    return names


def test_core_and_integrators_do_not_import_textual() -> None:
    mods = core_modules()
    assert "portside.app.cli" in mods and "portside.integrators.base" in mods
    code = (
        "import importlib, sys\n"
        f"for m in {mods!r}:\n"
        "    importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "assert not bad, bad[:5]\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_every_command_module_follows_the_pattern() -> None:
    from portside.app.cli import command_modules

    for mod in command_modules():
        assert callable(getattr(mod, "register", None)), f"{mod.__name__} has no register()"
