"""The command line: headless paths never import textual; exit codes; streams."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import run_portside

NO_TEXTUAL = (
    "import sys\n"
    "from portside.app.cli import main\n"
    "try:\n"
    "    main({args!r})\n"
    "except SystemExit:\n"
    "    pass\n"
    "assert 'textual' not in sys.modules, sorted(m for m in sys.modules if m.startswith('textual'))\n"
    "print('clean')\n"
)


def _headless(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", NO_TEXTUAL.format(args=args)], capture_output=True, text=True, check=False
    )


def test_version_and_help_do_not_import_textual() -> None:
    for args in (["--version"], ["--help"], ["config"], ["--json", "config"]):
        proc = _headless(args)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip().endswith("clean")


def test_console_script_version() -> None:
    proc = run_portside("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == "portside 0.1.0"


def test_python_dash_m_app_works() -> None:
    proc = subprocess.run([sys.executable, "-m", "portside.app", "--version"], capture_output=True, text=True, check=False)
    assert proc.stdout.strip() == "portside 0.1.0"


def test_common_options_before_or_after_the_subcommand(cli) -> None:
    code_a, out_a, _ = cli("--json", "config")
    code_b, out_b, _ = cli("config", "--json")
    assert code_a == code_b == 0
    assert json.loads(out_a) == json.loads(out_b)


def test_tui_without_a_terminal_says_so() -> None:
    proc = run_portside()
    assert proc.returncode == 2
    assert "needs a terminal" in proc.stderr
    assert proc.stdout == ""


def test_unknown_command_is_usage_error() -> None:
    proc = run_portside("frobnicate")
    assert proc.returncode == 2
    assert "invalid choice" in proc.stderr
