"""`portside integrate/verify` for proxy, monitoring and sso, end to end: real Caddy and
Prometheus read what was written, re-runs are no-ops, hand edits show as drifted."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import free_port, require
from tests.test_proxy import caddy_env
from tests.test_sso import fake_keycloak  # noqa: F401  (fixture)

pytestmark = pytest.mark.docker


def record(cli, kind: str) -> dict:
    code, out, _ = cli("integrations", "--json")
    assert code in (0, 1), out
    data = json.loads(out)
    items = data["integrations"] if isinstance(data, dict) else data
    return next(r for r in items if r["kind"] == kind)


def test_integrate_proxy_caddy_serves_routes_noop_and_drift(cli, run_container, spawn, tmp_path: Path) -> None:
    require("caddy")
    up = free_port()
    c = run_container({"80/tcp": ("127.0.0.1", up)}, labels={"portside.consumes": "proxy", "portside.port": "80"})
    http_port, https_port = free_port(), free_port()
    sets = ["--set", "domain=portside.test", "--set", f"include=[{c.name}]", "--set", "reach=host",
            "--set", f"http_port={http_port}", "--set", f"https_port={https_port}", "--set", "caddy_admin=off"]
    code, out, err = cli("integrate", "proxy", *sets)
    assert code == 0, out + err
    caddyfile = Path(tmp_path / "state" / "integrations" / "proxy" / "caddy" / "Caddyfile")
    text = caddyfile.read_text()
    assert f"{c.name}.portside.test {{\n\ttls internal\n\treverse_proxy 127.0.0.1:{up}\n}}" in text

    proc = spawn("caddy", "run", "--config", str(caddyfile), "--adapter", "caddyfile", env=caddy_env(tmp_path))
    deadline = time.monotonic() + 30
    while True:
        code, out, err = cli("verify", "proxy", "--json")
        if code == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    report = json.loads(out)
    assert code == 0, (report, proc.log.read_text()[-2000:])
    assert {ch["name"] for ch in report["checks"]} == {"caddy validate", f"route {c.name}.portside.test"}
    assert record(cli, "proxy")["status"] == "active"

    code, out, _ = cli("integrate", "proxy", *sets)  # same settings: nothing written
    assert code == 0 and "no changes" in out
    caddyfile.write_text(text.replace("reverse_proxy", "reverse_proxy  "))
    assert record(cli, "proxy")["status"] == "drifted"


def test_integrate_proxy_traefik_files_pass_schema(cli, run_container, tmp_path: Path) -> None:
    c = run_container(labels={"portside.consumes": "proxy", "portside.port": "80"})
    code, out, err = cli("integrate", "proxy", "--set", "provider=traefik", "--set", "domain=example.org",
                         "--set", "acme_email=ops@example.org", "--set", f"include=[{c.name}]",
                         "--set", "traefik_labels=true")
    assert code == 0, out + err
    d = tmp_path / "state" / "integrations" / "proxy" / "traefik"
    from portside.integrators.traefik_schema import check_pair

    static, dynamic = yaml.safe_load((d / "traefik.yml").read_text()), yaml.safe_load((d / "dynamic.yml").read_text())
    check_pair(static, dynamic)
    assert dynamic["http"]["services"][c.name]["loadBalancer"]["servers"] == [{"url": f"http://{c.name}:80"}]
    # a container of no project cannot take labels: it keeps its file router, and only that one
    assert not (d / "labels.compose.yaml").exists()
    assert "docker" not in static["providers"]
    code, out, _ = cli("integrate", "proxy")  # stored settings: a no-op
    assert code == 0 and "no changes" in out


def test_integrate_monitoring_real_prometheus_and_verify(cli, run_container, spawn, tmp_path: Path) -> None:
    require("prometheus")
    require("promtool")
    port = free_port()
    c = run_container(
        {"80/tcp": ("127.0.0.1", port)},
        command=["sh", "-c", "printf 'demo_up 1\\n' > /www/metrics && httpd -f -p 80 -h /www"],
        labels={"portside.metrics": "/metrics", "portside.port": "80"},
    )
    web = free_port()
    sets = ["--set", f"include=[{c.name}]", "--set", "reach=host", "--set", "prometheus_dir=",
            "--set", "scrape_interval=1s", "--set", f"prometheus_url=http://127.0.0.1:{web}"]
    code, out, err = cli("integrate", "monitoring", *sets)
    assert code == 0, out + err
    out_dir = tmp_path / "state" / "integrations" / "monitoring"
    cfg = out_dir / "prometheus" / "prometheus.yml"
    for args in (["check", "config", str(cfg)], ["check", "rules", str(out_dir / "prometheus/rules/portside.yml")]):
        p = subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=60, check=False)
        assert p.returncode == 0, p.stdout + p.stderr
    assert [p.name for p in (out_dir / "prometheus" / "targets").iterdir()] == [f"{c.name}.json"]
    assert (out_dir / "grafana/provisioning/datasources/portside.yaml").exists()
    assert (out_dir / "alloy/config.alloy").exists()

    proc = spawn("prometheus", f"--config.file={cfg}", f"--web.listen-address=127.0.0.1:{web}",
                 f"--storage.tsdb.path={tmp_path / 'tsdb'}")
    deadline = time.monotonic() + 60
    while True:
        code, out, _ = cli("verify", "monitoring", "--json")
        if code == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    report = json.loads(out)
    assert code == 0, (report, proc.log.read_text()[-2000:])
    assert {"name": f"target {c.name}", "ok": True, "detail": "up"} in report["checks"]
    proc.terminate()  # the checks below run without a Prometheus
    proc.wait(10)

    code, out, _ = cli("integrate", "monitoring")
    assert code == 0 and "no changes" in out
    # the service goes away from the selection: its target file is removed, nothing else changes
    code, out, err = cli("integrate", "monitoring", "--set", "include=[nothing-here]", "--json")
    assert code == 0, out + err
    changes = {Path(ch["path"]).name for ch in json.loads(out)["changes"]}
    assert f"{c.name}.json" in changes
    assert not (out_dir / "prometheus" / "targets" / f"{c.name}.json").exists()
    assert record(cli, "monitoring")["status"] != "drifted"


def test_integrate_sso_override_live_mode_and_noop(cli, compose_project, fake_keycloak, tmp_path: Path) -> None:  # noqa: F811
    require("docker-compose")
    url, kc = fake_keycloak
    d = compose_project({
        "compose.yaml": """
            services:
              grafana:
                image: portside-test-busybox:1
                labels: {portside.catalog: grafana}
              git:
                image: portside-test-busybox:1
                labels: {portside.catalog: gitea}
              flows:
                image: portside-test-busybox:1
                labels: {portside.catalog: n8n}
        """,
    })
    sets = ["--project-dir", str(d), "--set", "realm=home", "--set", f"keycloak_url={url}",
            "--set", "public_urls={grafana: 'https://grafana.example.test', git: 'https://git.example.test'}",
            "--set", "live=true", "--set", "admin_password=admin-pw"]
    code, out, err = cli("integrate", "sso", *sets, "--json")
    assert code == 0, out + err
    report = json.loads(out)
    assert report["live"] == ["created realm home", "created client git", "created client grafana"]
    assert any("flows" in w and "Enterprise" in w for w in report["warnings"])
    assert "admin-pw" not in out

    realm_file = d / "portside" / "keycloak" / "realm-home.json"
    assert oct(realm_file.stat().st_mode & 0o777) == "0o600"
    realm = json.loads(realm_file.read_text())
    secret = {c["clientId"]: c["secret"] for c in realm["clients"]}["grafana"]
    assert secret not in out  # secrets never printed
    cfg = subprocess.run(["docker-compose", "config"], cwd=d, capture_output=True, text=True, check=False)
    assert cfg.returncode == 0, cfg.stderr
    env = yaml.safe_load(cfg.stdout)["services"]["grafana"]["environment"]
    assert env["GF_AUTH_GENERIC_OAUTH_CLIENT_SECRET"] == secret
    assert env["GF_AUTH_GENERIC_OAUTH_AUTH_URL"] == f"{url}/realms/home/protocol/openid-connect/auth"
    assert "gitea admin auth add-oauth" in (d / "portside" / "sso-git.sh").read_text()

    code, out, _ = cli("integrate", "sso", "--project-dir", str(d), "--json")  # stored settings
    report = json.loads(out)
    assert report["noop"] is True and report["live"] == ["realm home unchanged", "unchanged client git", "unchanged client grafana"]
    assert json.loads(realm_file.read_text())["clients"] == realm["clients"]  # secrets stable

    code, out, _ = cli("verify", "sso", "--project-dir", str(d), "--json")
    checks = {c["name"]: c["ok"] for c in json.loads(out)["checks"]}
    assert checks == {"discovery": True, "client git": True, "client grafana": True}, out
    assert code == 0
