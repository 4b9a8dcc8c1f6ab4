"""The test rig: real components, labelled resources, isolation, and CI strictness.

- `require(name)` skips a test whose real component is missing — except under
  CI (`CI=true`), where the skip becomes a failure (also enforced for any skip
  by `pytest_runtest_makereport`, unless a test is marked `allow_skip`).
- Everything a test creates in Docker carries the labels `portside.test=1`,
  `portside.test.session=<id>` and `portside.test.pid=<pid>`; teardown removes
  this session's resources by label even when a test fails, and session start
  removes leftovers of sessions whose process is gone.
- Every test gets its own state dir and config home (never the user's).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SESSION = uuid.uuid4().hex[:8]
LABEL = "portside.test"
LABELS = {LABEL: "1", f"{LABEL}.session": SESSION, f"{LABEL}.pid": str(os.getpid())}
TEST_IMAGE = "portside-test-busybox:1"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

COMPONENTS = {
    "docker-compose": "docker-compose",
    "mosquitto": "mosquitto",
    "mosquitto_pub": "mosquitto_pub",
    "caddy": "caddy",
    "promtool": "promtool",
    "prometheus": "prometheus",
    "tmux": "tmux",
}


def require(component: str, reason: str | None = None) -> None:
    """Skip (fail under CI) when a real component is missing."""
    exe = COMPONENTS.get(component, component)
    if shutil.which(exe) is None and not Path(exe).exists():
        _missing(reason or f"{component} is not installed (run the README's test command as root)")


def _missing(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"required component missing under CI: {reason}", pytrace=False)
    pytest.skip(reason)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "allow_skip: a skip that is legitimate even under CI")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    strict = IN_CI and item.get_closest_marker("allow_skip") is None
    if strict and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"skipped under CI (CI turns skips into failures): {reason}"


# --------------------------------------------------------------------- isolation


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Own state dir, config home and cache for every test (never the user's); returns the state dir."""
    state = tmp_path / "state"
    monkeypatch.setenv("PORTSIDE_STATE_DIR", str(state))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv("PORTSIDE_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return state


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run `portside ARGS...` in-process: returns (exit code, stdout, stderr)."""
    from portside.app.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def run_portside(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the installed `portside` console script (or `python -m app`) as a process."""
    exe = shutil.which("portside", path=str(Path(sys.executable).parent))
    cmd = [exe] if exe else [sys.executable, "-m", "portside.app"]
    return subprocess.run(
        [*cmd, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


def free_port(host: str = "127.0.0.1", kind: int = socket.SOCK_STREAM) -> int:
    """A port nothing listens on right now (in the ephemeral-free band 20000-29999)."""
    import random

    for _ in range(200):
        port = random.randint(20000, 29999)
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("0.0.0.0", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port found")


# ------------------------------------------------------------------------ docker


def _cleanup_docker(client: Any, *, session: str | None) -> None:
    """Remove test resources: this session's (session=id) or dead sessions' (session=None)."""

    def mine(labels: dict[str, str] | None) -> bool:
        labels = labels or {}
        if labels.get(LABEL) != "1":
            return False
        if session is not None:
            return labels.get(f"{LABEL}.session") == session
        pid = labels.get(f"{LABEL}.pid", "")
        return not (pid.isdigit() and _alive(int(pid)))

    with contextlib.suppress(Exception):
        for svc in client.services.list(filters={"label": LABEL}):
            if mine(svc.attrs.get("Spec", {}).get("Labels")):
                svc.remove()
    for c in client.containers.list(all=True, filters={"label": LABEL}, ignore_removed=True):
        if mine(c.labels):
            with contextlib.suppress(Exception):
                c.remove(force=True, v=True)
    for n in client.networks.list(filters={"label": LABEL}):
        if mine(n.attrs.get("Labels")):
            with contextlib.suppress(Exception):
                n.remove()
    for v in client.volumes.list(filters={"label": LABEL}):
        if mine(v.attrs.get("Labels")):
            with contextlib.suppress(Exception):
                v.remove(force=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    """A docker SDK client for the real engine (skip, or fail under CI, when absent)."""
    try:
        import docker

        client = docker.from_env(timeout=60)
        client.ping()
    except Exception as exc:
        _missing(f"Docker engine not reachable ({exc}); the README's test command starts it as root")
        return
    _cleanup_docker(client, session=None)
    try:
        yield client
    finally:
        _cleanup_docker(client, session=SESSION)
        client.close()


def _busybox_static() -> Path | None:
    for candidate in ("/bin/busybox", "/usr/bin/busybox"):
        p = Path(candidate)
        if p.exists():
            head = p.read_bytes()[:4096]
            if b"/lib64/ld-linux" not in head and b"/lib/ld-linux" not in head:
                return p
    return None


@pytest.fixture(scope="session")
def test_image(docker_client: Any) -> str:
    """The local test image: FROM scratch + Debian's busybox-static (no registry needed)."""
    if ensure_test_image(docker_client) is None:
        _missing("busybox-static is not installed (apt-get install busybox-static)")
    return TEST_IMAGE


def ensure_test_image(client: Any) -> str | None:
    """The test image's name, built first when missing (None: no busybox-static to build it from)."""
    import docker

    with contextlib.suppress(docker.errors.ImageNotFound):
        client.images.get(TEST_IMAGE)
        return TEST_IMAGE
    busybox = _busybox_static()
    if busybox is None:
        return None
    build_test_image(client, busybox)
    return TEST_IMAGE


def build_test_image(client: Any, busybox: Path) -> None:
    dockerfile = textwrap.dedent(
        """\
        FROM scratch
        COPY busybox /bin/busybox
        RUN ["/bin/busybox", "--install", "-s", "/bin"]
        RUN ["/bin/busybox", "mkdir", "-p", "/www", "/tmp"]
        RUN ["/bin/busybox", "sh", "-c", "echo ok > /www/index.html && echo ok > /www/health"]
        CMD ["/bin/busybox", "httpd", "-f", "-p", "80", "-h", "/www"]
        """
    ).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
        tar.add(str(busybox), arcname="busybox")
    buf.seek(0)
    client.images.build(fileobj=buf, custom_context=True, tag=TEST_IMAGE, rm=True, labels={LABEL: "image"})


@pytest.fixture
def run_container(docker_client: Any, test_image: str) -> Iterator[Callable[..., Any]]:
    """Start a labelled busybox container: run_container(ports={'80/tcp': 18080}, ...)."""
    made: list[Any] = []

    def run(
        ports: dict[str, Any] | None = None,
        *,
        name: str | None = None,
        command: list[str] | str | None = None,
        labels: dict[str, str] | None = None,
        start: bool = True,
        healthcheck: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        name = name or f"pst-{SESSION}-{uuid.uuid4().hex[:6]}"
        create = docker_client.containers.run if start else docker_client.containers.create
        extra = {"detach": True} if start else {}
        c = create(
            test_image,
            command=command,
            name=name,
            ports=ports or {},
            labels={**LABELS, **(labels or {})},
            healthcheck=healthcheck,
            **extra,
            **kwargs,
        )
        made.append(c)
        if start:
            c.reload()
        return c

    yield run
    for c in made:
        with contextlib.suppress(Exception):
            c.remove(force=True, v=True)


@pytest.fixture
def compose_project(tmp_path: Path, docker_client: Any) -> Iterator[Callable[..., Path]]:
    """Write a compose project into a temp dir: compose_project({'compose.yaml': '...', '.env': '...'}).

    Returns the project dir; the project name is the dir name (unique per test).
    Teardown removes any containers/networks compose made for it.
    """
    made: list[str] = []

    def write(files: dict[str, str], name: str | None = None) -> Path:
        name = name or f"pst{SESSION}{uuid.uuid4().hex[:4]}"
        d = tmp_path / name
        d.mkdir()
        for rel, text in files.items():
            p = d / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(textwrap.dedent(text))
        made.append(name)
        return d

    yield write
    for name in made:
        filt = {"label": f"com.docker.compose.project={name}"}
        for c in docker_client.containers.list(all=True, filters=filt):
            with contextlib.suppress(Exception):
                c.remove(force=True, v=True)
        for n in docker_client.networks.list(filters=filt):
            with contextlib.suppress(Exception):
                n.remove()


SWARM_USER = f"{LABEL}.user.{SESSION}"  # node label: this session is using the suite's swarm


def _node(client: Any) -> Any | None:
    node_id = (client.info().get("Swarm") or {}).get("NodeID")
    return client.nodes.get(node_id) if node_id else None


def _relabel_node(client: Any, change: Callable[[dict[str, str]], None]) -> dict[str, str]:
    """Apply `change` to this node's labels (retried: concurrent sessions update it too)."""
    import docker

    for _ in range(20):
        node = _node(client)
        if node is None:
            return {}
        spec = dict(node.attrs.get("Spec") or {})
        labels = dict(spec.get("Labels") or {})
        change(labels)
        spec["Labels"] = labels
        try:
            node.update(spec)
            return labels
        except docker.errors.APIError:  # "update out of sequence": another session came first
            continue
    return labels


def _live_users(labels: dict[str, str]) -> list[str]:
    prefix = f"{LABEL}.user."
    return [k for k, pid in labels.items() if k.startswith(prefix) and pid.isdigit() and _alive(int(pid))]


@pytest.fixture(scope="session")
def swarm(docker_client: Any) -> Iterator[Any]:
    """Swarm mode on the test engine, and the engine's swarm state left exactly as found.

    An active swarm that the suite did not start (a user's) is used as it is: its
    node is not relabelled and it is never left. Otherwise this session runs
    `swarm init` and marks the node `portside.test=1`; every session using that
    swarm adds `portside.test.user.<session>=<pid>`, and the last one to finish
    leaves the swarm and removes the `docker_gwbridge` network swarm init made.
    Services the tests create carry the suite's labels and are removed.
    """
    import docker

    info = docker_client.info().get("Swarm") or {}
    ours = False
    if info.get("LocalNodeState") == "active":
        node = _node(docker_client)
        ours = node is not None and (node.attrs.get("Spec", {}).get("Labels") or {}).get(LABEL) == "1"
    else:
        gwbridge = any(n.name == "docker_gwbridge" for n in docker_client.networks.list(names=["docker_gwbridge"]))
        try:
            docker_client.swarm.init(advertise_addr="127.0.0.1")
        except docker.errors.APIError as exc:
            if "already part of a swarm" not in str(exc):
                _missing(f"cannot enter swarm mode ({exc})")
        else:
            marks = {LABEL: "1", f"{LABEL}.gwbridge": "found" if gwbridge else "made"}
            _relabel_node(docker_client, lambda labels: labels.update(marks))
        node = _node(docker_client)
        ours = node is not None and (node.attrs.get("Spec", {}).get("Labels") or {}).get(LABEL) == "1"
    if ours:
        _relabel_node(docker_client, lambda labels: labels.update({SWARM_USER: str(os.getpid())}))
    try:
        yield docker_client
    finally:
        _cleanup_docker(docker_client, session=SESSION)
        if ours:
            _leave_suite_swarm(docker_client)


def _leave_suite_swarm(client: Any) -> None:
    """Drop this session's mark; leave the suite's swarm when no live session uses it."""
    labels = _relabel_node(client, lambda labels: labels.pop(SWARM_USER, None))
    if labels.get(LABEL) != "1" or _live_users(labels):
        return
    with contextlib.suppress(Exception):
        client.swarm.leave(force=True)
    if labels.get(f"{LABEL}.gwbridge") == "made":
        for net in client.networks.list(names=["docker_gwbridge"]):
            if net.name != "docker_gwbridge":
                continue
            with contextlib.suppress(Exception):
                net.remove()  # refused while a container still uses it


# ------------------------------------------------------------- own processes


def wait_listening(port: int, proc: subprocess.Popen[Any], log: Path | None = None, timeout: float = 30.0) -> None:
    """Until 127.0.0.1:port accepts a connection; fail with the log's tail if the process exits first."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text()[-2000:] if log and log.exists() else ""
            raise AssertionError(f"{proc.args[0]} exited with {proc.returncode} before listening on {port}\n{tail}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"{proc.args[0]} did not listen on 127.0.0.1:{port} within {timeout}s")


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[Any]]]:
    """Start one of the suite's own processes (mosquitto, caddy, prometheus ...): spawn(*cmd, env=..., port=...).

    Its output goes to a log in the test's tmp dir (`proc.log`); `port`: wait until
    it listens there. Teardown ends it by its PID (never by name: a user's mosquitto
    or caddy with the same name keeps running), even when the test failed.
    """
    started: list[tuple[subprocess.Popen[Any], Any]] = []

    def start(*cmd: str, env: dict[str, str] | None = None, port: int | None = None, timeout: float = 30.0) -> Any:
        log = tmp_path / f"{Path(cmd[0]).name}-{len(started)}.log"
        out = open(log, "w")  # noqa: SIM115 - closed at teardown
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        started.append((proc, out))
        proc.log = log  # type: ignore[attr-defined]
        if port is not None:
            wait_listening(port, proc, log, timeout)
        return proc

    yield start
    for proc, out in started:
        end_process(proc)
        out.close()


def end_process(proc: subprocess.Popen[Any]) -> None:
    """End a process this suite started, by its PID: terminate, then kill after 10 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
