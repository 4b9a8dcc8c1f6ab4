"""Save SVG screenshots of the dashboard for the README (uses whatever runs on this engine).

    .venv/bin/python scripts/screenshot.py [--project-dir DIR ...] [--out docs]

Opens the real app headless at 100x30, waits for the first snapshot, and saves
the Ports and Containers screens as SVG.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from portside.app.config import load_config
from portside.app.tui import make_app


async def shoot(args: argparse.Namespace) -> None:
    ns = argparse.Namespace(host=None, context=None, project_dir=args.project_dir, compose_files=[])
    app = make_app(config=load_config(None), args=ns)
    out = Path(args.out)
    async with app.run_test(size=(100, 30)) as pilot:
        for _ in range(100):
            if getattr(app, "snapshot", None) is not None:
                break
            await pilot.pause(0.1)
        await pilot.pause(1.0)
        await pilot.press("2")
        await pilot.pause(0.5)
        app.save_screenshot(str(out / "ports.svg"))
        await pilot.press("1")
        await pilot.pause(0.5)
        app.save_screenshot(str(out / "containers.svg"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--project-dir", action="append", default=[])
    p.add_argument("--out", default="docs")
    args = p.parse_args()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    asyncio.run(shoot(args))


if __name__ == "__main__":
    main()
