"""`portside verify KIND`: prove an applied integration works against the running service."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from portside.app.cli import Ctx, Exit
from portside.app.commands.integrate import add_set_option, prepare_from_args


def register(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "verify",
        help="check an integration against the real service (send a test mail, connect to the broker)",
        description="Run an integration's checks with its applied settings; exit 1 if any fails.",
    )
    p.add_argument("kind", metavar="KIND", help="integration kind")
    add_set_option(p)
    common(p)
    p.set_defaults(func=run)


def run(ctx: Ctx) -> int:
    from portside.app.snapshot import snapshot_for
    from portside.integrators import engine

    prepared = prepare_from_args(ctx, ctx.args.kind)
    checks = engine.verify(prepared, snapshot_for(ctx), ctx.state)
    ok = all(c.ok for c in checks)
    lines = [f"{'ok  ' if c.ok else 'FAIL'} {c.name}{': ' + c.detail if c.detail else ''}" for c in checks]
    lines.append(f"{prepared.kind} ({prepared.ctx.scope}): {'verified' if ok else 'checks failed'}")
    data = {
        "kind": prepared.kind,
        "scope": prepared.ctx.scope,
        "ok": ok,
        "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in checks],
    }
    ctx.emit("\n".join(lines), data)
    return Exit.OK if ok else Exit.PROBLEMS
