"""`portside remap`: plan, preview and apply port remaps for conflicting compose services.

`portside remap` resolves every error-severity conflict a compose edit can fix
(with `--project-dir DIR`: only those projects' services move);
`portside remap PROJECT/SERVICE --port N [--to M]` moves one binding. The plan
is printed as a unified diff; `--dry-run` stops there, `--yes` applies without
asking. Also step 20 of `portside --auto` (applies only with `--yes`).

Exit 0 when no error-severity conflict remains (in scope), 1 otherwise, 2 on failure.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from portside.app.cli import Ctx, Exit, StepReport
from portside.app.compose_edit import port_text
from portside.app.errors import PortsideError
from portside.app.models import Conflict, Plan, Snapshot

AUTO_ORDER = 20


def register(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "remap",
        help="move conflicting compose ports to free ones (diff first; --yes applies)",
        description="Resolve every error-severity port conflict by editing the compose file (or its "
        ".env) of the side that should move. Exit 0 when none remains, 1 otherwise, 2 on failure.",
    )
    p.add_argument("target", nargs="?", metavar="PROJECT/SERVICE", help="move one service's port instead")
    p.add_argument("--port", type=int, metavar="N", help="with PROJECT/SERVICE: the host port to move")
    p.add_argument("--to", type=int, metavar="M", help="with PROJECT/SERVICE: the new port (default: a free one)")
    p.add_argument("--yes", "-y", action="store_true", default=argparse.SUPPRESS, help="apply without asking")
    p.add_argument("--recreate", action="store_true", default=argparse.SUPPRESS,
                   help="run `docker compose up -d SERVICE` for moved services")
    common(p)
    p.set_defaults(func=run)


def _scope(ctx: Ctx, snap: Snapshot) -> set[str] | None:
    """Project names the run may touch: those of --project-dir/-f, or None for all."""
    dirs = {str(Path(d).expanduser().absolute()) for d in (getattr(ctx.args, "project_dir", None) or [])}
    files = {str(Path(f).expanduser().absolute()) for f in (getattr(ctx.args, "compose_files", None) or [])}
    if not dirs and not files:
        return None
    return {p.name for p in snap.projects if p.project_dir in dirs or files & set(p.compose_files)}


def _in_scope(c: Conflict, scope: set[str] | None) -> bool:
    return scope is None or any(p.project in scope for p in c.parties)


def _world(ctx: Ctx, refresh: bool = False) -> tuple[Snapshot, list[Conflict]]:
    from portside.app.ports.analysis import analyze
    from portside.app.snapshot import policy_for, snapshot_for

    snap = snapshot_for(ctx, refresh=refresh)
    return snap, analyze(snap, policy_for(ctx.config, snap))


def make_plan(ctx: Ctx, snap: Snapshot, conflicts: list[Conflict]) -> Plan:
    from portside.app.ports.remap import plan_move, plan_remap
    from portside.app.remapping import error_conflicts, remap_context

    rctx = remap_context(ctx.config, ctx.state, snap, recreate=bool(getattr(ctx.args, "recreate", False)))
    target = getattr(ctx.args, "target", None)
    if target:
        if ctx.args.port is None:
            raise PortsideError(f"remap {target}: give --port N (the host port to move)")
        try:
            return plan_move(snap, target, ctx.args.port, ctx.args.to, rctx)
        except (LookupError, ValueError) as exc:
            raise PortsideError(str(exc).strip("'\"")) from None
    scope = _scope(ctx, snap)
    if scope is not None:
        rctx.config = rctx.config.model_copy(update={"pinned": [*rctx.config.pinned, *_outside(snap, scope)]})
    return plan_remap(snap, [c for c in error_conflicts(conflicts) if _in_scope(c, scope)], rctx)


def _outside(snap: Snapshot, scope: set[str]) -> list[str]:
    return sorted({f"{b.project}/{b.service}" for b in snap.bindings if b.project and b.service
                   and b.project not in scope})


def _plan_json(plan: Plan, diff: str) -> dict[str, Any]:
    return {"title": plan.title, "moves": [m.model_dump(mode="json") for m in plan.moves],
            "files": [e.path for e in plan.edits], "warnings": plan.warnings, "diff": diff}


def remap(ctx: Ctx, *, apply: bool, confirm: Callable[[Ctx], bool] | None = None) -> tuple[int, str, dict[str, Any]]:
    """Plan, show, and (with `apply`) apply. `confirm`: ask after showing the plan; the plan it
    showed is the one applied (refused if a file changed meanwhile), never a new one."""
    from portside.app.commands.recover import recover_first
    from portside.app.executor import render_diff
    from portside.app.remapping import apply_remap, error_conflicts

    if apply and not ctx.dry_run:
        recover_first(ctx)
    snap, conflicts = _world(ctx)
    scope = _scope(ctx, snap)
    errors = [c for c in error_conflicts(conflicts) if _in_scope(c, scope)]
    plan = make_plan(ctx, snap, conflicts)
    diff = render_diff(plan)
    data: dict[str, Any] = {"plan": _plan_json(plan, diff), "applied": False, "decision": None,
                            "errors_before": len(errors)}
    lines: list[str] = []
    if plan.empty:
        if not errors:
            lines.append("nothing to do: no error-severity port conflict" + (" in scope" if scope else ""))
        lines += [f"cannot fix: {w}" for w in plan.warnings]
        data["remaining_errors"] = len(errors)
        return (Exit.OK if not errors else Exit.PROBLEMS), "\n".join(lines), data
    lines += [plan.title, "", diff.rstrip()]
    lines += [f"warning: {w}" for w in plan.warnings]
    if ctx.dry_run or not apply:
        lines.append("\ndry run: nothing was written" if ctx.dry_run else "\nnot applied: re-run with --yes")
        data["remaining_errors"] = len(errors)
        return (Exit.PROBLEMS if errors else Exit.OK), "\n".join(lines), data
    if confirm is not None:
        ctx.emit("\n".join(lines), data)
        lines = []
        if not confirm(ctx):
            data["remaining_errors"] = len(errors)
            return (Exit.PROBLEMS if errors else Exit.OK), "not applied", data
    result = apply_remap(plan, ctx.state, ctx.config, run_actions=True)
    d = result.decision
    data["applied"], data["decision"] = True, d.model_dump(mode="json")
    lines.append(f"{'' if confirm else chr(10)}applied as decision {d.id} (undo: portside undo {d.id}); backups in "
                 f"{', '.join(b for b in d.backups.values() if b) or '-'}")
    for action, ok, msg in result.action_results:
        lines.append(f"{'recreated' if ok else 'recreate FAILED'}: {' '.join(action.services)} ({msg})")
    if not plan.actions:
        moved = sorted({f"{m.project}/{m.service}" for m in plan.moves})
        lines.append(f"restart required: {', '.join(moved)} (docker compose up -d, or re-run with --recreate)")
        data["restart_required"] = moved
    _snap, after = _world(ctx, refresh=True)
    remaining = [c for c in error_conflicts(after) if _in_scope(c, scope)]
    data["remaining_errors"] = len(remaining)
    lines += [f"still conflicting: {c.message}" for c in remaining]
    return (Exit.PROBLEMS if remaining else Exit.OK), "\n".join(lines), data


def _confirm(ctx: Ctx) -> bool:
    if getattr(ctx.args, "yes", False):
        return True
    if ctx.dry_run or ctx.json or not sys.stdin.isatty():
        return False
    ctx.err.write("apply this plan? [y/N] ")
    ctx.err.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def run(ctx: Ctx) -> int:
    yes = bool(getattr(ctx.args, "yes", False))
    interactive = not (yes or ctx.dry_run or ctx.json) and sys.stdin.isatty()
    code, text, data = remap(ctx, apply=yes or interactive, confirm=_confirm if interactive else None)
    ctx.emit(text, data)
    return code


def auto_step(ctx: Ctx) -> StepReport:
    try:
        code, text, data = remap(ctx, apply=bool(getattr(ctx.args, "yes", False)))
    except PortsideError as exc:
        return StepReport("remap", Exit.ERROR, f"error: {exc}", {"error": str(exc)})
    return StepReport("remap", code, text, data)


def describe_move(m: Any) -> str:
    return f"{m.project}/{m.service} {port_text(m.old_port, m.old_port_end)}->{port_text(m.new_port, m.new_port_end)}"
