"""`portside recover`: list and resolve the journals of applies that were interrupted.

An apply killed halfway (SIGKILL, power loss) or one whose state store filled up
leaves a journal. `portside recover` finishes each one: files that still hold
what they held before get the new text, files that hold the new text are done,
and a file edited since is left alone and named with its backup. `remap` and
`undo` do the same first, for every journal. `--list` only shows them.

Exit 0 when no journal is left, 2 when one could not be resolved (its line says why).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from portside.app.cli import Ctx, Exit


def register(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "recover",
        help="finish or roll back applies that were interrupted (list with --list)",
        description="Resolve the journals of interrupted applies; a file edited since is never overwritten.",
    )
    p.add_argument("--list", action="store_true", help="only list the journals, change nothing")
    common(p)
    p.set_defaults(func=run)


def run(ctx: Ctx) -> int:
    from portside.app.journal import journals, recover

    found = journals(ctx.state.dir)
    listed = [{"id": j["id"], "phase": j.get("phase"), "decision": j.get("decision"), "title": j.get("title"),
               "files": [f["path"] for f in j.get("files", [])]} for j in found]
    if getattr(ctx.args, "list", False) or ctx.dry_run:
        text = "\n".join(f"{j['id']}  {j['phase']}  decision {j['decision'] or '-'}  {', '.join(j['files'])}"
                         for j in listed) or "no interrupted apply"
        ctx.emit(text, {"journals": listed})
        return Exit.OK
    lines = recover(ctx.state)
    left = journals(ctx.state.dir)
    ctx.emit("\n".join(lines) or "no interrupted apply", {"resolved": len(found) - len(left), "lines": lines,
                                                          "left": [j["id"] for j in left]})
    return Exit.ERROR if left else Exit.OK


def recover_first(ctx: Ctx) -> None:
    """What remap and undo do before planning: resolve every journal, report each outcome on stderr."""
    from portside.app.journal import journals, recover

    if not journals(ctx.state.dir):
        return
    for line in recover(ctx.state):
        ctx.warn(line)
