"""Email (SMTP): one relay wired into every consumer the way each project documents it.

Providers are found through the catalog (Mailpit/MailHog for testing,
Mailu/Postfix in a stack, or an external relay you name). Consumers get their
settings through the compose override (see integrators/override.py): plain
values in `portside/compose.email.yaml`, the password in a 0600
`portside/email-<service>.env`. Keycloak takes SMTP per realm (`smtpServer`),
so it gets `portside/keycloak-smtp.json` for a realm import / kcadm.
`verify` connects, negotiates the configured security, authenticates and
sends a test message.
"""

from __future__ import annotations

import base64
import json
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator

from portside.app.models import Plan, Snapshot
from portside.integrators.base import Check, Detection, PlanContext, file_edit, secret_field
from portside.integrators.catalog import catalog, detect, entry_for
from portside.integrators.override import override_edits


class Security(StrEnum):
    NONE = "none"
    STARTTLS = "starttls"
    TLS = "tls"


class EmailSettings(BaseModel):
    host: str = Field(title="SMTP host", description="Relay host name as the consumers reach it (a compose service name works inside the project).", min_length=1)
    port: int = Field(587, ge=1, le=65535, title="Port", description="587 for STARTTLS, 465 for TLS, 25/1025 for none.")
    security: Security = Field(Security.STARTTLS, title="Security", description="none, starttls (upgrade after connect) or tls (TLS from the first byte).")
    user: str | None = Field(None, title="User", description="Login name; empty for a relay without authentication.")
    password: str | None = secret_field(None, title="Password", description="Login password (or ${ENV_VAR} / file:/path). Stored in the state store, written only to 0600 files.")
    from_address: str = Field(title="From address", description="Sender address of every mail, e.g. noreply@example.com.")
    from_name: str = Field("portside", title="From name", description="Display name of the sender.")
    consumers: list[str] | None = Field(None, title="Consumers", description="Services to configure (compose service names); empty: every detected consumer.")
    verify_address: str | None = Field(None, title="Verify via", description="host:port to reach the relay from this machine when it differs from host/port (e.g. 127.0.0.1:1025).")
    verify_to: str | None = Field(None, title="Test recipient", description="Where verify sends the test message (default: the from address).")
    tls_verify: bool = Field(True, title="Check certificate", description="Verify the relay's TLS certificate.")
    ca_file: str | None = Field(None, title="CA file", description="CA bundle to trust for the relay's certificate (self-signed / internal CA).")

    @field_validator("from_address", "verify_to")
    @classmethod
    def _address(cls, v: str | None) -> str | None:
        if v is not None and ("@" not in v or v.startswith("@") or v.endswith("@") or " " in v):
            raise ValueError("should be an email address like noreply@example.com")
        return v

    @field_validator("verify_address")
    @classmethod
    def _hostport(cls, v: str | None) -> str | None:
        if v and (":" not in v or not v.rsplit(":", 1)[1].isdigit()):
            raise ValueError("should be host:port, e.g. 127.0.0.1:1025")
        return v or None

    @model_validator(mode="after")
    def _auth(self) -> EmailSettings:
        if self.password and not self.user:
            raise ValueError("a password needs a user")
        return self

    @property
    def sender(self) -> str:
        return formataddr((self.from_name, self.from_address)) if self.from_name else self.from_address


# --------------------------------------------------------------------- consumers

Env = tuple[dict[str, str], dict[str, str]]  # (plain, secret)


def _b(v: bool) -> str:
    return "true" if v else "false"


def grafana(s: EmailSettings) -> Env:
    env = {"GF_SMTP_ENABLED": "true", "GF_SMTP_HOST": f"{s.host}:{s.port}",
           "GF_SMTP_FROM_ADDRESS": s.from_address, "GF_SMTP_FROM_NAME": s.from_name}
    if s.user:
        env["GF_SMTP_USER"] = s.user
    policy = {Security.STARTTLS: "MandatoryStartTLS", Security.NONE: "NoStartTLS"}.get(s.security)
    if policy:  # implicit TLS: Grafana uses it when the port is 465
        env["GF_SMTP_STARTTLS_POLICY"] = policy
    return env, {"GF_SMTP_PASSWORD": s.password} if s.password else {}


def gitea(s: EmailSettings) -> Env:
    proto = {Security.NONE: "smtp", Security.STARTTLS: "smtp+starttls", Security.TLS: "smtps"}[s.security]
    p = "GITEA__mailer__"
    env = {f"{p}ENABLED": "true", f"{p}PROTOCOL": proto, f"{p}SMTP_ADDR": s.host,
           f"{p}SMTP_PORT": str(s.port), f"{p}FROM": s.sender}
    if s.user:
        env[f"{p}USER"] = s.user
    return env, {f"{p}PASSWD": s.password} if s.password else {}


def nextcloud(s: EmailSettings) -> Env:
    local, _, domain = s.from_address.partition("@")
    env = {"SMTP_HOST": s.host, "SMTP_PORT": str(s.port), "MAIL_FROM_ADDRESS": local, "MAIL_DOMAIN": domain}
    secure = {Security.TLS: "ssl", Security.STARTTLS: "tls"}.get(s.security)
    if secure:
        env["SMTP_SECURE"] = secure
    if s.user:
        env["SMTP_AUTHTYPE"] = "LOGIN"
        env["SMTP_NAME"] = s.user
    return env, {"SMTP_PASSWORD": s.password} if s.password else {}


def n8n(s: EmailSettings) -> Env:
    env = {"N8N_EMAIL_MODE": "smtp", "N8N_SMTP_HOST": s.host, "N8N_SMTP_PORT": str(s.port),
           "N8N_SMTP_SENDER": s.sender, "N8N_SMTP_SSL": _b(s.security is Security.TLS),
           # n8n's STARTTLS defaults to true: say it, or `security: none` would still try it
           "N8N_SMTP_STARTTLS": _b(s.security is Security.STARTTLS)}
    if s.user:
        env["N8N_SMTP_USER"] = s.user
    return env, {"N8N_SMTP_PASS": s.password} if s.password else {}


def authentik(s: EmailSettings) -> Env:
    p = "AUTHENTIK_EMAIL__"
    env = {f"{p}HOST": s.host, f"{p}PORT": str(s.port), f"{p}FROM": s.sender,
           f"{p}USE_TLS": _b(s.security is Security.STARTTLS), f"{p}USE_SSL": _b(s.security is Security.TLS)}
    if s.user:
        env[f"{p}USERNAME"] = s.user
    return env, {f"{p}PASSWORD": s.password} if s.password else {}


def vaultwarden(s: EmailSettings) -> Env:
    sec = {Security.NONE: "off", Security.STARTTLS: "starttls", Security.TLS: "force_tls"}[s.security]
    env = {"SMTP_HOST": s.host, "SMTP_PORT": str(s.port), "SMTP_SECURITY": sec,
           "SMTP_FROM": s.from_address, "SMTP_FROM_NAME": s.from_name}
    if s.user:
        env["SMTP_USERNAME"] = s.user
    return env, {"SMTP_PASSWORD": s.password} if s.password else {}


def _php(v: str) -> str:
    return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"


def wordpress(s: EmailSettings) -> Env:
    """WP Mail SMTP constants; the password comes from the environment, not from the PHP text."""
    ssl_ = {Security.NONE: "", Security.STARTTLS: "tls", Security.TLS: "ssl"}[s.security]
    consts: list[tuple[str, str]] = [
        ("WPMS_ON", "true"), ("WPMS_MAILER", _php("smtp")), ("WPMS_SMTP_HOST", _php(s.host)),
        ("WPMS_SMTP_PORT", str(s.port)), ("WPMS_SSL", _php(ssl_)),
        ("WPMS_SMTP_AUTOTLS", _b(s.security is not Security.NONE)),
        ("WPMS_SMTP_AUTH", _b(bool(s.user))),
        ("WPMS_MAIL_FROM", _php(s.from_address)), ("WPMS_MAIL_FROM_FORCE", "true"),
        ("WPMS_MAIL_FROM_NAME", _php(s.from_name)), ("WPMS_MAIL_FROM_NAME_FORCE", "true"),
    ]
    if s.user:
        consts += [("WPMS_SMTP_USER", _php(s.user)), ("WPMS_SMTP_PASS", "getenv('WPMS_SMTP_PASS')")]
    extra = " ".join(f"define('{k}', {v});" for k, v in consts)
    return {"WORDPRESS_CONFIG_EXTRA": extra}, {"WPMS_SMTP_PASS": s.password} if s.password else {}


CONSUMERS = {
    "grafana": grafana, "gitea": gitea, "forgejo": gitea, "nextcloud": nextcloud, "n8n": n8n,
    "authentik": authentik, "vaultwarden": vaultwarden, "wordpress": wordpress,
}


def keycloak_smtp_server(s: EmailSettings) -> dict[str, str]:
    """A Keycloak realm's `smtpServer` (RealmRepresentation; every value is a string)."""
    out = {"host": s.host, "port": str(s.port), "from": s.from_address, "fromDisplayName": s.from_name,
           "ssl": _b(s.security is Security.TLS), "starttls": _b(s.security is Security.STARTTLS),
           "auth": _b(bool(s.user))}
    if s.user:
        out["user"] = s.user
    if s.password:
        out["password"] = s.password
    return out


# ------------------------------------------------------------------ integrator


class EmailIntegrator:
    kind = "email"
    title = "Email (SMTP)"
    Settings = EmailSettings

    def detect(self, snapshot: Snapshot) -> Detection:
        providers, consumers = detect(snapshot, "email")
        return Detection(providers=providers, consumers=consumers)

    def suggest(self, snapshot: Snapshot, ctx: PlanContext) -> dict[str, Any]:
        """Defaults from a provider in the same project (e.g. Mailpit: host mailpit, port 1025)."""
        for p in self.detect(snapshot).providers:
            if p.project == ctx.scope and p.service:
                smtp = (catalog().get(p.catalog_id or "") and catalog()[p.catalog_id or ""].extra("smtp")) or {}
                return {"host": p.service, "port": smtp.get("port", 587),
                        "security": smtp.get("security", "starttls")}
        return {}

    def plan(self, snapshot: Snapshot, settings: Any, ctx: PlanContext) -> tuple[Plan, dict[str, str]]:
        s: EmailSettings = settings
        env: dict[str, dict[str, str]] = {}
        secret: dict[str, dict[str, str]] = {}
        warnings: list[str] = []
        edits = []
        for ref in self.detect(snapshot).consumers:
            if ref.project != ctx.scope or not ref.service:
                continue
            if s.consumers and ref.service not in s.consumers:
                continue
            entry = entry_for(ref.image, dict(ref.labels))
            cid = entry.id if entry else None
            if cid == "keycloak":
                text = json.dumps({"smtpServer": keycloak_smtp_server(s)}, indent=2) + "\n"
                edits.append(file_edit(ctx.path("keycloak-smtp.json"), text, secret=bool(s.password),
                                       description="Keycloak realm smtpServer (realm import / kcadm)"))
                continue
            make = CONSUMERS.get(cid or "")
            if make is None:
                warnings.append(f"{ref.name}: no known way to configure SMTP for it (set it up by hand)")
                continue
            env[ref.service], secret[ref.service] = make(s)
            if cid == "grafana" and s.security is Security.TLS and s.port != 465:
                warnings.append(f"{ref.name}: Grafana uses implicit TLS only on port 465")
        edits += override_edits(ctx, self.kind, env, {k: v for k, v in secret.items() if v})
        configured = ", ".join(sorted(env)) or "no consumers"
        plan = Plan(kind="integration:email", title=f"Email via {s.host}:{s.port} ({s.security.value}) for {configured}",
                    reason="wire SMTP into the stack's services", edits=edits, warnings=warnings)
        return plan, {}

    def verify(self, snapshot: Snapshot, settings: Any, ctx: PlanContext) -> list[Check]:
        return send_test_message(settings)


def _login(client: smtplib.SMTP, user: str, password: str) -> None:
    """smtplib encodes credentials as ASCII; AUTH PLAIN carries UTF-8 (RFC 4616), so use it for the rest."""
    if (user + password).isascii():
        client.login(user, password)
        return
    token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
    code, resp = client.docmd("AUTH", "PLAIN " + token)
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, resp)


def send_test_message(s: EmailSettings, timeout: float = 10.0) -> list[Check]:
    host, port = s.host, s.port
    if s.verify_address:
        h, _, p = s.verify_address.rpartition(":")
        host, port = h, int(p)
    context = ssl.create_default_context(cafile=s.ca_file) if s.tls_verify else ssl._create_unverified_context()
    checks: list[Check] = []
    try:
        if s.security is Security.TLS:
            client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
        else:
            client = smtplib.SMTP(host, port, timeout=timeout)
    except (OSError, smtplib.SMTPException) as exc:
        return [Check("connect", False, f"{host}:{port}: {exc}")]
    with client:
        try:
            checks.append(Check("connect", True, f"{host}:{port}"))
            client.ehlo()
            if s.security is Security.STARTTLS:
                if not client.has_extn("starttls"):
                    return [*checks, Check("starttls", False, "the server does not offer STARTTLS")]
                client.starttls(context=context)
                client.ehlo()
            if s.security is not Security.NONE:
                sock = client.sock
                cipher = sock.cipher() if isinstance(sock, ssl.SSLSocket) else None
                checks.append(Check(s.security.value, True, f"{cipher[1]} {cipher[0]}" if cipher else ""))
            if s.user:
                _login(client, s.user, s.password or "")
                checks.append(Check("auth", True, f"logged in as {s.user}"))
            msg = EmailMessage()
            msg["From"] = s.sender
            msg["To"] = s.verify_to or s.from_address
            msg["Subject"] = "portside test message"
            msg["Message-ID"] = make_msgid(domain=s.from_address.partition("@")[2] or None)
            msg.set_content("This message was sent by `portside verify email`. SMTP works.\n")
            refused = client.send_message(msg, from_addr=s.from_address)
            if refused:
                checks.append(Check("send", False, f"refused recipients: {', '.join(refused)}"))
            else:
                checks.append(Check("send", True, f"test message from {s.from_address} to {msg['To']} accepted"))
        except ssl.SSLError as exc:
            checks.append(Check("tls", False, str(exc)))
        except smtplib.SMTPAuthenticationError as exc:
            checks.append(Check("auth", False, f"login as {s.user} refused ({exc.smtp_code})"))
        except (smtplib.SMTPException, OSError) as exc:
            checks.append(Check("send", False, f"{type(exc).__name__}: {exc}"))
    return checks
