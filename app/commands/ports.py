"""`portside ports`: every port binding from every source, with conflicting ones flagged."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from portside.app.cli import Ctx, Exit
from portside.app.commands.conflicts import EnumValues, start_reads


def register(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "ports",
        help="list every port binding: containers, swarm, compose files, host processes, registry",
        description="List every port binding from every source, sorted by port; the conflict "
        "column names the worst conflict a binding takes part in.",
    )
    p.add_argument(
        "--source",
        action="append",
        choices=EnumValues("Source"),
        metavar="SOURCE",  # argparse would list the choices at once (importing pydantic)
        help="only bindings from this source: %(choices)s (repeatable)",
    )
    p.add_argument("--port", type=int, help="only bindings that include this port")
    common(p)
    p.set_defaults(func=run)


def run(ctx: Ctx) -> int:
    start_reads(ctx)
    from portside.app.commands.conflicts import analyze_run
    from portside.app.models import plain
    from portside.app.ports.analysis import conflicting_owners
    from portside.app.snapshot import sources_json

    snap, conflicts = analyze_run(ctx)
    flagged = conflicting_owners(conflicts)
    wanted = set(ctx.args.source or [])
    port = ctx.args.port
    rows = [
        b
        for b in sorted(snap.bindings, key=lambda b: (b.port, b.protocol.value, b.host_ip, b.owner))
        if (not wanted or b.source.value in wanted) and (port is None or b.port <= port <= b.last_port)
    ]
    data = {
        "taken_at": snap.taken_at.isoformat(),
        "sources": sources_json(snap),
        "bindings": [
            {**plain(b), "conflict": flagged[b.owner].value if b.owner in flagged else None}
            for b in rows
        ],
    }
    lines = [f"{'PORT':<14}{'ADDRESS':<16}{'SOURCE':<9}{'STATE':<10}{'OWNER':<30}CONFLICT"]
    for b in rows:
        sev = flagged.get(b.owner)
        target = f" -> {b.target}" if b.target is not None else ""
        lines.append(
            f"{b.port_text():<14}{b.host_ip:<16}{b.source.value:<9}{b.state.value:<10}"
            f"{(b.label() + target)[:29]:<30}{sev.value if sev else ''}"
        )
    if not rows:
        lines = ["no port bindings found"]
    ctx.emit("\n".join(lines), data)
    return Exit.OK
