"""`portside events`: the event log — conflicts found, ports remapped, integrations applied, health changes."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from portside.app.cli import Ctx, Exit


def register(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "events",
        help="show the event log (what notifications were sent about), newest first",
        description="List recorded events: conflict-found, port-remapped, integration-applied, health-changed.",
    )
    p.add_argument("--kind", action="append", default=[], help="only events of this kind (repeatable)")
    p.add_argument("--limit", type=int, default=50, help="how many events at most (default 50)")
    common(p)
    p.set_defaults(func=run)


def run(ctx: Ctx) -> int:
    rows = ctx.state.events(limit=max(1, ctx.args.limit) if not ctx.args.kind else 100_000)
    if ctx.args.kind:
        rows = [r for r in rows if r["kind"] in ctx.args.kind][: max(1, ctx.args.limit)]
    lines = [f"{r['at'][:19].replace('T', ' ')}  {r['kind']:20} {r.get('message', '')}" for r in rows]
    ctx.emit("\n".join(lines) if lines else "no events recorded yet", {"events": rows})
    return Exit.OK
