"""Keycloak OIDC generators (pure): the realm import JSON and each consumer's OIDC settings.

Every consumer is configured in the form its project documents; nothing is
invented. `CONSUMERS` says, per catalog id, the callback path Keycloak must
allow and how the app takes its OIDC settings:

- `env`: environment variables (Grafana `GF_AUTH_GENERIC_OAUTH_*`, Outline
  `OIDC_*`, Vaultwarden `SSO_*` — the latter only in releases with SSO);
- `cli`: a documented admin command, written as a script to run once
  (Gitea/Forgejo `admin auth add-oauth`, Nextcloud `occ user_oidc:provider`);
- `manual`: documented UI/API steps only (Portainer's OAuth settings);
- `unsupported`: the community edition has no OIDC (n8n: Enterprise only).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any, Literal

Support = Literal["env", "cli", "manual", "unsupported"]


@dataclass(frozen=True)
class ConsumerSpec:
    callback: str  # path appended to the consumer's public URL ("" = the root URL itself)
    support: Support
    docs: str
    note: str = ""


CONSUMERS: dict[str, ConsumerSpec] = {
    "grafana": ConsumerSpec(
        "/login/generic_oauth", "env",
        "https://grafana.com/docs/grafana/latest/setup-grafana/configure-security/configure-authentication/keycloak/",
    ),
    "gitea": ConsumerSpec(
        "/user/oauth2/keycloak/callback", "cli",
        "https://docs.gitea.com/administration/command-line#admin-auth-add-oauth",
    ),
    "forgejo": ConsumerSpec(
        "/user/oauth2/keycloak/callback", "cli",
        "https://forgejo.org/docs/latest/admin/command-line/#admin-auth-add-oauth",
    ),
    "nextcloud": ConsumerSpec(
        "/apps/user_oidc/code", "cli", "https://github.com/nextcloud/user_oidc#commandline-settings",
        note="needs the user_oidc app (the script installs it)",
    ),
    "outline": ConsumerSpec(
        "/auth/oidc.callback", "env", "https://docs.getoutline.com/s/hosting/doc/oidc-8CPBm6uC0I",
    ),
    "vaultwarden": ConsumerSpec(
        "/identity/connect/oidc-signin", "env",
        "https://github.com/dani-garcia/vaultwarden/wiki/Enabling-SSO-support-using-OpenId-Connect",
        note="SSO_* exists only in Vaultwarden releases with SSO support (added in 2025); older images ignore it",
    ),
    "portainer": ConsumerSpec(
        "", "manual", "https://docs.portainer.io/admin/settings/authentication/oauth",
        note="Portainer takes OAuth settings only through its UI/API (Settings > Authentication > OAuth)",
    ),
    "n8n": ConsumerSpec(
        "", "unsupported", "https://docs.n8n.io/user-management/oidc/",
        note="OIDC is an n8n Enterprise feature; the community edition cannot use it",
    ),
}

PROVIDER_NAME = "keycloak"  # the auth source name in Gitea/Forgejo (part of the callback path)


@dataclass(frozen=True)
class Endpoints:
    base_url: str  # public Keycloak URL, e.g. https://auth.example.com
    realm: str

    @property
    def issuer(self) -> str:
        return f"{self.base_url.rstrip('/')}/realms/{self.realm}"

    @property
    def discovery(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def oidc(self, leaf: str) -> str:
        return f"{self.issuer}/protocol/openid-connect/{leaf}"


@dataclass(frozen=True)
class Client:
    client_id: str
    catalog_id: str
    public_url: str  # the consumer's public URL (from the proxy settings or given)
    secret: str

    @property
    def redirect_uri(self) -> str:
        spec = CONSUMERS[self.catalog_id]
        return self.public_url.rstrip("/") + (spec.callback or "/")


@dataclass(frozen=True)
class Roles:
    admin: str = "admin"
    editor: str = "editor"
    viewer: str = "viewer"


def _roles_mapper(client_id: str) -> dict[str, Any]:
    return {
        "name": "client roles",
        "protocol": "openid-connect",
        "protocolMapper": "oidc-usermodel-client-role-mapper",
        "consentRequired": False,
        "config": {
            "usermodel.clientRoleMapping.clientId": client_id,
            "claim.name": "roles",
            "jsonType.label": "String",
            "multivalued": "true",
            "id.token.claim": "true",
            "access.token.claim": "true",
            "userinfo.token.claim": "true",
        },
    }


def client_representation(c: Client) -> dict[str, Any]:
    """A Keycloak ClientRepresentation (the same shape for realm import and the Admin REST API)."""
    origin = c.public_url.rstrip("/")
    return {
        "clientId": c.client_id,
        "name": c.client_id,
        "enabled": True,
        "protocol": "openid-connect",
        "publicClient": False,
        "clientAuthenticatorType": "client-secret",
        "secret": c.secret,
        "standardFlowEnabled": True,
        "implicitFlowEnabled": False,
        "directAccessGrantsEnabled": False,
        "serviceAccountsEnabled": False,
        "rootUrl": origin,
        "baseUrl": origin + "/",
        "redirectUris": [c.redirect_uri],
        "webOrigins": [origin],
        "attributes": {"post.logout.redirect.uris": origin + "/*"},
        "protocolMappers": [_roles_mapper(c.client_id)],
    }


def smtp_server(email: dict[str, Any] | None) -> dict[str, str] | None:
    """Keycloak's realm `smtpServer` (all values strings) from the email integration settings."""
    if not email or not email.get("host"):
        return None
    security = str(email.get("security") or "starttls").lower()
    sender = email.get("from_address") or email.get("from_addr") or email.get("sender") or email.get("from")
    out = {
        "host": str(email["host"]),
        "port": str(email.get("port") or (465 if security == "tls" else 587)),
        "from": str(sender or ""),
        "fromDisplayName": str(email.get("from_name") or ""),
        "ssl": "true" if security == "tls" else "false",
        "starttls": "true" if security == "starttls" else "false",
        "auth": "true" if email.get("user") else "false",
    }
    if email.get("user"):
        out["user"] = str(email["user"])
        out["password"] = str(email.get("password") or "")
    return {k: v for k, v in out.items() if v != "" or k in ("password",)}


@dataclass(frozen=True)
class User:
    username: str
    email: str
    role: str  # admin / editor / viewer
    password: str


def realm_import(
    realm: str,
    clients: list[Client],
    roles: Roles,
    *,
    smtp: dict[str, str] | None = None,
    users: list[User] | None = None,
) -> dict[str, Any]:
    clients = sorted(clients, key=lambda c: c.client_id)
    levels = {"admin": roles.admin, "editor": roles.editor, "viewer": roles.viewer}
    doc: dict[str, Any] = {
        "realm": realm,
        "enabled": True,
        "sslRequired": "external",
        "roles": {
            "client": {
                c.client_id: [{"name": name, "description": f"portside role: {level}"} for level, name in levels.items()]
                for c in clients
            }
        },
        "clients": [client_representation(c) for c in clients],
    }
    if smtp:
        doc["smtpServer"] = smtp
    if users:
        doc["users"] = [
            {
                "username": u.username,
                "email": u.email,
                "emailVerified": True,
                "enabled": True,
                "credentials": [{"type": "password", "value": u.password, "temporary": True}],
                "clientRoles": {c.client_id: [levels[u.role]] for c in clients},
            }
            for u in sorted(users, key=lambda u: u.username)
        ]
    return doc


# -------------------------------------------------------------------- consumers


@dataclass
class ConsumerConfig:
    env: dict[str, str]  # non-secret environment
    secret_env: dict[str, str]  # secret environment (0600 env file)
    script: str | None = None  # a documented admin command to run once (contains the secret)
    steps: str | None = None  # documented manual steps (contains the secret)
    secret_file: str | None = None  # the client secret the script reads (never on its command line)


def grafana_role_path(roles: Roles) -> str:
    return (
        f"contains(roles[*], '{roles.admin}') && 'Admin' || "
        f"contains(roles[*], '{roles.editor}') && 'Editor' || 'Viewer'"
    )


@dataclass(frozen=True)
class Target:
    """Where a script runs a command: a compose service (`docker compose -p P exec S`), else a container."""

    project: str | None = None
    service: str | None = None
    container: str | None = None


SECRET_VAR = "PORTSIDE_OIDC_SECRET"


def consumer_config(
    c: Client, ep: Endpoints, roles: Roles, *, target: Target | None = None, display: str = "Keycloak"
) -> ConsumerConfig:
    """The consumer's OIDC settings in the form its docs give (see CONSUMERS)."""
    target = target or Target(service=c.client_id)
    cid, sec = c.client_id, c.secret
    q = shlex.quote
    if c.catalog_id == "grafana":
        return ConsumerConfig(
            env={
                "GF_SERVER_ROOT_URL": c.public_url.rstrip("/") + "/",
                "GF_AUTH_GENERIC_OAUTH_ENABLED": "true",
                "GF_AUTH_GENERIC_OAUTH_NAME": display,
                "GF_AUTH_GENERIC_OAUTH_ALLOW_SIGN_UP": "true",
                "GF_AUTH_GENERIC_OAUTH_CLIENT_ID": cid,
                "GF_AUTH_GENERIC_OAUTH_SCOPES": "openid email profile offline_access roles",
                "GF_AUTH_GENERIC_OAUTH_EMAIL_ATTRIBUTE_PATH": "email",
                "GF_AUTH_GENERIC_OAUTH_LOGIN_ATTRIBUTE_PATH": "preferred_username",
                "GF_AUTH_GENERIC_OAUTH_NAME_ATTRIBUTE_PATH": "name",
                "GF_AUTH_GENERIC_OAUTH_AUTH_URL": ep.oidc("auth"),
                "GF_AUTH_GENERIC_OAUTH_TOKEN_URL": ep.oidc("token"),
                "GF_AUTH_GENERIC_OAUTH_API_URL": ep.oidc("userinfo"),
                "GF_AUTH_GENERIC_OAUTH_ROLE_ATTRIBUTE_PATH": grafana_role_path(roles),
            },
            secret_env={"GF_AUTH_GENERIC_OAUTH_CLIENT_SECRET": sec},
        )
    if c.catalog_id == "outline":
        return ConsumerConfig(
            env={
                "OIDC_CLIENT_ID": cid,
                "OIDC_AUTH_URI": ep.oidc("auth"),
                "OIDC_TOKEN_URI": ep.oidc("token"),
                "OIDC_USERINFO_URI": ep.oidc("userinfo"),
                "OIDC_LOGOUT_URI": ep.oidc("logout"),
                "OIDC_USERNAME_CLAIM": "preferred_username",
                "OIDC_DISPLAY_NAME": display,
                "OIDC_SCOPES": "openid profile email",
            },
            secret_env={"OIDC_CLIENT_SECRET": sec},
        )
    if c.catalog_id == "vaultwarden":
        return ConsumerConfig(
            # DOMAIN is the base Vaultwarden builds its SSO callback from (unset: http://localhost)
            env={"SSO_ENABLED": "true", "SSO_AUTHORITY": ep.issuer, "SSO_CLIENT_ID": cid,
                 "DOMAIN": c.public_url.rstrip("/")},
            secret_env={"SSO_CLIENT_SECRET": sec},
        )
    if c.catalog_id in ("gitea", "forgejo"):
        cmd = (f"exec {c.catalog_id} admin auth add-oauth --name {PROVIDER_NAME} --provider openidConnect "
               f"--key {q(cid)} --secret \"${SECRET_VAR}\" --auto-discover-url {q(ep.discovery)} "
               "--scopes openid --scopes email --scopes profile")
        body = _exec(target, "git", cmd)
        return ConsumerConfig({}, {}, script=_script(c, body, "once; to change it later use `admin auth update-oauth --id N`"),
                              secret_file=sec + "\n")
    if c.catalog_id == "nextcloud":
        body = (_exec(target, "www-data", "php occ app:install user_oidc || true") + "\n" + _exec(
            target, "www-data", f"exec php occ user_oidc:provider {q(display)} --clientid={q(cid)} "
            f"--clientsecret=\"${SECRET_VAR}\" --discoveryuri={q(ep.discovery)}"))
        return ConsumerConfig({}, {}, script=_script(c, body, "re-running updates the same provider"),
                              secret_file=sec + "\n")
    if c.catalog_id == "portainer":
        steps = "\n".join([
            f"# Portainer OAuth with Keycloak (realm {ep.realm}) — manual, documented steps",
            "",
            "Portainer has no environment variables for OAuth; set it in the UI:",
            "Settings > Authentication > OAuth > Custom, then enter:",
            "",
            f"- Client ID: {cid}",
            f"- Client secret: {sec}",
            f"- Authorization URL: {ep.oidc('auth')}",
            f"- Access token URL: {ep.oidc('token')}",
            f"- Resource URL: {ep.oidc('userinfo')}",
            f"- Redirect URL: {c.redirect_uri}",
            f"- Logout URL: {ep.oidc('logout')}",
            "- User identifier: preferred_username",
            "- Scopes: openid profile email",
            "",
            f"Docs: {CONSUMERS['portainer'].docs}",
        ])
        return ConsumerConfig({}, {}, steps=steps + "\n")
    raise ValueError(f"{c.catalog_id}: no documented OIDC configuration")


def _exec(t: Target, user: str, command: str) -> str:
    """A shell line running `command` in the service as `user`; the secret travels in the
    environment (`-e NAME` copies it from the script's), never on a command line."""
    q = shlex.quote
    if t.project and t.service:
        where = f"docker compose -p {q(t.project)} exec -T -e {SECRET_VAR} -u {user} {q(t.service)}"
    else:
        where = f"docker exec -i -e {SECRET_VAR} -u {user} {q(t.container or t.service or '')}"
    return f"{where} sh -c {q(command)}"


def _script(c: Client, body: str, note: str) -> str:
    spec = CONSUMERS[c.catalog_id]
    return (
        "#!/bin/sh\n"
        f"# Generated by portside (sso): register Keycloak as the OIDC provider of {c.client_id}.\n"
        f"# Run {note}. Docs: {spec.docs}\n"
        f"# The client secret is read from sso-{c.client_id}.secret beside this script, or from\n"
        f"# stdin with `sh sso-{c.client_id}.sh -`; it is never put on a command line here. The app's\n"
        "# admin command itself takes it as an argument inside the container (its only interface).\n"
        "set -eu\n"
        'if [ "${1:-}" = "-" ]; then\n'
        f"  IFS= read -r {SECRET_VAR}\n"
        "else\n"
        f'  IFS= read -r {SECRET_VAR} < "$(dirname -- "$0")/sso-{c.client_id}.secret"\n'
        "fi\n"
        f"export {SECRET_VAR}\n" + body + "\n"
    )
