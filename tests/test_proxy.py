"""Reverse proxy: the generated Caddyfile is accepted and served by the real Caddy;
the Traefik files pass the schema written from Traefik's documented structure."""

from __future__ import annotations

import os
import ssl
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import yaml
from pydantic import ValidationError

from portside.integrators.proxy_gen import (
    Site,
    TlsMode,
    caddyfile,
    labels_override,
    traefik_dynamic,
    traefik_static,
)
from portside.integrators.traefik_schema import DynamicConfig, StaticConfig, check_pair
from tests.conftest import free_port, require

SITES = [
    Site("grafana", "grafana.example.test", "grafana:3000"),
    Site("web", "web.example.test", "127.0.0.1:8080"),
]


def caddy_env(tmp: Path) -> dict[str, str]:
    return {
        **os.environ,
        "HOME": str(tmp),
        "XDG_DATA_HOME": str(tmp / "data"),
        "XDG_CONFIG_HOME": str(tmp / "config"),
    }


def caddy_validate(path: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["caddy", "validate", "--config", str(path), "--adapter", "caddyfile"],
        capture_output=True, text=True, env=caddy_env(tmp), timeout=60, check=False,
    )


@pytest.mark.parametrize(
    "tls",
    [TlsMode(True, "ops@example.com"), TlsMode(True, None), TlsMode(False, None)],
    ids=["acme", "internal", "http"],
)
def test_caddy_validate_accepts_generated_caddyfile(tmp_path: Path, tls: TlsMode) -> None:
    require("caddy")
    f = tmp_path / "Caddyfile"
    f.write_text(caddyfile(SITES, tls))
    proc = caddy_validate(f, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Valid configuration" in proc.stdout + proc.stderr


def test_caddyfile_shape_and_determinism() -> None:
    text = caddyfile(SITES, TlsMode(True, "ops@example.com"))
    assert "\temail ops@example.com" in text
    assert "grafana.example.test {\n\treverse_proxy grafana:3000\n}" in text
    assert caddyfile(list(reversed(SITES)), TlsMode(True, "ops@example.com")) == text
    internal = caddyfile(SITES, TlsMode(True, None))
    assert "\ttls internal" in internal and "email" not in internal
    assert "http://web.example.test {" in caddyfile(SITES, TlsMode(False, None))


def get_by_name(port: int, host: str, ctx: ssl.SSLContext) -> httpx.Response:
    """GET https://<host>/ from 127.0.0.1:<port> (SNI + Host header = host, cert verified by ctx)."""
    with httpx.Client(verify=ctx, timeout=3) as client:
        return client.request(
            "GET", f"https://127.0.0.1:{port}/", headers={"Host": host}, extensions={"sni_hostname": host}
        )


@pytest.mark.docker
def test_real_caddy_serves_busybox_by_host_name_over_internal_tls(tmp_path: Path, run_container, spawn) -> None:
    require("caddy")
    up = free_port()
    run_container({"80/tcp": ("127.0.0.1", up)}, command=["sh", "-c", "echo hello-through-caddy > /www/index.html && httpd -f -p 80 -h /www"])
    http_port, https_port = free_port(), free_port()
    site = Site("web", "web.portside.test", f"127.0.0.1:{up}")
    f = tmp_path / "Caddyfile"
    f.write_text(
        caddyfile([site], TlsMode(True, None), http_port=http_port, https_port=https_port, admin="off", redirects=False)
    )
    assert caddy_validate(f, tmp_path).returncode == 0
    proc = spawn("caddy", "run", "--config", str(f), "--adapter", "caddyfile", env=caddy_env(tmp_path))
    root = tmp_path / "data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"
    body, err = None, None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        if root.exists():
            ctx = ssl.create_default_context(cafile=str(root))
            try:
                body = get_by_name(https_port, site.host, ctx).text
                break
            except (httpx.HTTPError, ssl.SSLError) as exc:
                err = exc
        time.sleep(0.2)
    assert proc.poll() is None, proc.log.read_text()
    # the TLS handshake verified the certificate against Caddy's internal root CA
    assert body is not None, f"{err}\n{proc.log.read_text()[-2000:]}"
    assert body.strip() == "hello-through-caddy"
    # a host name the Caddyfile does not know gets no site
    with pytest.raises((httpx.HTTPError, ssl.SSLError)):
        get_by_name(https_port, "other.portside.test", ctx).raise_for_status()


@pytest.mark.parametrize(
    "tls", [TlsMode(True, "ops@example.com"), TlsMode(True, None), TlsMode(False, None)],
    ids=["acme", "internal", "http"],
)
def test_traefik_files_match_documented_schema(tls: TlsMode) -> None:
    static = traefik_static(tls, docker_provider=True)
    dynamic = traefik_dynamic(SITES, tls)
    # what is written is YAML: round-trip it the way Traefik would read it
    static = yaml.safe_load(yaml.safe_dump(static))
    dynamic = yaml.safe_load(yaml.safe_dump(dynamic))
    check_pair(static, dynamic)
    if tls.https:
        assert static["entryPoints"]["web"]["http"]["redirections"]["entryPoint"]["to"] == "websecure"
    if tls.acme_email:
        acme = static["certificatesResolvers"]["letsencrypt"]["acme"]
        assert acme["email"] == "ops@example.com" and acme["httpChallenge"] == {"entryPoint": "web"}
    r = dynamic["http"]["routers"]["grafana"]
    assert r["rule"] == "Host(`grafana.example.test`)"
    assert dynamic["http"]["services"]["grafana"]["loadBalancer"]["servers"] == [{"url": "http://grafana:3000"}]


def test_traefik_schema_refuses_typos_and_dangling_refs() -> None:
    good = traefik_static(TlsMode(True, "a@b.c"))
    bad = {**good, "entrypoints": good["entryPoints"]}
    with pytest.raises(ValidationError):
        StaticConfig.model_validate(bad)
    dyn = traefik_dynamic(SITES, TlsMode(True, None))
    dyn["http"]["routers"]["web"]["service"] = "nope"
    with pytest.raises(ValidationError):
        DynamicConfig.model_validate(dyn)
    with pytest.raises(ValueError):
        check_pair(traefik_static(TlsMode(True, None)), traefik_dynamic(SITES, TlsMode(True, "a@b.c")))


def test_traefik_labels_override() -> None:
    doc = labels_override({"grafana": SITES[0]}, TlsMode(True, "a@b.c"))
    labels = doc["services"]["grafana"]["labels"]
    assert "traefik.http.routers.grafana.rule=Host(`grafana.example.test`)" in labels
    assert "traefik.http.routers.grafana.tls.certresolver=letsencrypt" in labels
    assert "traefik.http.services.grafana.loadbalancer.server.port=3000" in labels
