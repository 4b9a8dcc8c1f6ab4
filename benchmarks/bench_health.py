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
  at concurrency 200, and we time key presses (cursor down in the Health
  table) until the table shows the move — median, p95 and worst: with the
  poller idle; during a full cycle ("poll now" wakes all 1,000 targets at once;
  only presses that start before the cycle's last check count); and at a 1 s
  interval (1,000 checks a second, sustained). Each polling case runs with the
  poller in a thread of the TUI process (the design before, `--modes thread`)
  and in its child process (app.health_worker, now, `--modes process`).
  `--tui-only` skips the cycle part.

Target (issue 7): one cycle over 1,000 endpoints in under 3 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
    from portside.app.health_targets import Target

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
    from portside.app.config import Config

    return Config.model_validate({"health": {"concurrency": concurrency, "timeout": 5.0}})


async def cycles(ports: list[int], concurrency: int, trace: bool) -> dict[str, object]:
    import tracemalloc

    from portside.app.health import Poller
    from portside.app.models import HealthState

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


def legacy_poll_thread(app, ui_loop) -> None:  # type: ignore[no-untyped-def]
    """The design before the child process (commit 06366f3), kept here only to measure against.

    The poller runs in this worker thread on an asyncio loop of its own, inside
    the TUI process; changed statuses are copied to the UI every 0.5 s.
    """
    from collections import deque
    from dataclasses import replace

    from textual.worker import get_current_worker

    from portside.app.health import Poller
    from portside.screens import health as screen

    worker = get_current_worker()

    def copy(st):  # type: ignore[no-untyped-def]
        return replace(st, history=deque(st.history, maxlen=st.history.maxlen), oks=deque())

    async def forever() -> None:
        dirty: set[str] = set()
        known: set[str] = set()
        poller = Poller(app.config, on_update=lambda st: dirty.add(st.target.id))
        loop = asyncio.get_running_loop()
        app.health_poll_now = lambda: loop.call_soon_threadsafe(poller.poll_now)
        poller.set_targets(await asyncio.to_thread(app.health_targets))
        dirty.update(poller.statuses)
        known.update(poller.statuses)
        runner = asyncio.create_task(poller.run())
        sent: dict[int, dict[str, str]] = {}
        try:
            while not worker.is_cancelled:
                if dirty:
                    changed = {t: copy(poller.statuses[t]) for t in dirty if t in poller.statuses}
                    dirty.clear()
                    ui_loop.call_soon_threadsafe(screen._publish, app, changed, [], sent)
                await asyncio.sleep(0.5)
        finally:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
            await poller.aclose()

    asyncio.run(forever())


async def press_once(pilot, table) -> float:  # type: ignore[no-untyped-def]
    """Press "down" in the table; ms until the cursor has moved and the screen settled."""
    before = table.cursor_row
    t0 = time.perf_counter()
    await pilot.press("down")
    while table.cursor_row == before:
        await pilot.pause(0)
    await pilot.wait_for_scheduled_animations()
    return (time.perf_counter() - t0) * 1000


def summary(lat: list[float]) -> dict[str, float]:
    if not lat:
        return {"n": 0, "median_ms": float("nan"), "p95_ms": float("nan"), "max_ms": float("nan")}
    lat = sorted(lat)
    return {
        "n": len(lat),
        "median_ms": round(statistics.median(lat), 1),
        "p95_ms": round(lat[max(int(len(lat) * 0.95) - 1, 0)], 1),
        "max_ms": round(lat[-1], 1),
    }


async def tui_latency(
    ports: list[int], scenario: str, mode: str, presses: int = 40
) -> dict[str, float]:
    """Key press -> cursor shown in the Health table (Pilot, 120x40).

    scenario "idle": no targets. "cycle": 1,000 targets at a 15 s interval;
    after the first cycle, "poll now" starts a full cycle (every target at
    once, the worst burst) and only presses that start before the cycle's last
    check count; repeated until `presses` are in. "1s": every target every
    second (1,000 checks a second, sustained). mode "thread": the poller in a
    thread of the TUI process (before); "process": app.health_worker (now).
    """
    from textual.widgets import DataTable

    from portside.app.tui import make_app
    from portside.screens import health as screen

    cfg = config(200)
    polling = scenario != "idle"
    targets = targets_for(ports, interval=1.0 if scenario == "1s" else 15.0)
    real_poll_thread = screen._poll_thread
    if mode == "thread":
        screen._poll_thread = legacy_poll_thread
    app = make_app(config=cfg)
    app.health_targets = lambda: targets if polling else []  # type: ignore[attr-defined]
    lat: list[float] = []
    cycles = 0
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("4")
            table = app.screen.query_one(DataTable)

            def statuses():  # type: ignore[no-untyped-def]
                return getattr(app, "health_statuses", {})

            def checked_since(t: float) -> bool:
                sts = statuses()
                return len(sts) == len(targets) and all(
                    s.checked_at is not None and s.checked_at.timestamp() >= t for s in sts.values()
                )

            for _ in range(1200):  # the first, full cycle (targets appearing) ends
                if not polling or checked_since(0):
                    break
                await pilot.pause(0.05)
            if not polling:
                for i in range(60):
                    table.add_row("-", f"row {i}", "-", "", "", key=f"row{i}")
            await pilot.pause(0.5)
            table.move_cursor(row=0)
            if scenario == "cycle":
                while len(lat) < presses and cycles < 12:
                    cycles += 1
                    start = time.time()
                    app.health_poll_now()  # type: ignore[attr-defined]
                    timed: list[tuple[float, float]] = []
                    while not checked_since(start) and time.time() - start < 60:
                        t0 = time.time()
                        timed.append((t0, await press_once(pilot, table)))
                        await pilot.pause(0.05)
                    end = max(s.checked_at.timestamp() for s in statuses().values())
                    lat += [ms for t0, ms in timed if t0 < end]
                    await pilot.pause(1.0)
            else:
                for _ in range(presses):
                    lat.append(await press_once(pilot, table))
                    await pilot.pause(0.05)
            checked = sum(len(s.history) for s in statuses().values())
    finally:
        screen._poll_thread = real_poll_thread
    return {**summary(lat), "cycles": cycles, "checks_during": checked}


# ------------------------------------------------------------------------ main


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--endpoints", type=int, default=1000)
    p.add_argument("--concurrency", type=int, nargs="+", default=[50, 200])
    p.add_argument("--no-tui", action="store_true", help="skip the TUI responsiveness part")
    p.add_argument("--tui-only", action="store_true", help="skip the poll-cycle part")
    p.add_argument(
        "--modes",
        nargs="+",
        choices=("thread", "process"),
        default=["thread", "process"],
        help="where the TUI's poller runs: thread (before, in the TUI process) / process (now)",
    )
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
        for c in [] if args.tui_only else args.concurrency:
            r = run_cycle_process(f.name, c, trace=False)
            t = run_cycle_process(f.name, c, trace=True)
            ok = "PASS" if max(r["cycle_s"]) < 3.0 else "FAIL"  # type: ignore[type-var]
            print(
                f"concurrency {c:>4}: cycle 1 {r['cycle_s'][0]:.2f} s, cycle 2 {r['cycle_s'][1]:.2f} s "  # type: ignore[index]
                f"({r['healthy']}/{len(ports)} healthy), peak RSS {r['peak_rss_mb']} MB, "
                f"Python allocations peak {t['py_alloc_peak_mb']} MB  [{ok}: < 3 s]"
            )
        if not args.no_tui:
            for label, scenario, modes in (
                ("poller idle", "idle", ("process",)),
                ("during a full cycle", "cycle", args.modes),
                ("1 s interval (sustained)", "1s", args.modes),
            ):
                for mode in modes:
                    r = asyncio.run(tui_latency(ports, scenario, mode))
                    where = {"thread": "in-process thread", "process": "child process"}[mode]
                    print(
                        f"TUI key press -> shown, {label:<25} {where:<18} median {r['median_ms']} ms, "
                        f"p95 {r['p95_ms']} ms, max {r['max_ms']} ms ({r['n']} presses"
                        + (f" in {r['cycles']} cycles" if scenario == "cycle" else "")
                        + ")"
                    )
        os.unlink(f.name)
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
