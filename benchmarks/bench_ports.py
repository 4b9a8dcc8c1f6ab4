"""Benchmarks for discovery and conflict analysis.

    .venv/bin/python benchmarks/bench_ports.py                     # analysis of 100,000 bindings
    .venv/bin/python benchmarks/bench_ports.py --containers 200    # + real containers: snapshot time

`--containers N` creates N containers from the test image (labelled
`portside.test=1`, `portside.test.bench=1`, 6 MB memory limit, each publishing
one port), starts them unless `--no-start`, times `take_snapshot` and the
analysis against the real engine, and removes them again (also on Ctrl+C).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.config import Config  # noqa: E402
from app.models import BindingState, PortBinding, Protocol, Source  # noqa: E402
from app.ports.analysis import Policy, find_conflicts  # noqa: E402

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


def bench_containers(n: int, start: bool, repeat: int) -> None:
    import docker

    from app.snapshot import take_snapshot

    client = docker.from_env(timeout=300)
    image = "portside-test-busybox:1"
    # the pid label keeps other test sessions' leftover cleanup away from live benchmark containers
    labels = {"portside.test": "1", "portside.test.bench": "1", "portside.test.pid": str(os.getpid())}
    made: list[str] = []

    def create(i: int) -> str:
        c = client.containers.create(
            image, name=f"pst-bench-{i}", labels=labels, mem_limit="6m", ports={"80/tcp": 30000 + i}
        )
        if start:
            c.start()
        return c.id

    try:
        t = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            made.extend(pool.map(create, range(n)))
        verb = "created+started" if start else "created"
        print(f"setup: {n} containers {verb} in {time.perf_counter() - t:.1f} s")
        cfg = Config()  # type: ignore[call-arg]
        client2 = docker.from_env(timeout=60)
        t = time.perf_counter()
        take_snapshot(cfg, client=client2)
        print(f"first snapshot: {(time.perf_counter() - t) * 1000:.0f} ms wall (inspects stopped containers)")
        secs, snap = timed(lambda: take_snapshot(cfg, client=client2), repeat, time.perf_counter)
        print(f"snapshot: {len(snap.containers)} containers, {len(snap.bindings)} bindings in {secs * 1000:.0f} ms wall "
              f"(later ones, median of {repeat}, reused client)")
        secs, conflicts = timed(lambda: find_conflicts(snap.bindings), repeat)
        print(f"analysis of that snapshot: {len(conflicts)} conflicts in {secs * 1000:.1f} ms CPU")
    finally:
        t = time.perf_counter()
        leftovers = client.containers.list(all=True, filters={"label": "portside.test.bench=1"})
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda c: c.remove(force=True), leftovers))
        print(f"cleanup: removed in {time.perf_counter() - t:.1f} s")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bindings", type=int, default=100_000)
    p.add_argument("--containers", type=int, default=0)
    p.add_argument("--no-start", action="store_true", help="create the containers without starting them")
    p.add_argument("--repeat", type=int, default=5)
    a = p.parse_args()
    bench_analysis(a.bindings, a.repeat)
    if a.containers:
        bench_containers(a.containers, not a.no_start, a.repeat)


if __name__ == "__main__":
    main()
