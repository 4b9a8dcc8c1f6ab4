"""The `sso` integrator: Keycloak OIDC clients for the detected consumers.

Files (under the output dir): `keycloak/realm-<realm>.json` (realm import, 0600
and owned by Keycloak's uid 1000: it holds client secrets), the consumers' environment through the compose
override (`compose.sso.yaml` + 0600 `sso-<service>.env` for the secrets), a
one-off script per CLI-configured app (`sso-<client>.sh`, 0700, no secret: it runs
`docker compose -p <project> exec <service>` and reads the 0600 `sso-<client>.secret`
or stdin), and the
documented manual steps for Portainer (`sso-portainer.md`, 0600). Client
secrets are generated once and kept in the state store, so re-runs are no-ops.

Live mode (`live: true` + admin credentials): `live_apply` upserts the clients
through Keycloak's Admin REST API (see `keycloak_api`), because the import file
is read only on Keycloak's first start.
"""

from __future__ import annotations

import json
import secrets as pysecrets
from typing import Any, Literal

import httpx
from pydantic import BaseModel, Field

from portside.app.errors import ConfigError
from portside.app.models import Plan, Snapshot
from portside.integrators import sso_gen as gen
from portside.integrators.base import (
    Check,
    Detection,
    PlanContext,
    container_user,
    file_edit,
    secret_field,
)
from portside.integrators.catalog import detect
from portside.integrators.override import override_edits
from portside.integrators.wiring import select, short_name, slug


class RoleNames(BaseModel):
    admin: str = Field("admin", title="Admin role", description="Keycloak client role for admins.")
    editor: str = Field("editor", title="Editor role")
    viewer: str = Field("viewer", title="Viewer role")


class UserImport(BaseModel):
    username: str = Field(..., min_length=1)
    email: str = Field(..., pattern=r"^[^@\s]+@[^@\s]+$")
    role: Literal["admin", "editor", "viewer"] = "viewer"
    password: str | None = secret_field(None, description="Temporary password (generated when empty).")


class SsoSettings(BaseModel):
    realm: str = Field("portside", title="Realm", pattern=r"^[A-Za-z0-9_-]+$")
    keycloak_url: str | None = Field(
        None, title="Keycloak public URL", pattern=r"^https?://",
        description="e.g. https://auth.example.com (default: https://keycloak.<proxy domain>).",
    )
    consumers: list[str] = Field(default_factory=list, title="Consumers",
                                 description="Services to enrol (empty: every detected supported one).")
    public_urls: dict[str, str] = Field(default_factory=dict, title="Public URLs",
                                        description="service -> public URL (default from the proxy settings).")
    roles: RoleNames = Field(default_factory=RoleNames, title="Role mapping")  # type: ignore[arg-type]
    users: list[UserImport] = Field(default_factory=list, title="Users to import")
    display_name: str = Field("Keycloak", title="Login button text")
    live: bool = Field(False, title="Live mode", description="Upsert the clients through the Admin REST API.")
    admin_url: str | None = Field(None, title="Admin URL", description="Where portside reaches Keycloak (default: public URL).")
    admin_user: str = Field("admin", title="Admin user")
    admin_password: str | None = secret_field(None, title="Admin password")
    verify_tls: bool = Field(True, title="Verify Keycloak's TLS certificate")


class SsoIntegrator:
    kind = "sso"
    title = "SSO: Keycloak OIDC clients"
    Settings = SsoSettings

    def detect(self, snapshot: Snapshot) -> Detection:
        providers, consumers = detect(snapshot, "sso")
        return Detection(providers=providers, consumers=consumers)

    # ----------------------------------------------------------------- urls

    def _proxy(self, ctx: PlanContext) -> dict[str, Any]:
        return dict(ctx.other_settings.get("proxy") or {})

    def keycloak_url(self, s: SsoSettings, ctx: PlanContext) -> str | None:
        if s.keycloak_url:
            return s.keycloak_url.rstrip("/")
        return self._public_url("keycloak", ctx)

    def _public_url(self, name: str, ctx: PlanContext) -> str | None:
        proxy = self._proxy(ctx)
        if not proxy.get("domain"):
            return None
        sub = (proxy.get("subdomains") or {}).get(name) or name
        scheme = "https" if proxy.get("https", True) else "http"
        return f"{scheme}://{sub}.{proxy['domain']}"

    # ----------------------------------------------------------------- plan

    def plan(self, snapshot: Snapshot, settings: SsoSettings, ctx: PlanContext) -> tuple[Plan, dict[str, str]]:
        s = settings
        warnings: list[str] = []
        kc = self.keycloak_url(s, ctx)
        if kc is None:
            raise ConfigError("integrations.sso.keycloak_url: not set; give Keycloak's public URL "
                              "(or set the proxy integration's domain)")
        ep = gen.Endpoints(kc, s.realm)
        roles = gen.Roles(s.roles.admin, s.roles.editor, s.roles.viewer)
        kept: dict[str, str] = {}
        clients: list[tuple[gen.Client, Any]] = []
        _, consumers = detect(snapshot, "sso")
        for ref in sorted(select(consumers, s.consumers), key=lambda r: r.name):
            spec = gen.CONSUMERS.get(ref.catalog_id or "")
            if spec is None or spec.support == "unsupported":
                warnings.append(f"{ref.name}: not enrolled — {spec.note if spec else 'no documented OIDC settings'}")
                continue
            name = short_name(ref)
            url = s.public_urls.get(name) or s.public_urls.get(ref.name) or self._public_url(name, ctx)
            if not url:
                warnings.append(f"{ref.name}: no public URL (set public_urls.{name} or the proxy domain)")
                continue
            cid = slug(name)
            key = f"client:{cid}"
            kept[key] = ctx.secrets.get(key) or pysecrets.token_urlsafe(32)
            if spec.note:
                warnings.append(f"{ref.name}: {spec.note}")
            clients.append((gen.Client(cid, ref.catalog_id or "", url.rstrip("/"), kept[key]), ref))
        users = []
        for u in s.users:
            key = f"user:{u.username}"
            kept[key] = u.password or ctx.secrets.get(key) or pysecrets.token_urlsafe(12)
            users.append(gen.User(u.username, u.email, u.role, kept[key]))
        smtp = gen.smtp_server(ctx.other_settings.get("email"))
        realm = gen.realm_import(s.realm, [c for c, _ in clients], roles, smtp=smtp, users=users)
        edits = [file_edit(ctx.path(f"keycloak/realm-{s.realm}.json"), json.dumps(realm, indent=2) + "\n",
                           secret=True, owner=container_user("keycloak"),
                           description=f"Keycloak realm import ({s.realm}), read by Keycloak's user")]
        env: dict[str, dict[str, str]] = {}
        secret_env: dict[str, dict[str, str]] = {}
        for client, ref in clients:
            target = gen.Target(project=ref.project, service=ref.service, container=ref.container)
            cfg = gen.consumer_config(client, ep, roles, target=target, display=s.display_name)
            svc = short_name(ref)
            if cfg.env or cfg.secret_env:
                if ctx.project_dir is not None and ref.project == ctx.scope:
                    env[svc], secret_env[svc] = cfg.env, cfg.secret_env
                else:  # not in this project: a standalone env file the user adds with env_file:
                    text = "".join(f"{k}={v}\n" for k, v in sorted({**cfg.env, **cfg.secret_env}.items()))
                    edits.append(file_edit(ctx.path(f"sso-{client.client_id}.env"), text, secret=True,
                                           description=f"OIDC environment for {ref.name}"))
            if cfg.script:
                edits.append(file_edit(ctx.path(f"sso-{client.client_id}.sh"), cfg.script,
                                       mode=0o700, description=f"run once: register Keycloak in {ref.name}"))
            if cfg.secret_file:
                edits.append(file_edit(ctx.path(f"sso-{client.client_id}.secret"), cfg.secret_file, secret=True,
                                       description=f"client secret the sso-{client.client_id}.sh script reads"))
            if cfg.steps:
                edits.append(file_edit(ctx.path(f"sso-{client.client_id}.md"), cfg.steps, secret=True,
                                       description=f"manual OIDC steps for {ref.name}"))
        edits += override_edits(ctx, "sso", env, secret_env)
        if not clients:
            warnings.append("no consumers enrolled (label services portside.consumes=sso or set consumers)")
        title = f"sso: realm {s.realm} with {len(clients)} client(s) at {kc}"
        return Plan(kind="integration:sso", title=title, edits=edits, warnings=warnings), kept

    # ------------------------------------------------------------- live/verify

    def _admin(self, s: SsoSettings, ctx: PlanContext):
        from portside.integrators.keycloak_api import KeycloakAdmin

        base = s.admin_url or self.keycloak_url(s, ctx) or ""
        return KeycloakAdmin(base, s.admin_user, s.admin_password or "", verify=s.verify_tls)

    def live_apply(self, settings: SsoSettings, ctx: PlanContext) -> list[str]:
        """Upsert the realm's clients in the running Keycloak (only with live: true)."""
        from portside.integrators.keycloak_api import upsert_realm

        if not settings.live:
            return []
        if not settings.admin_password:
            raise ConfigError("integrations.sso.admin_password: live mode needs the Keycloak admin password")
        realm = json.loads(ctx.path(f"keycloak/realm-{settings.realm}.json").read_text())
        realm.pop("users", None)  # users are imported once, never overwritten live
        with self._admin(settings, ctx) as admin:
            return upsert_realm(admin, realm)

    def verify(self, snapshot: Snapshot, settings: SsoSettings, ctx: PlanContext) -> list[Check]:
        s = settings
        base = (s.admin_url or self.keycloak_url(s, ctx) or "").rstrip("/")
        issuer = gen.Endpoints(self.keycloak_url(s, ctx) or base, s.realm).issuer
        checks = []
        try:
            r = httpx.get(f"{base}/realms/{s.realm}/.well-known/openid-configuration", timeout=5, verify=s.verify_tls)
            doc = r.json() if r.status_code == 200 else {}
            checks.append(Check("discovery", doc.get("issuer") == issuer,
                                f"HTTP {r.status_code}, issuer {doc.get('issuer')!r} (want {issuer!r})"))
        except (httpx.HTTPError, ValueError) as exc:
            checks.append(Check("discovery", False, f"{type(exc).__name__}: {exc}"[:300]))
        if s.live and s.admin_password:
            from portside.integrators.keycloak_api import KeycloakError

            realm = json.loads(ctx.path(f"keycloak/realm-{s.realm}.json").read_text())
            try:
                with self._admin(s, ctx) as admin:
                    for rep in realm["clients"]:
                        found = admin.find_client(s.realm, rep["clientId"])
                        ok = found is not None and found.get("redirectUris") == rep["redirectUris"]
                        checks.append(Check(f"client {rep['clientId']}", ok,
                                            "present with the expected redirect URI" if ok else "missing or different"))
            except (KeycloakError, httpx.HTTPError) as exc:
                checks.append(Check("admin api", False, str(exc)[:300]))
        return checks
