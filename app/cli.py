"""The `portside` command: the TUI with no arguments, `--auto`, or a subcommand.

Headless paths never import textual (it is imported only when the TUI opens).
Subcommands are the modules of `app.commands`: each defines `register(sub)`
which adds its parser and sets `func=run(ctx) -> int`; a module may also define
`auto_step(ctx) -> StepReport` and `AUTO_ORDER` to take part in `--auto`.

stdout carries the report (text, or JSON with `--json`); diagnostics go to
stderr. Exit codes: 0 ok, 1 problems found, 2 error.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from functools import cached_property
from types import ModuleType
from typing import TYPE_CHECKING, Any, TextIO

from portside.app import __version__
from portside.app.errors import PortsideError

if TYPE_CHECKING:
    from portside.app.config import Config
    from portside.app.state import State


class Exit(IntEnum):
    OK = 0
    PROBLEMS = 1
    ERROR = 2


@dataclass
class Ctx:
    """What every command gets: parsed args, lazily loaded config and state, the streams."""

    args: argparse.Namespace
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)

    @property
    def json(self) -> bool:
        return bool(getattr(self.args, "json", False))

    @property
    def dry_run(self) -> bool:
        return bool(getattr(self.args, "dry_run", False))

    @cached_property
    def config(self) -> Config:
        from portside.app.config import load_config

        return load_config(getattr(self.args, "config", None))

    @cached_property
    def state(self) -> State:
        from portside.app.state import State

        return State(getattr(self.args, "state_dir", None))

    def emit(self, text: str, data: Any) -> None:
        """Print the report: `data` as JSON with --json, else `text`."""
        if self.json:
            # one write: json.dump to a stream writes every token separately (2x slower on big reports)
            self.out.write(json.dumps(data, indent=2, default=str, sort_keys=False) + "\n")
        elif text:
            self.out.write(text if text.endswith("\n") else text + "\n")

    def warn(self, message: str) -> None:
        self.err.write(f"portside: {message}\n")


@dataclass
class StepReport:
    """One step of `--auto`: its exit code, a text section and a JSON-able value."""

    name: str
    exit_code: int
    text: str
    data: Any


# --------------------------------------------------------------------- the parser


def _add_common(p: argparse.ArgumentParser, *, suppress: bool) -> None:
    """Options accepted before or after the subcommand (`portside --json ports` == `ports --json`)."""

    def d(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    g = p.add_argument_group("common options")
    g.add_argument("--config", metavar="FILE", default=d(None), help="portside.yaml to use")
    g.add_argument("--state-dir", metavar="DIR", default=d(None), help="where the state store lives")
    g.add_argument("--json", action="store_true", default=d(False), help="print the report as JSON")
    g.add_argument(
        "--dry-run", action="store_true", default=d(False), help="plan and show, change nothing"
    )
    g.add_argument("--host", metavar="URL", default=d(None), help="Docker host (like DOCKER_HOST)")
    g.add_argument("--context", metavar="NAME", default=d(None), help="Docker context to use")
    g.add_argument(
        "--project-dir",
        metavar="DIR",
        action="append",
        default=d([]),
        help="a compose project to include (repeatable)",
    )
    g.add_argument(
        "-f",
        "--file",
        dest="compose_files",
        metavar="FILE",
        action="append",
        default=d([]),
        help="a compose file to include (repeatable)",
    )
    g.add_argument("--debug", action="store_true", default=d(False), help="show tracebacks")


def _module_names() -> set[str]:
    import portside.app.commands as pkg

    return {i.name for i in pkgutil.iter_modules(pkg.__path__) if not i.name.startswith("_")}


def command_modules(only: str | None = None) -> list[ModuleType]:
    """The command modules (`only`: just that module)."""
    return [
        importlib.import_module(f"portside.app.commands.{name}")
        for name in sorted(_module_names())
        if only in (None, name)
    ]


def _value_options() -> frozenset[str]:
    """The common options that take a value (they may stand before the command name)."""
    p = argparse.ArgumentParser(add_help=False)
    _add_common(p, suppress=False)
    return frozenset(s for a in p._actions if a.nargs != 0 for s in a.option_strings)


def requested_command(argv: list[str]) -> str | None:
    """The command argv names, when that is certain (then only its module is imported:
    importing all of them costs more than `portside ports` itself). None: no command, or
    not certain."""
    from portside.app.commands import COMMANDS

    takes_value = _value_options()
    skip = False
    for token in argv:
        if skip:
            skip = False
        elif token in COMMANDS:
            return token
        elif token in takes_value:
            skip = True
        elif not token.startswith("-") or token in ("-h", "--help"):
            return None  # an unknown command (argparse says so) or help
    return None


def _table_is_complete() -> bool:
    from portside.app.commands import COMMANDS

    return {module for module, _ in COMMANDS.values()} == _module_names()


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="portside",
        description="Ports, conflicts, remapping, integrations and health for self-hosted Docker "
        "stacks. With no command, opens the dashboard.",
        epilog="Exit codes: 0 ok, 1 problems found, 2 error.",
    )
    p.add_argument("--version", action="version", version=f"portside {__version__}")
    p.add_argument(
        "--auto",
        action="store_true",
        help="headless pass: discover, report conflicts, remap by policy, apply enabled "
        "integrations, one health pass",
    )
    p.add_argument("--yes", action="store_true", help="with --auto: apply without asking")
    p.add_argument(
        "--recreate", action="store_true", help="with --auto: recreate moved services"
    )
    _add_common(p, suppress=False)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    from portside.app.commands import COMMANDS

    if only is None and _table_is_complete():
        # `portside --help`, or no command: list the commands from the table, import none.
        for name, (_, summary) in COMMANDS.items():
            sub.add_parser(name, help=summary, add_help=False)
        return p
    module = COMMANDS[only][0] if only in COMMANDS else None
    for mod in command_modules(module):
        register: Callable[[Any, Callable[[argparse.ArgumentParser], None]], None] = mod.register
        register(sub, lambda sp: _add_common(sp, suppress=True))
    return p


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["--version"]:  # the one answer that needs no parser
        sys.stdout.write(f"portside {__version__}\n")
        return Exit.OK
    args = build_parser(requested_command(argv)).parse_args(argv)
    ctx = Ctx(args)
    try:
        if args.host:
            os.environ["DOCKER_HOST"] = args.host
        if args.command:
            code = int(args.func(ctx))
        elif args.auto:
            code = run_auto(ctx)
        else:
            code = run_tui(ctx)
    except PortsideError as exc:
        ctx.warn(str(exc))
        code = Exit.ERROR
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:
        code = Exit.OK
    except Exception as exc:  # the user gets one line; --debug shows the rest
        if getattr(args, "debug", False):
            raise
        ctx.warn(f"internal error: {type(exc).__name__}: {exc} (re-run with --debug for details)")
        code = Exit.ERROR
    events = sys.modules.get("portside.app.events")
    if events is not None and not events.flush(15.0):  # notifications queued by this run
        ctx.warn("some notifications were not delivered in time; they are still in `portside events`")
    return code


def run_tui(ctx: Ctx) -> int:
    if not sys.stdout.isatty() and not os.environ.get("PORTSIDE_FORCE_TUI"):
        ctx.warn("the dashboard needs a terminal; use a subcommand or --auto (see --help)")
        return Exit.ERROR
    config = ctx.config  # a bad config fails here, before the screen takes over
    from portside.app.tui import make_app

    app = make_app(config=config, args=ctx.args)
    app.run()
    return int(app.return_code or 0)


def run_auto(ctx: Ctx) -> int:
    """Every command module's `auto_step`, in AUTO_ORDER; the exit code is the worst."""
    steps = sorted(
        (m for m in command_modules() if hasattr(m, "auto_step")),
        key=lambda m: getattr(m, "AUTO_ORDER", 100),
    )
    reports: list[StepReport] = []
    for mod in steps:
        reports.append(mod.auto_step(ctx))
    code = max((r.exit_code for r in reports), default=Exit.OK)
    if ctx.json:
        ctx.emit("", {"exit_code": code, "steps": {r.name: r.data for r in reports}})
    else:
        parts = [f"== {r.name} ==\n{r.text.rstrip()}\n" for r in reports]
        if not reports:
            parts.append("nothing to do: no automatic steps are installed\n")
        ctx.emit("\n".join(parts), None)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
