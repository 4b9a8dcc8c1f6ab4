"""Consumers get what they need to work behind the proxy (public URL and proxy headers as
their docs give them), and n8n's STARTTLS follows the email security setting."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from portside.integrators.email import EmailSettings, Security, n8n
from portside.integrators.sso_gen import Client, Endpoints, Roles, consumer_config

COMPOSE = """
    services:
      vault:
        image: vaultwarden/server:1.34.1
      auth:
        image: quay.io/keycloak/keycloak:26.0
      board:
        image: grafana/grafana:11.2.0
      flows:
        image: n8nio/n8n:1.70.0
      kuma:
        image: louislam/uptime-kuma:1
"""


def merged_env(d: Path) -> dict[str, dict[str, str]]:
    """What `docker compose config` (Compose v2, the users' compose) gives each service."""
    proc = subprocess.run(["docker", "compose", "config", "--format", "json"], cwd=d, capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    services = json.loads(proc.stdout)["services"]
    return {name: {k: str(v) for k, v in (svc.get("environment") or {}).items()} for name, svc in services.items()}


@pytest.mark.docker
def test_proxy_gives_each_routed_service_its_public_url(cli, compose_project) -> None:
    d = compose_project({"compose.yaml": COMPOSE})
    code, out, err = cli("integrate", "proxy", "--project-dir", str(d), "--set", "domain=example.test",
                         "--set", "subdomains={auth: sso, vault: pw}", "--set", "https_port=8443",
                         "--set", "include=[vault, auth, board, flows, kuma]", "--json")
    assert code == 0, out + err
    env = merged_env(d)
    # Vaultwarden builds links and its SSO callback from DOMAIN (unset: http://localhost)
    assert env["vault"]["DOMAIN"] == "https://pw.example.test:8443"
    # Keycloak behind a TLS-terminating proxy: https://www.keycloak.org/server/reverseproxy
    assert env["auth"]["KC_HOSTNAME"] == "https://sso.example.test:8443"
    assert env["auth"]["KC_PROXY_HEADERS"] == "xforwarded"
    assert env["auth"]["KC_HTTP_ENABLED"] == "true"
    assert env["board"]["GF_SERVER_ROOT_URL"] == "https://board.example.test:8443/"
    assert env["flows"]["WEBHOOK_URL"] == "https://flows.example.test:8443/"
    assert env["flows"]["N8N_PROTOCOL"] == "https" and env["flows"]["N8N_HOST"] == "flows.example.test"
    assert env["kuma"] == {}  # Uptime Kuma needs no setting: nothing is written for it
    assert "compose.proxy.yaml" in (d / ".env").read_text()
    code, out, _ = cli("integrate", "proxy", "--project-dir", str(d))  # stored settings: nothing to write
    assert code == 0 and "no changes" in out


def test_every_proxy_consumer_says_what_it_needs() -> None:
    """The catalog's claim `proxy via env` is backed by the environment proxy writes."""
    from portside.integrators.catalog import catalog

    for entry in catalog().values():
        if "proxy" in entry.consumes and entry.consumes["proxy"].via == "env":
            assert isinstance(entry.extra("proxy_env"), dict), f"{entry.id}: proxy_env missing"
            assert entry.consumes["proxy"].docs, f"{entry.id}: no docs for its proxy settings"


def test_vaultwarden_sso_sets_domain_for_its_callback() -> None:
    c = Client("vault", "vaultwarden", "https://pw.example.test/", "s")
    cfg = consumer_config(c, Endpoints("https://sso.example.test", "home"), Roles())
    assert cfg.env["DOMAIN"] == "https://pw.example.test"
    assert c.redirect_uri == "https://pw.example.test/identity/connect/oidc-signin"


@pytest.mark.parametrize(("security", "ssl", "starttls"), [
    (Security.NONE, "false", "false"), (Security.STARTTLS, "false", "true"), (Security.TLS, "true", "false"),
])
def test_n8n_starttls_follows_security(security: Security, ssl: str, starttls: str) -> None:
    env, _ = n8n(EmailSettings(host="mail", port=25, security=security, from_address="n@example.test"))
    assert (env["N8N_SMTP_SSL"], env["N8N_SMTP_STARTTLS"]) == (ssl, starttls)
