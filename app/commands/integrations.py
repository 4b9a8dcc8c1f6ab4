"""`portside integrations`: the integration records (status, files, drift) and the known kinds."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from portside.app.cli import Ctx, Exit


def register(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "integrations",
        help="list applied integrations with their status; hand-edited files show as drifted",
        description="List integration records (kind, scope, status, version, files) with drift "
        "against what portside wrote. Exit 1 when one is drifted or in error.",
    )
    common(p)
    p.set_defaults(func=run)


def run(ctx: Ctx) -> int:
    from portside.integrators import engine
    from portside.integrators.base import load_integrators

    rows: list[dict[str, Any]] = []
    lines: list[str] = []
    problems = False
    for rec in ctx.state.integrations():
        if not rec.files and rec.version == 0:
            continue  # secrets kept before a first apply
        rec, drift = engine.with_drift(rec, ctx.state)
        problems |= rec.status.value in ("drifted", "error")
        row = rec.model_dump(mode="json")
        row["drift"] = [{"path": d.path, "change": d.change, "diff": d.diff} for d in drift]
        rows.append(row)
        when = f"{rec.applied_at:%Y-%m-%d %H:%M}" if rec.applied_at else "-"
        lines.append(f"{rec.kind:<12} {rec.scope:<20} {rec.status.value:<11} v{rec.version:<3} "
                     f"{when}  {len(rec.files)} file(s)  {rec.health or ''}".rstrip())
        for d in drift:
            lines.append(f"  {d.change}: {d.path}")
            lines += [f"    {line}" for line in d.diff.rstrip().splitlines()]
        if rec.error:
            lines.append(f"  error: {rec.error}")
    kinds = sorted(load_integrators())
    from portside.integrators.base import LOAD_ERRORS

    for spec, why in LOAD_ERRORS.items():
        ctx.warn(f"integrator {spec} did not load: {why}")
    if not rows:
        lines.append("no integrations applied yet")
    lines.append(f"available: {', '.join(kinds)}")
    ctx.emit("\n".join(lines), {"integrations": rows, "available": kinds})
    return Exit.PROBLEMS if problems else Exit.OK
