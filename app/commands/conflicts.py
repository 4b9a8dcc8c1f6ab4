"""`portside conflicts`: every port conflict between the sources, with severity and a fix.

Also step 10 of `portside --auto` (discovery: sources + conflicts).
Exit 1 when a conflict of error severity exists (something will fail), else 0.
"""

from __future__ import annotations

import argparse
import importlib
from collections import Counter
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from portside.app.cli import Ctx, Exit, StepReport

if TYPE_CHECKING:
    from portside.app.models import Conflict, Snapshot

AUTO_ORDER = 10


class EnumValues:
    """argparse `choices`: the values of an app.models enum, looked up only when argparse needs them
    (--help, or the option given). app.models imports pydantic (~100 ms); `ports` and `conflicts` ask
    the engine first and import it while the engine answers."""

    def __init__(self, name: str) -> None:
        self.name = name

    def _values(self) -> list[str]:
        return [e.value for e in getattr(importlib.import_module("portside.app.models"), self.name)]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values())

    def __contains__(self, value: object) -> bool:
        return value in self._values()


def start_reads(ctx: Ctx) -> None:
    """Ask a local engine for its containers and scan the host's listeners now, while Python
    imports the rest (see app.sources.early)."""
    from portside.app.sources import early

    early.start(getattr(ctx.args, "host", None), getattr(ctx.args, "context", None))


def register(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "conflicts",
        help="list port conflicts between containers, swarm, compose files, host processes and the registry",
        description="Find every port conflict. Exit 1 if one of error severity exists (an `up` or a "
        "start will fail), 0 otherwise.",
    )
    p.add_argument(
        "--severity",
        choices=EnumValues("Severity"),
        default="info",
        metavar="SEVERITY",  # argparse would list the choices at once (importing pydantic)
        help="show conflicts of this severity and worse: %(choices)s (default: all)",
    )
    common(p)
    p.set_defaults(func=run)


def conflict_json(c: Conflict) -> dict[str, Any]:
    from portside.app.models import plain

    return {"key": c.key, **plain(c)}


def analyze_run(ctx: Ctx) -> tuple[Snapshot, list[Conflict]]:
    from portside.app.ports.analysis import analyze
    from portside.app.snapshot import policy_for, snapshot_for

    snap = snapshot_for(ctx)
    for name, st in sorted(snap.sources.items()):
        if not st.ok:
            ctx.warn(f"source {name} unavailable: {st.error}")
    conflicts = analyze(snap, policy_for(ctx.config, snap))
    announce(ctx, conflicts)
    return snap, conflicts


def announce(ctx: Ctx, conflicts: list[Conflict]) -> None:
    """A `conflict-found` event for each error/warning conflict not seen at the last run."""
    from portside.app.events import CONFLICT_FOUND, announce_new
    from portside.app.models import Severity

    items = {
        c.key: {"message": c.message, "severity": c.severity.value, "port": c.port, "fix": c.fix}
        for c in conflicts
        if c.severity is not Severity.INFO
    }
    announce_new(ctx.state, ctx.config, CONFLICT_FOUND, "conflicts", items)


def report(snap: Snapshot, conflicts: list[Conflict], minimum: str = "info") -> tuple[int, str, dict[str, Any]]:
    from portside.app.models import Severity
    from portside.app.ports.analysis import SEVERITY_ORDER
    from portside.app.snapshot import sources_json

    limit = SEVERITY_ORDER[Severity(minimum)]
    shown = [c for c in conflicts if SEVERITY_ORDER[c.severity] <= limit]
    counts = Counter(c.severity.value for c in shown)
    summary = {s.value: counts.get(s.value, 0) for s in Severity}
    data = {
        "taken_at": snap.taken_at.isoformat(),
        "sources": sources_json(snap),
        "summary": summary,
        "conflicts": [conflict_json(c) for c in shown],
    }
    if shown:
        lines = [f"{c.severity.value.upper():8}{c.kind.value:21}{c.message}\n{'':29}fix: {c.fix}" for c in shown]
        parts = ", ".join(f"{n} {s}" for s, n in summary.items() if n)
        lines.append(f"{len(shown)} conflicts: {parts}")
    else:
        lines = [f"no conflicts ({len(snap.bindings)} bindings checked)"]
    code = Exit.PROBLEMS if summary["error"] else Exit.OK
    return code, "\n".join(lines), data


def run(ctx: Ctx) -> int:
    start_reads(ctx)
    snap, conflicts = analyze_run(ctx)
    code, text, data = report(snap, conflicts, getattr(ctx.args, "severity", "info"))
    ctx.emit(text, data)
    return code


def auto_step(ctx: Ctx) -> StepReport:
    snap, conflicts = analyze_run(ctx)
    code, text, data = report(snap, conflicts)
    return StepReport(name="conflicts", exit_code=code, text=text, data=data)
