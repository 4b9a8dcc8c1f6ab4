"""Benchmark: the dashboard as a person sees it (tmux, 80x24) beside a hello-world Textual app (issue 13).

    .venv/bin/python benchmarks/bench_tui.py [--containers 50] [--idle-containers 0] [--runs 5]

- Starts `--containers` busybox containers from the test image (labels
  `portside.test=1`, `portside.test.bench=1`, `portside.test.pid=<pid>`; each
  publishes one TCP port on 127.0.0.1 that Docker picks) and removes them at
  the end (also on Ctrl+C).
- The hello-world app is a Header, a 20-row DataTable and a Footer. Both apps
  run in the same tmux session at 80x24, interleaved, `--runs` times each.
- first full frame: from spawning the process to the pane showing real rows
  (portside: a container row with its state; hello: the 20th row and the footer);
- screen switch: keys 2 3 4 5 1 in rounds (the first round is each screen's
  first visit) until that screen's own text is on the pane; median and p95;
- key -> cursor move: Down/Up on the first table until the pane changes;
- quit: `q` until the process has exited;
- idle: CPU of the dashboard and its child processes over `--idle-seconds`
  (at `--idle-containers` if given: the engine grows to that count first).
The pane is read with `tmux capture-pane` every few ms, so each figure carries
a few ms of polling on top. Each figure prints beside its target.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_ports import grow  # noqa: E402

HELLO = textwrap.dedent('''
    from textual.app import App
    from textual.widgets import DataTable, Footer, Header

    class Hello(App):
        BINDINGS = [("q", "quit", "Quit")]

        def compose(self):
            yield Header()
            yield DataTable()
            yield Footer()

        def on_mount(self):
            t = self.query_one(DataTable)
            t.add_columns("name", "state", "ports")
            for i in range(20):
                t.add_row(f"row {i}", "running", f"{8000 + i}->80/tcp")

    Hello().run()
''')

# What each portside screen shows and no other does (table headers and summaries).
SCREENS = {
    "1": re.compile(r"\d+ containers \("),
    "2": re.compile(r"\d+ bindings,"),
    "3": re.compile(r"Providers"),
    "4": re.compile(r"Latency"),
    "5": re.compile(r"\bwhen\b.*\bwho\b"),
}
ROWS = re.compile(r"\b(running|exited|created)\b")
POLL = 0.004


class Pane:
    def __init__(self, session: str) -> None:
        self.session = session
        subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24", "sleep 100000"],
                       check=True)
        subprocess.run(["tmux", "set-option", "-t", session, "remain-on-exit", "on"], check=True)

    def text(self, escapes: bool = False) -> str:
        cmd = ["tmux", "capture-pane", "-p", "-t", self.session] + (["-e"] if escapes else [])
        return subprocess.run(cmd, capture_output=True, text=True).stdout

    def spawn(self, command: str) -> float:
        t = time.perf_counter()
        subprocess.run(["tmux", "respawn-pane", "-k", "-t", self.session, command], check=True)
        return t

    def keys(self, *keys: str) -> float:
        t = time.perf_counter()
        subprocess.run(["tmux", "send-keys", "-t", self.session, *keys], check=True)
        return t

    def dead(self) -> bool:
        out = subprocess.run(["tmux", "display", "-p", "-t", self.session, "#{pane_dead}"],
                             capture_output=True, text=True).stdout
        return out.strip() == "1"

    def pid(self) -> int:
        return int(subprocess.run(["tmux", "display", "-p", "-t", self.session, "#{pane_pid}"],
                                  capture_output=True, text=True, check=True).stdout)

    def wait(self, ok: Callable[[], bool], start: float, timeout: float = 30.0) -> float:
        while not ok():
            if time.perf_counter() - start > timeout:
                raise RuntimeError("timed out; the pane shows:\n" + self.text())
            time.sleep(POLL)
        return time.perf_counter() - start

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.session], check=False)


def _ms(x: float) -> str:
    return f"{x * 1000:.0f} ms"


def p95(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(0.95 * (len(xs) - 1)))]


def cursor_moves(pane: Pane, n: int = 20) -> list[float]:
    out = []
    for i in range(n):
        before = pane.text(escapes=True)
        t = pane.keys("Down" if i % 2 == 0 else "Up")
        out.append(pane.wait(lambda b=before: pane.text(escapes=True) != b, t, 5.0))
        time.sleep(0.15)
    return out


def run_app(pane: Pane, command: str, ready: Callable[[str], bool], *, switches: bool, idle: float = 0.0
            ) -> dict[str, list[float] | float]:
    import psutil

    res: dict[str, list[float] | float] = {}
    t = pane.spawn(command)
    res["frame"] = pane.wait(lambda: ready(pane.text()), t)
    time.sleep(1.0)  # let start-up work settle before keys
    if switches:
        first, later = [], []
        for round_ in range(4):
            for key in ("2", "3", "4", "5", "1"):
                pattern = SCREENS[key]
                t = pane.keys(key)
                took = pane.wait(lambda p=pattern: bool(p.search(pane.text())), t, 10.0)
                (first if round_ == 0 else later).append(took)
                time.sleep(0.1)
        res["switch_first"], res["switch_later"] = first, later
    res["cursor"] = cursor_moves(pane)
    if idle:
        proc = psutil.Process(pane.pid())
        time.sleep(3.0)

        def cpu() -> float:
            total = 0.0
            for p in [proc, *proc.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    ct = p.cpu_times()
                    total += ct.user + ct.system + ct.children_user + ct.children_system
            return total

        c0, w0 = cpu(), time.monotonic()
        time.sleep(idle)
        res["idle"] = (cpu() - c0) / (time.monotonic() - w0) * 100
        res["procs"] = float(1 + len(proc.children(recursive=True)))
    t = pane.keys("q")
    res["quit"] = pane.wait(pane.dead, t, 15.0)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--containers", type=int, default=50)
    ap.add_argument("--idle-containers", type=int, default=0, help="grow to this many for the idle figure")
    ap.add_argument("--idle-seconds", type=float, default=30.0)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--portside", default=str(Path(sys.executable).with_name("portside")))
    args = ap.parse_args()

    import docker

    client = docker.from_env(timeout=300)
    labels = {"portside.test": "1", "portside.test.bench": "1", "portside.test.pid": str(os.getpid())}
    made: list[str] = []
    session = f"pst-bench-tui-{os.getpid()}"
    pane = None
    try:
        with tempfile.TemporaryDirectory(prefix="portside-bench-tui-") as work:
            hello = Path(work, "hello.py")
            hello.write_text(HELLO)
            env = (f"cd {work} && unset PYTHONDONTWRITEBYTECODE; PORTSIDE_STATE_DIR={work}/state "
                   f"XDG_CONFIG_HOME={work} exec ")
            grow(client, "portside-test-busybox:1", labels, made, args.containers)
            total = len(client.api.containers(all=True))
            pane = Pane(session)
            # warm the bytecode caches and the page cache once
            run_app(pane, env + f"{sys.executable} {hello}", lambda s: "row 19" in s, switches=False)
            run_app(pane, env + args.portside, lambda s: bool(ROWS.search(s)), switches=False)
            hello_r: list[dict] = []
            ps_r: list[dict] = []
            for _ in range(args.runs):
                hello_r.append(run_app(pane, env + f"{sys.executable} {hello}",
                                       lambda s: "row 19" in s and "Quit" in s, switches=False))
                ps_r.append(run_app(pane, env + args.portside, lambda s: bool(ROWS.search(s)), switches=True))
            idle = None
            if args.idle_containers:
                grow(client, "portside-test-busybox:1", labels, made, args.idle_containers)
            if args.idle_seconds:
                idle = run_app(pane, env + args.portside, lambda s: bool(ROWS.search(s)), switches=False,
                               idle=args.idle_seconds)
            n_idle = max(args.idle_containers, args.containers)
    finally:
        if pane is not None:
            pane.close()
        leftovers = client.containers.list(all=True, filters={"label": f"portside.test.pid={os.getpid()}"})
        for c in leftovers:
            with contextlib.suppress(Exception):
                c.remove(force=True)

    def med(rs: list[dict], key: str) -> float:
        vals: list[float] = []
        for r in rs:
            v = r[key]
            vals.extend(v if isinstance(v, list) else [v])
        return statistics.median(vals)

    def all_of(rs: list[dict], *keys: str) -> list[float]:
        return [v for r in rs for k in keys for v in r[k]]

    load = os.getloadavg()[0]
    print(f"\n{args.containers} bench containers ({total} on the engine), tmux 80x24, {args.runs} runs, "
          f"load {load:.1f}, {os.cpu_count()} cores")
    hf, pf = med(hello_r, "frame"), med(ps_r, "frame")
    print(f"  first full frame      hello {_ms(hf):>7}  portside {_ms(pf):>7}  = {pf / hf:.2f}x   target <= 1.3x")
    sw = all_of(ps_r, "switch_first", "switch_later")
    first = all_of(ps_r, "switch_first")
    print(f"  screen switch         median {_ms(statistics.median(sw))}, p95 {_ms(p95(sw))} "
          f"(first visits: median {_ms(statistics.median(first))}, max {_ms(max(first))})"
          f"   target median <= 100 ms, p95 <= 200 ms")
    print(f"  key -> cursor move    hello {_ms(med(hello_r, 'cursor'))}  portside {_ms(med(ps_r, 'cursor'))}"
          f"   target <= 50 ms median")
    print(f"  quit                  hello {_ms(med(hello_r, 'quit'))}  portside {_ms(med(ps_r, 'quit'))}"
          f"   target <= 200 ms")
    if idle is not None:
        print(f"  idle ({n_idle} bench containers, {args.idle_seconds:.0f} s)  {idle['idle']:.2f}% of one core "
              f"({idle['procs']:.0f} processes)   target <= 0.5% at 1,000 containers")


if __name__ == "__main__":
    main()
