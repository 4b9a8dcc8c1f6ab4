"""Benchmark: one health poll cycle over 1,000 local HTTP endpoints, and the TUI while it polls.

    .venv/bin/python benchmarks/bench_health.py [--endpoints 1000] [--concurrency 50 200]

- A separate process runs one asyncio server listening on N ports (answers
  `200 ok`, Connection: close), so the poller and the servers do not share a CPU
  loop.
- For each concurrency, a fresh process runs two poll cycles with the real
  Poller (state store on, in a temp dir) and reports the wall time of each and
  the process's peak RSS (ru_maxrss, whole interpreter included) plus the peak
  of Python allocations during the cycles (tracemalloc, run separately).
- Then the dashboard runs headless (Pilot, 120x40) with those N targets polled
  at concurrency 200, and we time key presses (cursor down in the
  Health table) until the table shows the move — median, p95 and worst — with
  the poller idle, at the default 15 s interval (the first, full cycle runs
  while we press) and at a 1 s interval (1,000 checks a second, a stress case).

Target (issue 7): one cycle over 1,000 endpoints in under 3 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# ------------------------------------------------------------------ the servers


async def serve(n: int) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(RESPONSE)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    servers = [await asyncio.start_server(handle, "127.0.0.1", 0, backlog=256) for _ in range(n)]
    ports = [s.sockets[0].getsockname()[1] for s in servers]
    sys.stdout.write(json.dumps(ports) + "\n")
    sys.stdout.flush()
    await asyncio.Event().wait()


def start_servers(n: int) -> tuple[subprocess.Popen[str], list[int]]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(n)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    return proc, json.loads(proc.stdout.readline())


def targets_for(ports: list[int], interval: float = 15.0):  # type: ignore[no-untyped-def]
    from app.health_targets import Target

    return [
        Target(
            id=f"http:bench-{p}",
            name=f"bench-{p}",
            kind="http",
            url=f"http://127.0.0.1:{p}/health",
            interval=interval,
            timeout=5.0,
            source="config",
        )
        for p in ports
    ]


# ---------------------------------------------------------------- one cycle


def config(concurrency: int):  # type: ignore[no-untyped-def]
    from app.config import Config

    return Config.model_validate({"health": {"concurrency": concurrency, "timeout": 5.0}})


async def cycles(ports: list[int], concurrency: int, trace: bool) -> dict[str, object]:
    import tracemalloc

    from app.health import Poller
    from app.models import HealthState

    with tempfile.TemporaryDirectory() as state_dir:
        poller = Poller(config(concurrency), state_dir=state_dir)
        poller.set_targets(targets_for(ports))
        if trace:
            tracemalloc.start()
        times = []
        for _ in range(2):
            t0 = time.perf_counter()
            statuses = await poller.poll_once()
            times.append(time.perf_counter() - t0)
        peak = tracemalloc.get_traced_memory()[1] if trace else None
        await poller.aclose()
    healthy = sum(1 for s in statuses if s.status == HealthState.HEALTHY)
    return {
        "concurrency": concurrency,
        "cycle_s": [round(t, 3) for t in times],
        "healthy": healthy,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "py_alloc_peak_mb": round(peak / 2**20, 1) if peak is not None else None,
    }


def run_cycle_process(ports_file: str, concurrency: int, trace: bool) -> dict[str, object]:
    args = [sys.executable, __file__, "--cycle", ports_file, "--concurrency", str(concurrency)]
    out = subprocess.run(
        [*args, *(["--trace"] if trace else [])], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------- TUI responsiveness


async def tui_latency(
    ports: list[int], interval: float | None, presses: int = 40
) -> dict[str, float]:
    """Key press -> cursor shown, with the poller idle (interval None) or polling every `interval` s."""
    from textual.widgets import DataTable

    from app.tui import make_app

    cfg = config(200)
    polling = interval is not None
    targets = targets_for(ports, interval=interval or 15.0)
    app = make_app(config=cfg)
    app.health_targets = lambda: targets if polling else []  # type: ignore[attr-defined]
    lat: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("4")
        table = app.screen.query_one(DataTable)
        for _ in range(400):
            if not polling or table.row_count == len(targets):
                break
            await pilot.pause(0.05)
        if not polling:
            for i in range(60):
                table.add_row("-", f"row {i}", "-", "", "", key=f"row{i}")
        await pilot.pause(0.1)
        table.move_cursor(row=0)
        for _ in range(presses):
            before = table.cursor_row
            t0 = time.perf_counter()
            await pilot.press("down")
            while table.cursor_row == before:
                await pilot.pause(0)
            await pilot.wait_for_scheduled_animations()
            lat.append((time.perf_counter() - t0) * 1000)
            await pilot.pause(0.05)
        checked = sum(len(s.history) for s in getattr(app, "health_statuses", {}).values())
    return {
        "median_ms": round(statistics.median(lat), 1),
        "p95_ms": round(sorted(lat)[int(len(lat) * 0.95) - 1], 1),
        "max_ms": round(max(lat), 1),
        "checks_during": checked,
    }


# ------------------------------------------------------------------------ main


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--endpoints", type=int, default=1000)
    p.add_argument("--concurrency", type=int, nargs="+", default=[50, 200])
    p.add_argument("--no-tui", action="store_true", help="skip the TUI responsiveness part")
    p.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    p.add_argument("--cycle", metavar="PORTS_FILE", help=argparse.SUPPRESS)
    p.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    raise_nofile()
    if args.serve:
        asyncio.run(serve(args.serve))
        return
    if args.cycle:
        ports = json.loads(Path(args.cycle).read_text())
        print(json.dumps(asyncio.run(cycles(ports, args.concurrency[0], args.trace))))
        return

    os.environ.setdefault("PORTSIDE_STATE_DIR", tempfile.mkdtemp(prefix="portside-bench-"))
    server, ports = start_servers(args.endpoints)
    try:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(ports, f)
        print(f"{len(ports)} endpoints (one asyncio server process), {os.cpu_count()} CPUs")
        for c in args.concurrency:
            r = run_cycle_process(f.name, c, trace=False)
            t = run_cycle_process(f.name, c, trace=True)
            ok = "PASS" if max(r["cycle_s"]) < 3.0 else "FAIL"  # type: ignore[type-var]
            print(
                f"concurrency {c:>4}: cycle 1 {r['cycle_s'][0]:.2f} s, cycle 2 {r['cycle_s'][1]:.2f} s "  # type: ignore[index]
                f"({r['healthy']}/{len(ports)} healthy), peak RSS {r['peak_rss_mb']} MB, "
                f"Python allocations peak {t['py_alloc_peak_mb']} MB  [{ok}: < 3 s]"
            )
        if not args.no_tui:
            for label, interval in (
                ("poller idle", None),
                ("polling, 15 s interval", 15.0),
                ("polling, 1 s interval", 1.0),
            ):
                r = asyncio.run(tui_latency(ports, interval))
                print(
                    f"TUI key press -> shown, {label:<24} median {r['median_ms']} ms, "
                    f"p95 {r['p95_ms']} ms, max {r['max_ms']} ms ({r['checks_during']} checks kept)"
                )
        os.unlink(f.name)
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
