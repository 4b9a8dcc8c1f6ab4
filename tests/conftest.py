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
    """Own state dir and config home for every test; returns the state dir."""
    state = tmp_path / "state"
    monkeypatch.setenv("PORTSIDE_STATE_DIR", str(state))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
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
    import docker

    with contextlib.suppress(docker.errors.ImageNotFound):
        docker_client.images.get(TEST_IMAGE)
        return TEST_IMAGE
    busybox = _busybox_static()
    if busybox is None:
        _missing("busybox-static is not installed (apt-get install busybox-static)")
    build_test_image(docker_client, busybox)  # type: ignore[arg-type]
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


@pytest.fixture(scope="session")
def swarm(docker_client: Any) -> Iterator[Any]:
    """Swarm mode on the test engine; left again at the end if this session turned it on."""
    info = docker_client.info()
    was_active = info.get("Swarm", {}).get("LocalNodeState") == "active"
    if not was_active:
        try:
            docker_client.swarm.init(advertise_addr="127.0.0.1")
        except Exception as exc:
            _missing(f"cannot enter swarm mode ({exc})")
    try:
        yield docker_client
    finally:
        _cleanup_docker(docker_client, session=SESSION)
        if not was_active:
            with contextlib.suppress(Exception):
                docker_client.swarm.leave(force=True)
