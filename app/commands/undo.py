"""`portside undo ID`: restore the files a decision changed, if nobody changed them since."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from portside.app.cli import Ctx, Exit


def register(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "undo",
        help="restore the files of a decision (refused if they changed since)",
        description="Undo a decision: its files go back to their backups, recorded as a new decision.",
    )
    p.add_argument("id", type=int, help="the decision id (see `portside decisions`)")
    common(p)
    p.set_defaults(func=run)


def run(ctx: Ctx) -> int:
    from portside.app.commands.recover import recover_first
    from portside.app.errors import PortsideError
    from portside.app.executor import render_diff
    from portside.app.remapping import plan_undo, undo

    if not ctx.dry_run:
        recover_first(ctx)
    decision = ctx.state.decision(ctx.args.id)
    if decision is None:
        raise PortsideError(f"no decision {ctx.args.id}; `portside decisions` lists them")
    if ctx.dry_run:
        plan = plan_undo(decision)
        ctx.emit(f"{plan.title}\n\n{render_diff(plan)}\ndry run: nothing was written",
                 {"plan": plan.model_dump(mode="json"), "applied": False})
        return Exit.OK
    result = undo(ctx.state, ctx.config, ctx.args.id)
    d = result.decision
    text = f"undid decision {ctx.args.id} as decision {d.id}: restored {', '.join(d.files) or 'nothing'}"
    if decision.moves:
        text += "\nrestart required for the services it moved (docker compose up -d)"
    ctx.emit(text, {"applied": True, "decision": d.model_dump(mode="json")})
    return Exit.OK
