"""Email integration against a real SMTP server (aiosmtpd with STARTTLS + AUTH) and real docker-compose."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from portside.integrators.tls import generate_ca, generate_server_cert
from tests.conftest import free_port, require
from tests.smtp_inbox import Inbox

PASSWORD = "s3cr€t-Pa$$ word"  # spaces, $ and non-ASCII must survive every layer
USER = "mailer"
SENDER = "noreply@example.test"


class SmtpServer:
    def __init__(self, ca_file: Path, port: int, controller: Any, handler: Any) -> None:
        self.ca_file, self.port, self.controller, self.handler = ca_file, port, controller, handler

    @property
    def messages(self) -> list[Any]:
        return self.handler.messages


@pytest.fixture
def smtp_server(tmp_path: Path) -> Iterator[SmtpServer]:
    """aiosmtpd on a free port: STARTTLS required, AUTH LOGIN/PLAIN for USER/PASSWORD only."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    ca = generate_ca("test CA")
    server = generate_server_cert(ca, ["localhost", "127.0.0.1"])
    (tmp_path / "ca.pem").write_text(ca.cert)
    (tmp_path / "srv.pem").write_text(server.cert)
    (tmp_path / "srv.key").write_text(server.key)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(tmp_path / "srv.pem", tmp_path / "srv.key")

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.login == USER.encode() and data.password == PASSWORD.encode()
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535

    handler = Inbox()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, tls_context=ctx, require_starttls=True,
                            authenticator=authenticator, auth_required=True, server_hostname="localhost")
    controller.start()
    try:
        yield SmtpServer(tmp_path / "ca.pem", port, controller, handler)
    finally:
        controller.stop()


COMPOSE = """\
services:
  grafana: {image: "grafana/grafana-oss:11.2.0"}
  gitea: {image: "gitea/gitea:1.22"}
  nextcloud: {image: "nextcloud:29-apache"}
  n8n: {image: "docker.n8n.io/n8nio/n8n"}
  authentik-server: {image: "ghcr.io/goauthentik/server:2024.8"}
  vaultwarden: {image: "vaultwarden/server:latest"}
  wordpress:
    image: "wordpress:6"
    environment:
      WORDPRESS_DB_HOST: db
  keycloak: {image: "quay.io/keycloak/keycloak:25.0"}
  db: {image: "mariadb:11"}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    d = tmp_path / "mailstack"
    d.mkdir()
    (d / "compose.yaml").write_text(COMPOSE)
    (d / ".env").write_text("# user settings\nTZ=Europe/Berlin\n")
    return d


def write_config(tmp_path: Path, smtp: SmtpServer, **extra: Any) -> Path:
    cfg = tmp_path / "portside.yaml"
    settings = {
        "host": "smtp.example.test", "port": 587, "security": "starttls", "user": USER,
        "password": "${SMTP_PASSWORD}", "from_address": SENDER, "from_name": "Stack Mailer",
        "verify_address": f"127.0.0.1:{smtp.port}", "ca_file": str(smtp.ca_file), **extra,
    }
    cfg.write_text(json.dumps({"integrations": {"email": settings}}))
    return cfg


def test_email_end_to_end(cli: Any, tmp_path: Path, project: Path, smtp_server: SmtpServer,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_PASSWORD", PASSWORD)
    cfg = str(write_config(tmp_path, smtp_server))
    out_dir = project / "portside"

    code, out, err = cli("integrate", "email", "--project-dir", str(project), "--config", cfg)
    assert code == 0, err
    assert PASSWORD not in out and PASSWORD not in err
    override = out_dir / "compose.email.yaml"
    assert override.is_file()
    assert "contents hidden" in out  # secret files are summarised in the diff
    for name in ("email-grafana.env", "email-wordpress.env", "keycloak-smtp.json"):
        assert (out_dir / name).stat().st_mode & 0o777 == 0o600, name
    assert (project / "compose.yaml").read_text() == COMPOSE  # the user's file is untouched
    assert "COMPOSE_FILE=compose.yaml:portside/compose.email.yaml" in (project / ".env").read_text()
    assert "TZ=Europe/Berlin" in (project / ".env").read_text()

    # the real docker-compose merges the override and resolves the secrets exactly
    require("docker-compose")
    proc = subprocess.run(["docker-compose", "config"], cwd=project, capture_output=True, text=True,
                          env={k: v for k, v in os.environ.items() if k != "COMPOSE_FILE"}, check=False)
    assert proc.returncode == 0, proc.stderr
    import yaml

    merged = yaml.safe_load(proc.stdout)["services"]
    # `config` prints `$` escaped as `$$` (its output is itself a compose file)
    env = {name: {k: str(v).replace("$$", "$") for k, v in svc.get("environment", {}).items()}
           for name, svc in merged.items()}
    assert env["grafana"]["GF_SMTP_HOST"] == "smtp.example.test:587"
    assert env["grafana"]["GF_SMTP_PASSWORD"] == PASSWORD
    assert env["grafana"]["GF_SMTP_STARTTLS_POLICY"] == "MandatoryStartTLS"
    assert env["gitea"]["GITEA__mailer__PROTOCOL"] == "smtp+starttls"
    assert env["gitea"]["GITEA__mailer__PASSWD"] == PASSWORD
    assert env["nextcloud"]["MAIL_FROM_ADDRESS"] == "noreply" and env["nextcloud"]["MAIL_DOMAIN"] == "example.test"
    assert env["nextcloud"]["SMTP_SECURE"] == "tls"
    assert env["n8n"]["N8N_SMTP_PASS"] == PASSWORD and env["n8n"]["N8N_SMTP_SSL"] == "false"
    assert env["n8n"]["N8N_SMTP_STARTTLS"] == "true"
    assert env["authentik-server"]["AUTHENTIK_EMAIL__USE_TLS"] == "true"
    assert env["vaultwarden"]["SMTP_SECURITY"] == "starttls"
    assert env["wordpress"]["WORDPRESS_DB_HOST"] == "db"  # the user's own environment survives
    assert "define('WPMS_SMTP_HOST', 'smtp.example.test');" in env["wordpress"]["WORDPRESS_CONFIG_EXTRA"]
    assert env["wordpress"]["WPMS_SMTP_PASS"] == PASSWORD
    assert "db" not in env or not any(k.startswith("SMTP") for k in env.get("db", {}))
    kc = json.loads((out_dir / "keycloak-smtp.json").read_text())["smtpServer"]
    assert kc["starttls"] == "true" and kc["port"] == "587" and kc["password"] == PASSWORD

    # re-running with the same settings writes nothing
    stamps = {p: p.stat().st_mtime_ns for p in [*out_dir.iterdir(), project / ".env"]}
    code, out, _ = cli("integrate", "email", "--project-dir", str(project), "--config", cfg, "--json")
    report = json.loads(out)
    assert code == 0 and report["noop"] is True and report["changes"] == []
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps

    # verify: STARTTLS against the generated CA, AUTH, and the message arrives with our sender
    code, out, err = cli("verify", "email", "--project-dir", str(project), "--config", cfg)
    assert code == 0, out + err
    assert len(smtp_server.messages) == 1
    env_msg = smtp_server.messages[0]
    assert env_msg.mail_from == SENDER
    assert b"From: Stack Mailer <noreply@example.test>" in env_msg.content
    code, out, _ = cli("integrations", "--json")
    rec = json.loads(out)["integrations"][0]
    assert code == 0 and rec["status"] == "active" and rec["scope"] == "mailstack"
    assert rec["settings"]["password"] == "********" and PASSWORD not in out

    # a hand edit shows as drifted, with the diff
    override.write_text(override.read_text().replace("smtp.example.test:587", "other:25"))
    code, out, _ = cli("integrations", "--json")
    rec = json.loads(out)["integrations"][0]
    assert code == 1 and rec["status"] == "drifted"
    assert rec["drift"][0]["path"] == str(override) and "+      GF_SMTP_HOST: other:25" in rec["drift"][0]["diff"]
    code, out, _ = cli("integrations")
    assert "drifted" in out and "changed: " + str(override) in out

    # re-applying restores the file (the hand edit is backed up by the executor)
    code, out, _ = cli("integrate", "email", "--project-dir", str(project), "--config", cfg)
    assert code == 0 and "other:25" not in override.read_text()


def test_email_verify_refuses_wrong_password(cli: Any, tmp_path: Path, project: Path,
                                             smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_PASSWORD", "wrong")
    cfg = str(write_config(tmp_path, smtp_server))
    code, out, _ = cli("verify", "email", "--config", cfg, "--json")
    report = json.loads(out)
    assert code == 1 and not report["ok"], report
    assert {c["name"]: c["ok"] for c in report["checks"]}.get("auth") is False, report
    assert smtp_server.messages == []


def test_email_verify_rejects_untrusted_certificate(cli: Any, tmp_path: Path, smtp_server: SmtpServer,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_PASSWORD", PASSWORD)
    other_ca = tmp_path / "other-ca.pem"
    other_ca.write_text(generate_ca("someone else").cert)
    cfg = str(write_config(tmp_path, smtp_server, ca_file=str(other_ca)))
    code, out, _ = cli("verify", "email", "--config", cfg, "--json")
    checks = {c["name"]: c for c in json.loads(out)["checks"]}
    assert code == 1 and checks["tls"]["ok"] is False and "certificate verify failed" in checks["tls"]["detail"]


def test_email_bad_setting_is_one_line(cli: Any, tmp_path: Path) -> None:
    cfg = tmp_path / "portside.yaml"
    cfg.write_text(textwrap.dedent("""\
        integrations:
          email: {host: smtp, from_address: nobody, password: hunter2}
    """))
    code, _, err = cli("integrate", "email", "--config", str(cfg), "--dry-run")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "integrations.email.from_address" in err and "hunter2" not in err
