"""`portside config`: where portside reads its config and keeps its state, and the validated values."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from portside.app.cli import Ctx, Exit

SECRET_WORDS = ("password", "secret", "token", "key")


def register(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "config",
        help="validate portside.yaml and show the effective settings (secrets redacted)",
        description="Validate the config file and print the effective settings. Exit 2 if invalid.",
    )
    common(p)
    p.set_defaults(func=run)


def redact_tree(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: redact_tree(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_tree(v, key) for v in value]
    if value and isinstance(value, str) and any(w in key.lower() for w in SECRET_WORDS):
        return "********"
    return value


def run(ctx: Ctx) -> int:
    from portside.app.state import default_state_dir

    cfg = ctx.config
    state_dir = ctx.args.state_dir or str(default_state_dir())
    data = {
        "config_file": str(cfg.source_path) if cfg.source_path else None,
        "state_dir": state_dir,
        "config": redact_tree(cfg.model_dump(mode="json")),
    }
    lines = [
        f"config file: {data['config_file'] or '(none found: built-in defaults)'}",
        f"state dir:   {state_dir}",
        f"port range:  {cfg.port_range.start}-{cfg.port_range.end}",
        f"reserved:    {', '.join(map(str, cfg.reserved_ports)) or '-'}",
        f"stacks:      {', '.join(cfg.stacks) or '-'}",
        f"integrations configured: {', '.join(sorted(cfg.integrations)) or '-'}",
    ]
    ctx.emit("\n".join(lines), data)
    return Exit.OK
