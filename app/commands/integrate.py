"""`portside integrate KIND`: plan, preview and apply one integration; `--auto` step 30.

Settings come from the last applied ones, then `portside.yaml`
(`integrations: {KIND: {...}}`), then `--set key=value` (dotted keys; `[...]`
and `{...}` values are YAML). `--project-dir DIR` picks the compose project
(scope and output dir `DIR/portside/`); without it the scope is `global`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from portside.app.cli import Ctx, Exit, StepReport

AUTO_ORDER = 30


def register(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "integrate",
        help="write the config that wires an integration (email, mqtt, ...) into a stack",
        description="Plan an integration, show the diff (secrets hidden), apply it through the "
        "executor and record it. Re-running with the same settings changes nothing.",
    )
    p.add_argument("kind", metavar="KIND", help="integration kind (see `portside integrations`)")
    add_set_option(p)
    common(p)
    p.set_defaults(func=run)


def add_set_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--set",
        dest="set",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="a setting (repeatable; dotted keys; [..]/{..} values are YAML)",
    )


def project_dir_of(ctx: Ctx) -> str | None:
    dirs = getattr(ctx.args, "project_dir", None) or []
    return dirs[-1] if dirs else None


def prepare_from_args(ctx: Ctx, kind: str) -> Any:
    from portside.app.snapshot import snapshot_for
    from portside.integrators import engine

    sets = engine.parse_sets(getattr(ctx.args, "set", None))
    return engine.prepare_kind(kind, snapshot_for(ctx), ctx.config, ctx.state,
                               project_dir=project_dir_of(ctx), sets=sets)


def describe(prepared: Any, outcome: Any | None, dry_run: bool) -> tuple[str, dict[str, Any]]:
    plan = prepared.plan
    data: dict[str, Any] = {
        "kind": prepared.kind,
        "scope": prepared.ctx.scope,
        "output_dir": str(prepared.ctx.output_dir),
        "dry_run": dry_run,
        "changes": [{"path": e.path, "secret": e.secret, "description": e.description} for e in plan.edits],
        "warnings": list(plan.warnings),
        "diff": prepared.diff,
    }
    lines = [f"{plan.title or prepared.kind} (scope {prepared.ctx.scope}, files in {prepared.ctx.output_dir})"]
    lines += [f"warning: {w}" for w in plan.warnings]
    if plan.edits:
        lines.append(prepared.diff.rstrip())
    if outcome is not None:
        rec = outcome.record
        data.update(applied=not outcome.noop, noop=outcome.noop, version=rec.version,
                    status=rec.status.value, decision_id=outcome.decision_id)
        data["live"] = list(getattr(outcome, "live", []))
        lines += [f"live: {item}" for item in data["live"]]
        if outcome.noop:
            lines.append(f"no changes: already applied (version {rec.version}, status {rec.status.value})")
        else:
            lines.append(f"applied: {len(outcome.written)} file(s) written, record version {rec.version}"
                         f"; run `portside verify {prepared.kind}` to prove it works")
            if prepared.ctx.project_dir and any(e.path.endswith(".env") or "compose." in e.path for e in plan.edits):
                lines.append(f"then recreate the consumers: cd {prepared.ctx.project_dir} && docker compose up -d")
    elif dry_run:
        lines.append("dry run: nothing written" if plan.edits else "dry run: no changes needed")
    return "\n".join(lines), data


def run(ctx: Ctx) -> int:
    from portside.integrators import engine

    prepared = prepare_from_args(ctx, ctx.args.kind)
    if ctx.dry_run:
        text, data = describe(prepared, None, True)
        ctx.emit(text, data)
        return Exit.OK
    outcome = engine.apply(prepared, ctx.state, config=ctx.config)
    text, data = describe(prepared, outcome, False)
    ctx.emit(text, data)
    return Exit.OK


def auto_step(ctx: Ctx) -> StepReport:
    """Apply every integration the config enables (plan only with --dry-run)."""
    from portside.app.errors import PortsideError
    from portside.integrators import engine

    kinds = engine.enabled_kinds(ctx.config)
    texts: list[str] = []
    results: dict[str, Any] = {}
    code = Exit.OK
    for kind in kinds:
        try:
            prepared = prepare_from_args(ctx, kind)
            outcome = None if ctx.dry_run else engine.apply(prepared, ctx.state, config=ctx.config)
            text, data = describe(prepared, outcome, ctx.dry_run)
        except PortsideError as exc:
            text, data, code = f"{kind}: error: {exc}", {"error": str(exc)}, Exit.ERROR
        texts.append(text)
        results[kind] = data
    if not kinds:
        texts.append("no integrations enabled in the config (integrations: {KIND: {...}})")
    return StepReport(name="integrations", exit_code=code, text="\n\n".join(texts), data=results)
