"""`portside export --format json`: the registry as a ports.json a person can read and keep in git.

Shape: {"version": 1, "updated_at", "range": {start, end}, "reserved": [...],
"assignments": {key: {port, port_end, protocol, pinned, updated_at}},
"history": [{key, port, port_end, protocol, at, decision_id}]}. `portside import` reads it back.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from portside.app.cli import Ctx, Exit
from portside.app.models import utcnow


def register(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser("export", help="write the port registry as ports.json (assignments, history, reserved)",
                       description="Export the port registry. Writes to stdout unless -o FILE is given.")
    p.add_argument("--format", choices=["json"], default="json", help="output format (json)")
    p.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    common(p)
    p.set_defaults(func=run)


def ports_json(ctx: Ctx) -> dict[str, Any]:
    rows = ctx.state.registry()
    cfg = ctx.config
    return {
        "version": 1,
        "updated_at": max((r["updated_at"] for r in rows), default=utcnow().isoformat()),
        "range": {"start": cfg.port_range.start, "end": cfg.port_range.end},
        "reserved": sorted(cfg.reserved_ports),
        "assignments": {
            r["key"]: {"port": r["port"], "port_end": r["port_end"], "protocol": r["protocol"],
                       "pinned": bool(r["pinned"]), "updated_at": r["updated_at"]}
            for r in rows
        },
        "history": [
            {k: h[k] for k in ("key", "port", "port_end", "protocol", "at", "decision_id")}
            for h in ctx.state.port_history()
        ],
    }


def run(ctx: Ctx) -> int:
    data = ports_json(ctx)
    text = json.dumps(data, indent=2, sort_keys=False) + "\n"
    if ctx.args.output:
        # the state dir is ours, but this file is the user's: plain write, then rename
        out = Path(ctx.args.output)
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out)
        ctx.err.write(f"portside: wrote {len(data['assignments'])} assignments to {out}\n")
    else:
        ctx.out.write(text)
    return Exit.OK
