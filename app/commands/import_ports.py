"""`portside import FILE`: read a ports.json (from `portside export`) back into the registry.

Assignments are set (pinned flags included); history entries not yet known are
added; reserved ports belong to portside.yaml, so the report lists any missing there.
Importing the same file twice changes nothing the second time.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from portside.app.cli import Ctx, Exit
from portside.app.errors import PortsideError


def register(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser("import", help="read a ports.json back into the port registry",
                       description="Import assignments and history from a ports.json written by `portside export`.")
    p.add_argument("file", metavar="FILE", help="the ports.json to read")
    common(p)
    p.set_defaults(func=run)


def load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PortsideError(f"{path}: cannot read ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise PortsideError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg}); fix the syntax") from None
    if not isinstance(data, dict) or not isinstance(data.get("assignments", {}), dict):
        raise PortsideError(f"{path}:1: expected an object with \"assignments\": {{key: {{port: ...}}}}")
    for key, a in data.get("assignments", {}).items():
        if not isinstance(a, dict) or not isinstance(a.get("port"), int) or not 0 < a["port"] < 65536:
            raise PortsideError(f"{path}: assignments.{key}: needs \"port\": 1-65535")
    return data


def run(ctx: Ctx) -> int:
    path = Path(ctx.args.file)
    data = load(path)
    state = ctx.state
    current = {r["key"]: r for r in state.registry()}
    changed = 0
    for key, a in data.get("assignments", {}).items():
        now = current.get(key)
        same = now and (now["port"], now["port_end"], now["protocol"], bool(now["pinned"])) == (
            a["port"], a.get("port_end"), a.get("protocol", "tcp"), bool(a.get("pinned")))
        if not same:
            state.set_assignment(key, a["port"], port_end=a.get("port_end"), protocol=a.get("protocol", "tcp"),
                                 pinned=bool(a.get("pinned")))
            changed += 1
    known = {(h["key"], h["port"], h["at"]) for h in state.port_history()}
    added = 0
    with state.tx() as db:
        for h in data.get("history", []):
            if (h["key"], h["port"], h["at"]) not in known:
                db.execute("INSERT INTO port_history(key, port, port_end, protocol, at, decision_id) VALUES(?,?,?,?,?,?)",
                           (h["key"], h["port"], h.get("port_end"), h.get("protocol", "tcp"), h["at"], None))
                added += 1
    missing = sorted(set(data.get("reserved", [])) - set(ctx.config.reserved_ports))
    text = f"imported {path}: {changed} assignment(s) changed, {added} history entr(y/ies) added"
    if missing:
        text += f"\nreserved in the file but not in portside.yaml: {', '.join(map(str, missing))} (add them to reserved_ports)"
    ctx.emit(text, {"assignments_changed": changed, "history_added": added, "reserved_missing": missing})
    return Exit.OK
