"""`portside health [NAME...] [--json] [--watch]`: poll every health target once (or keep polling).

Exit 0 when nothing is unhealthy, 1 when something is, 2 when the check itself
failed (Docker unreachable, bad config). `--auto` runs one pass (AUTO_ORDER 40).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from portside.app.cli import Ctx, Exit, StepReport
from portside.app.health import Poller, TargetStatus, exit_code
from portside.app.health_targets import Target, build_targets
from portside.app.models import HealthState, Snapshot

AUTO_ORDER = 40
MARK = {"healthy": "ok", "degraded": "~", "unhealthy": "!!", "unknown": "?"}


def register(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "health",
        help="poll every service's health endpoint once (or keep watching)",
        description="Poll health targets: HTTP endpoints (portside.health labels, the service "
        "catalog, health.checks in portside.yaml), Docker HEALTHCHECK status, TCP ports. "
        "Exit 0 all healthy, 1 any unhealthy, 2 failure.",
    )
    p.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help="only these targets: container names, check names or target ids (globs allowed)",
    )
    p.add_argument(
        "--watch",
        action="store_true",
        help="keep polling and print each status change (Ctrl-C stops)",
    )
    common(p)
    p.set_defaults(func=run)


def discover(ctx: Ctx) -> tuple[list[Target], str | None]:
    """Targets from a fresh snapshot plus the config; the Docker error if the engine is unreachable."""
    from portside.app.snapshot import SnapshotOptions, take_snapshot

    snap: Snapshot = take_snapshot(ctx.config, SnapshotOptions.from_args(ctx.args))
    docker = snap.sources.get("docker")
    error = None if docker is None or docker.ok else f"Docker: {docker.error}"
    targets = build_targets(snap, ctx.config)
    names = list(getattr(ctx.args, "names", None) or [])
    if names:
        targets = [t for t in targets if any(_matches(t, n) for n in names)]
    return targets, error


def _matches(t: Target, pattern: str) -> bool:
    from fnmatch import fnmatchcase

    return any(fnmatchcase(v, pattern) for v in (t.id, t.name, t.container or "") if v)


def render(statuses: list[TargetStatus]) -> str:
    if not statuses:
        return "no health targets (label a container portside.health=/path, or add health.checks)"
    lines = [f"{'STATUS':<10} {'LATENCY':>8}  {'TARGET':<28} DETAIL"]
    for st in sorted(statuses, key=lambda s: s.target.id):
        ms = f"{st.latency_ms:.0f} ms" if st.latency_ms is not None else "-"
        why = st.last_error if st.status == HealthState.UNHEALTHY else (st.detail or "")
        lines.append(f"{st.status.value:<10} {ms:>8}  {st.target.name:<28} {why or ''}".rstrip())
    counts: dict[str, int] = {}
    for st in statuses:
        counts[st.status.value] = counts.get(st.status.value, 0) + 1
    lines.append(", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    return "\n".join(lines)


async def one_pass(ctx: Ctx, targets: list[Target]) -> list[TargetStatus]:
    poller = Poller(ctx.config, state_dir=getattr(ctx.args, "state_dir", None))
    try:
        return await poller.poll_once(targets)
    finally:
        await poller.aclose()


def check_once(ctx: Ctx) -> tuple[int, str, dict[str, Any]]:
    from portside.app import events

    targets, error = discover(ctx)
    statuses = asyncio.run(one_pass(ctx, targets))
    events.flush(15)  # notifications of transitions go out before the process ends
    code = Exit.ERROR if error else exit_code(statuses)
    text = render(statuses) + (f"\nerror: {error}" if error else "")
    data = {"exit_code": int(code), "error": error, "targets": [s.as_dict() for s in statuses]}
    return int(code), text, data


def run(ctx: Ctx) -> int:
    if getattr(ctx.args, "watch", False):
        return watch(ctx)
    code, text, data = check_once(ctx)
    if data["error"]:
        ctx.warn(data["error"])
    ctx.emit(text, data)
    return code


def watch(ctx: Ctx) -> int:
    """Poll on each target's schedule; print a line (or a JSON object per line) per change."""
    import json

    from portside.app import events

    targets, error = discover(ctx)
    if error:
        ctx.warn(f"{error} (polling the config's checks only)")
    last: dict[str, str] = {}

    def show(st: TargetStatus) -> None:
        if last.get(st.target.id) == st.status.value:
            return
        last[st.target.id] = st.status.value
        if ctx.json:
            ctx.out.write(json.dumps(st.as_dict()) + "\n")
        else:
            ms = f"{st.latency_ms:.0f} ms" if st.latency_ms is not None else "-"
            ctx.out.write(
                f"{st.status.value:<10} {ms:>8}  {st.target.name}  {st.last_error or ''}\n"
            )
        ctx.out.flush()

    poller = Poller(ctx.config, state_dir=getattr(ctx.args, "state_dir", None), on_update=show)
    poller.set_targets(targets)

    async def main() -> None:
        try:
            await poller.run()
        finally:
            await poller.aclose()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
    events.flush(15)
    return Exit.ERROR if error else exit_code(poller.statuses.values())


def auto_step(ctx: Ctx) -> StepReport:
    try:
        code, text, data = check_once(ctx)
    except Exception as exc:  # one failing step must not sink the others' reports
        return StepReport("health", Exit.ERROR, f"health check failed: {exc}", {"error": str(exc)})
    return StepReport("health", code, text, data)
