"""The `proxy` integrator: routes `<sub>.<domain>` to each web service, with HTTPS.

Caddy: `<out>/caddy/Caddyfile`. Traefik: `<out>/traefik/traefik.yml` (static),
`<out>/traefik/dynamic.yml` (routers/services); with `traefik_labels` the
project's own services are routed by docker-provider labels instead of file
routers (one router per Host, never both). Each routed service of the project
gets the public-URL environment its docs give (catalog `proxy_env`, e.g.
Vaultwarden `DOMAIN`, Keycloak `KC_HOSTNAME`/`KC_PROXY_HEADERS`/`KC_HTTP_ENABLED`)
and its labels through the compose override `compose.proxy.yaml`.
Generators live in `integrators.proxy_gen`.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Literal

import httpx
from pydantic import BaseModel, Field, field_validator

from portside.app.models import Plan, Snapshot
from portside.integrators import proxy_gen as gen
from portside.integrators.base import Check, Detection, PlanContext, file_edit
from portside.integrators.catalog import detect
from portside.integrators.override import override_edits
from portside.integrators.traefik_schema import check_pair
from portside.integrators.wiring import (
    Reach,
    address,
    entry_of,
    fill,
    local_service,
    matches,
    select,
    short_name,
)


class ProxySettings(BaseModel):
    provider: Literal["caddy", "traefik"] = Field("caddy", title="Proxy", description="Caddy or Traefik.")
    domain: str = Field(..., title="Base domain", description="Sites are <service>.<domain>.",
                        min_length=3, pattern=r"^[A-Za-z0-9.-]+\.[A-Za-z0-9-]+$")
    https: bool = Field(True, title="HTTPS", description="Serve the sites over HTTPS.")
    acme_email: str | None = Field(
        None, title="ACME email", description="Let's Encrypt account email; empty: internal CA (LAN-only).",
        pattern=r"^[^@\s]+@[^@\s]+$",
    )
    include: list[str] = Field(default_factory=list, title="Services",
                               description="Services to route (empty: every detected web service).")
    subdomains: dict[str, str] = Field(default_factory=dict, title="Subdomains",
                                       description="service -> subdomain (default: the service name).")
    ports: dict[str, int] = Field(default_factory=dict, title="Upstream ports",
                                  description="service -> container port (default: from the catalog/labels).")
    reach: Reach = Field("network", title="Upstream via",
                         description="network: <service>:<port> on the Docker network; host: 127.0.0.1:<published port>.")
    http_port: int | None = Field(None, ge=1, le=65535, title="HTTP port", description="Default 80.")
    https_port: int | None = Field(None, ge=1, le=65535, title="HTTPS port", description="Default 443.")
    caddy_admin: str | None = Field(None, title="Caddy admin", description="Admin endpoint address, or 'off'.")
    traefik_labels: bool = Field(False, title="Traefik labels",
                                 description="Route this project's services by docker-provider labels "
                                             "(compose override) instead of file routers.")
    verify_address: str = Field("127.0.0.1", title="Verify via", description="Where verify reaches the proxy.")

    @field_validator("acme_email", mode="before")
    @classmethod
    def _empty(cls, v: object) -> object:
        return None if v == "" else v


class ProxyIntegrator:
    kind = "proxy"
    title = "Reverse proxy with HTTPS (Caddy / Traefik)"
    Settings = ProxySettings

    def detect(self, snapshot: Snapshot) -> Detection:
        providers, consumers = detect(snapshot, "proxy")
        return Detection(providers=providers, consumers=consumers)

    def sites(self, snapshot: Snapshot, s: ProxySettings) -> tuple[list[gen.Site], list[str]]:
        _, consumers = detect(snapshot, "proxy")
        if s.include:  # named services are routed even when the catalog does not mark them
            from portside.integrators.catalog import services

            consumers = [r for r in services(snapshot) if matches(r, s.include)]
        sites, warnings = [], []
        for ref in sorted(select(consumers, s.include), key=lambda r: r.name):
            name = short_name(ref)
            entry = entry_of(ref)
            port = s.ports.get(name) or s.ports.get(ref.name) or (entry.ports[0] if entry and entry.ports else None)
            if port is None:
                warnings.append(f"{ref.name}: no web port known; set ports.{name}")
                continue
            upstream = address(snapshot, ref, port, s.reach)
            if upstream is None:
                warnings.append(f"{ref.name}: port {port} is not published; use reach=network or publish it")
                continue
            sub = s.subdomains.get(name) or s.subdomains.get(ref.name) or name
            sites.append(gen.Site(name=name, host=f"{sub}.{s.domain}", upstream=upstream, ref=ref))
        if not sites:
            warnings.append("no services to route (label them portside.consumes=proxy or set include)")
        return sites, warnings

    def plan(self, snapshot: Snapshot, settings: ProxySettings, ctx: PlanContext) -> tuple[Plan, dict[str, str]]:
        s = settings
        sites, warnings = self.sites(snapshot, s)
        tls = gen.TlsMode(https=s.https, acme_email=s.acme_email)
        if tls.internal:
            warnings.append("HTTPS with an internal CA: browsers trust it only after you install its root certificate")
        edits = []
        has_dir = ctx.project_dir is not None
        env, extra = self._public_env(sites, s, ctx, warnings)
        if s.provider == "caddy":
            text = gen.caddyfile(sites, tls, http_port=s.http_port, https_port=s.https_port, admin=s.caddy_admin)
            edits.append(file_edit(ctx.path("caddy/Caddyfile"), text, description="Caddyfile"))
        else:
            labelled = [site for site in sites if s.traefik_labels and site.ref is not None
                        and local_service(site.ref, ctx.scope, has_dir) and s.reach == "network"]
            if s.traefik_labels and len(labelled) < len(sites):
                warnings.append("traefik_labels: routed by the file provider (not a service of this project, "
                                "or reach=host): " + ", ".join(x.name for x in sites if x not in labelled))
            for site in labelled:
                svc = local_service(site.ref, ctx.scope, has_dir) if site.ref else None
                extra.setdefault(svc or site.name, {})["labels"] = gen.traefik_labels(site, tls)
            static = gen.traefik_static(
                tls, docker_provider=bool(labelled),
                docker_constraint=gen.project_constraint(ctx.scope) if labelled else None,
                http_address=f":{s.http_port or 80}", https_address=f":{s.https_port or 443}",
            )
            dynamic = gen.traefik_dynamic([x for x in sites if x not in labelled], tls)
            check_pair(static, dynamic)
            edits.append(file_edit(ctx.path("traefik/traefik.yml"),
                                   gen.dump_yaml(static, "Generated by portside (proxy/traefik): static configuration"),
                                   description="Traefik static configuration"))
            edits.append(file_edit(ctx.path("traefik/dynamic.yml"),
                                   gen.dump_yaml(dynamic, "Generated by portside (proxy/traefik): routers and services"),
                                   description="Traefik dynamic configuration"))
        edits += override_edits(ctx, "proxy", env, extra=extra)
        title = f"proxy: {s.provider}, {len(sites)} site(s) under {s.domain}"
        return Plan(kind="integration:proxy", title=title, edits=edits, warnings=warnings), {}

    def _public_env(self, sites: list[gen.Site], s: ProxySettings, ctx: PlanContext,
                    warnings: list[str]) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, object]]]:
        """Per compose service of the project: the public-URL environment its catalog entry gives."""
        env: dict[str, dict[str, str]] = {}
        scheme = "https" if s.https else "http"
        port = (s.https_port or 443) if s.https else (s.http_port or 80)
        suffix = "" if port == (443 if s.https else 80) else f":{port}"
        for site in sites:
            entry = entry_of(site.ref) if site.ref else None
            template = (entry.extra("proxy_env") if entry else None) or {}
            if not template or site.ref is None:
                continue
            want = fill(template, url=f"{scheme}://{site.host}{suffix}", host=site.host, scheme=scheme)
            svc = local_service(site.ref, ctx.scope, ctx.project_dir is not None)
            if svc:
                env[svc] = want
            else:
                warnings.append(f"{site.ref.name}: not a service of this project; set {', '.join(sorted(want))} "
                                "in its environment for its public URL")
        return env, {}

    def verify(self, snapshot: Snapshot, settings: ProxySettings, ctx: PlanContext) -> list[Check]:
        s = settings
        checks: list[Check] = []
        sites, _ = self.sites(snapshot, s)
        if s.provider == "caddy":
            checks.append(_caddy_validate(ctx.path("caddy/Caddyfile")))
        else:
            try:
                import yaml

                check_pair(yaml.safe_load(ctx.path("traefik/traefik.yml").read_text()),
                           yaml.safe_load(ctx.path("traefik/dynamic.yml").read_text()))
                checks.append(Check("traefik config", True, "matches the documented schema (no traefik binary used)"))
            except Exception as exc:
                checks.append(Check("traefik config", False, str(exc)[:300]))
        scheme = "https" if s.https else "http"
        port = (s.https_port or 443) if s.https else (s.http_port or 80)
        for site in sites:
            checks.append(_fetch(scheme, s.verify_address, port, site.host))
        return checks


def _caddy_validate(path: Path) -> Check:
    if shutil.which("caddy") is None:
        return Check("caddy validate", False, "caddy is not installed here; cannot validate")
    with tempfile.TemporaryDirectory() as home:
        env = {"HOME": home, "XDG_DATA_HOME": f"{home}/data", "XDG_CONFIG_HOME": f"{home}/config",
               "PATH": "/usr/bin:/bin:/usr/local/bin"}
        p = subprocess.run(["caddy", "validate", "--config", str(path), "--adapter", "caddyfile"],
                           capture_output=True, text=True, timeout=60, env=env, check=False)
    tail = (p.stderr or p.stdout).strip().splitlines()[-1:] or [""]
    return Check("caddy validate", p.returncode == 0, "valid" if p.returncode == 0 else tail[0][:300])


def _fetch(scheme: str, addr: str, port: int, host: str) -> Check:
    """GET the site through the proxy by host name (TLS not verified: the CA may be internal)."""
    try:
        with httpx.Client(verify=False, timeout=5) as client:
            r = client.request("GET", f"{scheme}://{addr}:{port}/", headers={"Host": host},
                               extensions={"sni_hostname": host} if scheme == "https" else None)
        return Check(f"route {host}", r.status_code < 500, f"HTTP {r.status_code} via {addr}:{port}")
    except httpx.HTTPError as exc:
        return Check(f"route {host}", False, f"{type(exc).__name__}: {exc}"[:300])
