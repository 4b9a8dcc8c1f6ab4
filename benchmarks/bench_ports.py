"""Benchmarks for discovery and conflict analysis (issue 3). See benchmarks/README.md.

    .venv/bin/python benchmarks/bench_ports.py                      # analysis of 100,000 bindings
    .venv/bin/python benchmarks/bench_ports.py --containers 200,1000 # + real containers, TUI idle CPU

`--containers 200,1000` starts that many containers from the test image
(labelled `portside.test=1`, `portside.test.bench=1`, 32 MB memory limit, each
publishing one TCP port on 127.0.0.1 that Docker picks, so no other session's
port is touched), growing from the smallest count to the largest in one run.
At each count it times, interleaved, `docker ps`, `docker ps -a`, the plain
docker-SDK list call (`client.api.containers(all=True)`, in process and as a
fresh python process) and `portside ports --json` as a process, and prints the
medians and the ratio to `docker ps`. At the smallest count it also opens the
dashboard in tmux (80x24) and measures its CPU over `--idle-seconds` (60).
Everything it started is removed at the end (also on Ctrl+C).
About 10 MB of RAM per container (containerd shim + docker-proxy); 1,000
containers take ~3 minutes to start and ~4 to remove on 2 cores.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from portside.app.models import BindingState, PortBinding, Protocol, Source  # noqa: E402
from portside.app.ports.analysis import Policy, find_conflicts  # noqa: E402

KINDS = [
    (Source.DOCKER, BindingState.RUNNING),
    (Source.DOCKER, BindingState.STOPPED),
    (Source.COMPOSE, BindingState.DECLARED),
    (Source.HOST, BindingState.LISTENING),
    (Source.REGISTRY, BindingState.ASSIGNED),
]


def synthetic(n: int, seed: int = 1) -> list[PortBinding]:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        source, state = rnd.choice(KINDS)
        port = rnd.randint(1, 65535)
        proj = f"p{i // 10}"
        out.append(
            PortBinding(
                source=source,
                owner=f"{source.value}:{i // 2}",  # pairs share an owner, like IPv4 + IPv6
                project=proj if source is not Source.HOST else None,
                service=f"s{i % 10}" if source is not Source.HOST else None,
                host_ip=rnd.choice(["0.0.0.0", "::", "127.0.0.1"]),
                port=port,
                port_end=min(port + rnd.randint(1, 20), 65535) if rnd.random() < 0.02 else None,
                target=80,
                protocol=Protocol.UDP if rnd.random() < 0.1 else Protocol.TCP,
                state=state,
            )
        )
    return out


def typical(n: int, seed: int = 2, conflict_rate: float = 0.01) -> list[PortBinding]:
    """n bindings as a big host has them: owners on IPv4 + IPv6, distinct ports, ~1% colliding."""
    rnd = random.Random(seed)
    owners = n // 2
    ports = rnd.sample(range(1, 65536), min(owners, 65535))
    out = []
    for i in range(owners):
        source, state = rnd.choice(KINDS)
        port = ports[i % len(ports)] if rnd.random() > conflict_rate else ports[rnd.randrange(len(ports))]
        for ip in ("0.0.0.0", "::"):
            out.append(
                PortBinding(source=source, owner=f"{source.value}:{i}", host_ip=ip, port=port, target=80,
                            project=f"p{i}" if source is not Source.HOST else None,
                            service="web" if source is not Source.HOST else None, state=state)
            )
    return out


def timed(fn, repeat: int, clock=time.process_time) -> tuple[float, object]:
    """Median seconds; CPU of this process by default (wall lies when others share the 2 cores)."""
    times, result = [], None
    for _ in range(repeat):
        t = clock()
        result = fn()
        times.append(clock() - t)
    return statistics.median(times), result


def bench_analysis(n: int, repeat: int) -> None:
    policy = Policy(port_range=(8000, 9000), rootless=True)
    for what, bindings in (("typical (v4+v6 owners, ~1% colliding)", typical(n)),
                           ("stress (uniformly random ports)", synthetic(n))):
        secs, conflicts = timed(lambda b=bindings: find_conflicts(b, policy), repeat)
        print(f"analysis, {what}: {len(bindings):,} bindings -> {len(conflicts):,} conflicts "
              f"in {secs * 1000:.0f} ms CPU (median of {repeat})")


def _wall(cmd: list[str], env: dict[str, str] | None = None, cwd: str | None = None) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env, cwd=cwd)
    return time.perf_counter() - t


def grow(client, image: str, labels: dict[str, str], made: list[str], n: int) -> None:
    """Start bench containers until `n` exist: each publishes one TCP port on 127.0.0.1 (Docker picks it)."""

    import docker.errors

    def start(i: int) -> str:
        for attempt in range(3):  # a loaded engine sometimes fails a start ("cannot start a stopped process")
            name = f"pst-bench-{os.getpid()}-{i}-{attempt}"
            try:
                c = client.containers.run(image, detach=True, name=name, labels=labels, mem_limit="32m",
                                          ports={"80/tcp": ("127.0.0.1", None)})
                return c.id
            except docker.errors.APIError as exc:
                print(f"  start of {name} failed ({exc.explanation}); retrying", flush=True)
                with contextlib.suppress(docker.errors.APIError):
                    client.api.remove_container(name, force=True)
        raise RuntimeError(f"container {i} did not start three times")

    t = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        made.extend(pool.map(start, range(len(made), n)))
    print(f"setup: {n} bench containers running ({time.perf_counter() - t:.0f} s to start the new ones)", flush=True)


def bench_commands(client, repeat: int, workdir: str) -> dict[str, float]:
    """Medians (wall seconds) of the headless command and the baselines, interleaved in one run."""
    portside = str(Path(sys.executable).with_name("portside"))
    env = {**os.environ, "PORTSIDE_STATE_DIR": os.path.join(workdir, "state"), "XDG_CONFIG_HOME": workdir}
    # As installed by pip: bytecode cached. (This sandbox sets PYTHONDONTWRITEBYTECODE, which would
    # recompile every module of portside on every run; the warm-up run below writes the cache.)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    sdk_script = "import docker; docker.from_env().api.containers(all=True)"
    cases: dict[str, Callable[[], float]] = {
        "docker ps": lambda: _wall(["docker", "ps"]),
        "docker ps -a": lambda: _wall(["docker", "ps", "-a"]),
        "SDK list call (in process)": lambda: _timed_call(lambda: client.api.containers(all=True)),
        "SDK list call (python process)": lambda: _wall([sys.executable, "-c", sdk_script], env=env),
        "portside ports --json": lambda: _wall([portside, "ports", "--json"], env=env, cwd=workdir),
    }
    for fn in cases.values():
        fn()  # warm caches (page cache, the engine's own) once
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeat):
        for name, fn in cases.items():
            times[name].append(fn())
    return {name: statistics.median(ts) for name, ts in times.items()}


def _timed_call(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def idle_cpu(seconds: float, workdir: str) -> None:
    """The dashboard as a person runs it (tmux, 80x24), left alone: CPU of its process over `seconds`."""
    import psutil

    session = f"pst-bench-idle-{os.getpid()}"
    portside = str(Path(sys.executable).with_name("portside"))
    state = os.path.join(workdir, "state")
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24",
                    f"cd {workdir} && PORTSIDE_STATE_DIR={state} XDG_CONFIG_HOME={workdir} exec {portside}"],
                   check=True)
    try:
        pane = int(subprocess.run(["tmux", "display", "-p", "-t", session, "#{pane_pid}"], check=True,
                                  capture_output=True, text=True).stdout)
        proc = psutil.Process(pane)
        deadline = time.monotonic() + 30
        while "containers (" not in _pane(session):  # the first snapshot is on screen
            if time.monotonic() > deadline:
                raise RuntimeError("the dashboard did not show a snapshot within 30 s:\n" + _pane(session))
            time.sleep(0.2)
        time.sleep(3)  # let start-up work (first health pass, layout) finish
        events = _count_events_during(seconds, proc)
        print(f"TUI idle: {events['cpu']:.2f}% of one core over {seconds:.0f} s "
              f"({events['n']} container/service events from other sessions arrived meanwhile), "
              f"RSS {proc.memory_info().rss / 2**20:.0f} MiB, {proc.num_threads()} threads", flush=True)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)


def _pane(session: str) -> str:
    return subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout


def _count_events_during(seconds: float, proc) -> dict[str, float]:
    import threading

    import docker

    client = docker.from_env()
    since = time.time()
    before = proc.cpu_times()
    t = time.monotonic()
    time.sleep(seconds)
    after = proc.cpu_times()
    cpu = (after.user + after.system - before.user - before.system) / (time.monotonic() - t) * 100
    stream = client.events(decode=True, since=int(since), until=int(time.time()) + 1,
                           filters={"type": ["container", "service"]})
    n = 0
    timer = threading.Timer(10, stream.close)
    timer.start()
    try:
        for _ in stream:
            n += 1
    except Exception:
        pass
    timer.cancel()
    return {"cpu": cpu, "n": n}


def bench_containers(counts: list[int], repeat: int, idle_seconds: float) -> None:
    import tempfile

    import docker

    client = docker.from_env(timeout=300)
    image = "portside-test-busybox:1"
    # the pid label keeps other test sessions' leftover cleanup away from live benchmark containers
    labels = {"portside.test": "1", "portside.test.bench": "1", "portside.test.pid": str(os.getpid())}
    made: list[str] = []
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="portside-bench-") as workdir:
            for n in sorted(counts):
                grow(client, image, labels, made, n)
                total = len(client.api.containers(all=True))
                running = len(client.api.containers())
                med = bench_commands(client, repeat, workdir)
                results.append((n, total, running, med))
                print(f"\n{n} bench containers ({running} running, {total} in all on the engine), "
                      f"wall, median of {repeat}:", flush=True)
                for name, secs in med.items():
                    print(f"  {name:32} {secs * 1000:7.0f} ms")
                ratio = med["portside ports --json"] / med["docker ps"]
                print(f"  ports --json / docker ps = {ratio:.1f}x (target at 1,000: within 3x)", flush=True)
                if idle_seconds and n == min(counts):
                    idle_cpu(idle_seconds, workdir)
    finally:
        t = time.perf_counter()
        leftovers = client.containers.list(all=True, filters={"label": f"portside.test.pid={os.getpid()}"})
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda c: c.remove(force=True), leftovers))
        print(f"cleanup: {len(leftovers)} removed in {time.perf_counter() - t:.0f} s")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bindings", type=int, default=100_000)
    p.add_argument("--containers", default="", metavar="N[,N...]",
                   help="real running containers to measure with, e.g. 200,1000 (grown in one run)")
    p.add_argument("--idle-seconds", type=float, default=60,
                   help="TUI idle CPU window at the smallest container count (0: skip)")
    p.add_argument("--repeat", type=int, default=5)
    a = p.parse_args()
    bench_analysis(a.bindings, a.repeat)
    if a.containers:
        bench_containers([int(n) for n in a.containers.split(",")], a.repeat, a.idle_seconds)


if __name__ == "__main__":
    main()
