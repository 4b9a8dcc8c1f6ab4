"""Start-up as a budget, and one import name.

The headless commands import only what they use: no textual, no docker SDK on a
local socket, no httpx, and no pydantic schema is built for the engine's own
answers. The wheel installs `portside` and nothing generic, so it lives beside a
distribution that ships its own top-level `app` package.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port

PROBE = textwrap.dedent("""
    import io, json, sys, contextlib
    from portside.app.cli import main
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            code = main({args!r})
        except SystemExit as exc:
            code = exc.code
    built = []
    for name, mod in list(sys.modules.items()):
        if name in ("portside.app.models", "portside.app.config"):
            for k, v in vars(mod).items():
                if isinstance(v, type) and getattr(v, "__pydantic_complete__", False) and v.__module__ == name:
                    built.append(k)
    heavy = sorted(m for m in ("textual", "docker", "httpx", "pydantic", "yaml") if m in sys.modules)
    print(json.dumps({{"code": code, "heavy": heavy, "built": sorted(built), "out": out.getvalue()}}))
""")


def _probe(args: list[str]) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(args=args)], capture_output=True, text=True, check=False, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_version_and_help_import_no_library() -> None:
    for args in (["--version"], ["--help"]):
        r = _probe(args)
        assert r["code"] == 0 and "portside" in r["out"]
        assert r["heavy"] == [], r["heavy"]
    listed = _probe(["--help"])["out"]
    from portside.app.commands import COMMANDS

    assert all(f"    {name} " in listed for name in COMMANDS)


@pytest.mark.docker
def test_ports_and_conflicts_read_the_local_engine_without_sdk_httpx_or_schemas(run_container) -> None:
    c = run_container({"80/tcp": ("127.0.0.1", free_port())})
    for command in ("ports", "conflicts"):
        r = _probe([command, "--json"])
        assert r["code"] in (0, 1), r
        assert not {"textual", "docker", "httpx"} & set(r["heavy"]), r["heavy"]
        # The engine's answer and the default config are never validated. (Compose files on
        # disk are user input: the lived-in projects of this engine's containers are parsed.)
        engine_side = {"ContainerInfo", "Snapshot", "SourceStatus", "Conflict", "SwarmService",
                       "Config", "PortRange", "HealthOptions", "Notifications"}
        assert not engine_side & set(r["built"]), f"{command} built pydantic schemas for {r['built']}"
    ports = json.loads(_probe(["ports", "--json"])["out"])
    mine = [b for b in ports["bindings"] if b["container"] == c.name]
    assert len(mine) == 1 and mine[0]["target"] == 80 and mine[0]["state"] == "running"


def test_the_command_table_matches_what_the_modules_register() -> None:
    """`--help` lists the commands from a table: it must say what the modules say."""
    import argparse

    from portside.app.cli import command_modules
    from portside.app.commands import COMMANDS

    registered: dict[str, tuple[str, str]] = {}
    for mod in command_modules():
        sub = argparse.ArgumentParser().add_subparsers()
        mod.register(sub, lambda p: None)
        for action in sub._choices_actions:
            registered[action.dest] = (mod.__name__.rsplit(".", 1)[1], action.help or "")
    assert registered == COMMANDS


def test_plain_json_equals_pydantic_json() -> None:
    """The headless reports print `plain(model)`; it must be what model_dump(mode='json') gives."""
    from portside.app.models import (
        BindingState,
        Conflict,
        ConflictKind,
        PortBinding,
        PortOrigin,
        Protocol,
        Severity,
        Source,
        SourceStatus,
        plain,
    )

    origin = PortOrigin(file="/s/compose.yaml", line=3, column=9, text="${WEB:-80}", env_var="WEB", default="80")
    a = PortBinding(source=Source.COMPOSE, owner="compose:p/web", project="p", service="web", port=8080,
                    port_end=8082, target=80, target_end=82, protocol=Protocol.UDP,
                    state=BindingState.DECLARED, origin=origin)
    b = PortBinding(source=Source.HOST, owner="pid:7", host_ip="::", port=53, state=BindingState.LISTENING,
                    pid=7, process="dnsmasq")
    conflict = Conflict(kind=ConflictKind.HOST_PROCESS, severity=Severity.ERROR, port=8080, protocol=Protocol.UDP,
                        host_ip="0.0.0.0", parties=[a, b], message="m", fix="f")
    for model in (a, b, origin, conflict, SourceStatus(ok=False, error="x")):
        assert plain(model) == model.model_dump(mode="json")
    stamp = datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=UTC)
    from pydantic import TypeAdapter

    assert plain(stamp) == TypeAdapter(datetime).dump_python(stamp, mode="json")


def _venv(path: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    py = path / "bin" / "python"
    # the test venv's libraries (not its portside: a plain path line runs no .pth of that dir)
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    ours = [p for p in sys.path if p.endswith("site-packages")]
    Path(site, "deps.pth").write_text("\n".join(ours) + "\n")
    return py


@pytest.mark.slow
def test_wheel_installs_one_import_name_beside_a_distribution_with_its_own_app(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(dist), str(ROOT)], check=True, capture_output=True, timeout=300)
    wheel = next(dist.glob("portside-*.whl"))
    tops = {n.split("/")[0] for n in zipfile.ZipFile(wheel).namelist()}
    assert tops == {"portside", wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1] + ".dist-info"}

    # a web project's distribution that ships its own top-level `app`
    other = tmp_path / "webproj"
    (other / "app").mkdir(parents=True)
    (other / "app" / "__init__.py").write_text("raise ImportError('this is the web project app')\n")
    (other / "pyproject.toml").write_text(textwrap.dedent("""
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "webproj"
        version = "1.0"
        [tool.setuptools]
        packages = ["app"]
    """))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(dist), str(other)], check=True, capture_output=True, timeout=300)

    py = _venv(tmp_path / "venv")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    # the venv has no pip of its own: install with ours, targeting its site-packages
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    for whl in (wheel, next(dist.glob("webproj-*.whl"))):
        subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", site, str(whl)],
                       check=True, capture_output=True, timeout=300, env=env)
    # the console script as pip would write it for this venv
    script = tmp_path / "venv" / "bin" / "portside"
    script.write_text(f"#!{py}\nimport sys\nfrom portside.app.cli import main\nsys.exit(main())\n")
    script.chmod(0o755)

    work = tmp_path / "somewhere"
    (work / "app").mkdir(parents=True)  # the user's own project folder, with its own app/
    (work / "app" / "__init__.py").write_text("raise ImportError('the cwd app')\n")
    env["PYTHONPATH"] = "."
    env["PORTSIDE_STATE_DIR"] = str(tmp_path / "state")
    version = subprocess.run([str(script), "--version"], cwd=work, capture_output=True, text=True, env=env, timeout=60)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip().startswith("portside ")
    ports = subprocess.run([str(script), "ports", "--json"], cwd=work, capture_output=True, text=True, env=env,
                           timeout=120)
    assert ports.returncode in (0, 1, 2), ports.stderr
    assert "Traceback" not in ports.stderr
    assert "bindings" in json.loads(ports.stdout)
    # both distributions are installed, each with its own files
    both = subprocess.run([str(py), "-c", "import importlib.util, portside.app;"
                           "print(importlib.util.find_spec('app').origin)"],
                          cwd=tmp_path, capture_output=True, text=True, env={**env, "PYTHONPATH": ""}, timeout=60)
    assert both.returncode == 0, both.stderr
    assert both.stdout.strip() == str(Path(site, "app", "__init__.py"))
