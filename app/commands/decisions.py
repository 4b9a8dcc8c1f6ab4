"""`portside decisions`: the audit log of applied plans (who, when, what moved, why, the diff)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from portside.app.cli import Ctx, Exit
from portside.app.compose_edit import port_text
from portside.app.errors import PortsideError
from portside.app.models import Decision


def register(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "decisions",
        help="list applied plans (remaps, integrations, undos) with who, when and why",
        description="The decisions log. With an ID: that decision with its diff.",
    )
    p.add_argument("id", nargs="?", type=int, help="show one decision with its diff")
    p.add_argument("--limit", type=int, default=50, help="how many to list (default 50)")
    common(p)
    p.set_defaults(func=run)


def summary(d: Decision) -> str:
    moves = ", ".join(
        f"{m.project}/{m.service} {port_text(m.old_port, m.old_port_end)}->{port_text(m.new_port, m.new_port_end)}"
        for m in d.moves
    )
    undone = f"  [undone by #{d.undone_by}]" if d.undone_by else ""
    status = "" if d.status == "applied" else f"  [{d.status}]"
    return f"#{d.id}  {d.at:%Y-%m-%d %H:%M:%S}  {d.actor}  {d.kind}: {moves or d.title}{undone}{status}"


def run(ctx: Ctx) -> int:
    if ctx.args.id is not None:
        d = ctx.state.decision(ctx.args.id)
        if d is None:
            raise PortsideError(f"no decision {ctx.args.id}; `portside decisions` lists them")
        text = "\n".join([summary(d), f"why: {d.reason or '-'}", *(f"backup: {p} <- {b}" for p, b in d.backups.items()),
                          *(f"action: {a}" for a in d.actions), "", d.diff.rstrip()])
        ctx.emit(text, d.model_dump(mode="json"))
        return Exit.OK
    items = ctx.state.decisions(limit=ctx.args.limit)
    text = "\n".join(summary(d) for d in items) or "no decisions yet"
    ctx.emit(text, {"decisions": [d.model_dump(mode="json") for d in items]})
    return Exit.OK
