"""CLI start-up against the floor, `docker ps`, side by side in one run (issue 14).

    .venv/bin/python benchmarks/bench_cli.py                       # 10 containers
    .venv/bin/python benchmarks/bench_cli.py --containers 10,1000  # and at 1,000

portside is measured as a user installs it: the wheel built from this tree goes
into a fresh virtual environment (its libraries come from this .venv's
site-packages through a path file), with bytecode compiled as pip does, and
PYTHONDONTWRITEBYTECODE unset. At each container count (test-image containers
labelled `portside.test=1`, `portside.test.bench=1`, each publishing one
127.0.0.1 port Docker picks, removed at the end) it times, interleaved, the
median of --repeat runs of `docker ps`, `portside --version`, `portside --help`,
`portside ports --json`, and at the smallest count `portside conflicts --json`
over 50 compose projects on disk (2 services each) with the 50 containers, and
prints each figure beside its target.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_ports import grow  # noqa: E402


def install_wheel(work: Path, tree: Path) -> Path:
    """The wheel of `tree` in a fresh venv; returns its `portside` script."""
    dist = work / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(dist), str(tree)], check=True, capture_output=True)
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    ours = [p for p in sys.path if p.endswith("site-packages")]
    Path(site, "deps.pth").write_text("\n".join(ours) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", site,
                    str(next(dist.glob("portside-*.whl")))], check=True, capture_output=True)
    script = venv / "bin" / "portside"  # what pip writes for a console script
    script.write_text(f"#!{py}\nimport sys\nfrom portside.app.cli import main\nsys.exit(main())\n")
    script.chmod(0o755)
    return script


def _wall(cmd: list[str], env: dict[str, str], cwd: str) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=cwd, check=False)
    return time.perf_counter() - t


def make_projects(root: Path, n: int) -> None:
    """n compose projects on disk, two services each, on ports nothing else uses."""
    for i in range(n):
        d = root / f"stack{i:02d}"
        d.mkdir(parents=True)
        (d / "compose.yaml").write_text(
            "services:\n"
            f"  web:\n    image: nginx\n    ports: [\"127.0.0.1:{41000 + 2 * i}:80\"]\n"
            f"  api:\n    image: nginx\n    ports:\n      - \"${{API_PORT:-{41001 + 2 * i}}}:8080\"\n"
        )


def measure(cases: dict[str, Callable[[], float]], repeat: int) -> dict[str, float]:
    for fn in cases.values():
        fn()  # warm: page cache, bytecode, the engine's own caches
    times: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(repeat):
        for k, fn in cases.items():
            times[k].append(fn())
    return {k: statistics.median(v) for k, v in times.items()}


def report(n: int, med: dict[str, float]) -> None:
    ps = med["docker ps"]
    print(f"\n{n} bench containers, wall ms, median (ratio to docker ps) | target", flush=True)
    targets = {
        "docker ps": "the floor",
        "portside --version": "<= 50 ms",
        "portside --help": "<= 50 ms",
        "portside ports --json": "<= 100 ms at 10 containers; <= 1.0x docker ps at 1,000",
        "portside conflicts --json (50 projects)": "<= 300 ms",
    }
    for k, secs in med.items():
        print(f"  {k:42} {secs * 1000:6.0f} ms ({secs / ps:4.1f}x) | {targets.get(k, '')}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--containers", default="10", help="container counts, grown in one run (e.g. 10,1000)")
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--tree", type=Path, default=ROOT,
                   help="the source tree to build portside from (another checkout: a 'before' figure)")
    a = p.parse_args()
    import docker

    client = docker.from_env(timeout=300)
    labels = {"portside.test": "1", "portside.test.bench": "1", "portside.test.pid": str(os.getpid())}
    made: list[str] = []
    try:
        with tempfile.TemporaryDirectory(prefix="portside-bench-cli-") as tmp:
            work = Path(tmp)
            portside = str(install_wheel(work, a.tree))
            stacks = work / "stacks"
            make_projects(stacks, 50)
            (work / "cwd").mkdir()
            (work / "with-stacks.yaml").write_text(f"stacks: [\"{stacks}/*\"]\n")
            env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
            env |= {"PORTSIDE_STATE_DIR": str(work / "state"), "XDG_CONFIG_HOME": str(work / "xdg")}
            cwd = str(work / "cwd")
            print(f"portside installed from its wheel at {portside}", flush=True)
            for n in sorted(int(x) for x in a.containers.split(",")):
                grow(client, "portside-test-busybox:1", labels, made, n)
                cases: dict[str, Callable[[], float]] = {
                    "docker ps": lambda: _wall(["docker", "ps"], env, cwd),
                    "portside --version": lambda: _wall([portside, "--version"], env, cwd),
                    "portside --help": lambda: _wall([portside, "--help"], env, cwd),
                    "portside ports --json": lambda: _wall([portside, "ports", "--json"], env, cwd),
                }
                if n <= 50:
                    cases["portside conflicts --json (50 projects)"] = lambda: _wall(
                        [portside, "--config", str(work / "with-stacks.yaml"), "conflicts", "--json"], env, cwd)
                report(n, measure(cases, a.repeat))
    finally:
        leftovers = client.containers.list(all=True, filters={"label": f"portside.test.pid={os.getpid()}"})
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda c: c.remove(force=True), leftovers))
        print(f"cleanup: {len(leftovers)} bench containers removed")


if __name__ == "__main__":
    main()
