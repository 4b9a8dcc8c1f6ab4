"""A pydantic model of the part of Traefik's (v2/v3) configuration portside writes.

`portside verify proxy` checks the files against this model (no Traefik binary
is needed on the user's machine); the tests also load them into the real
Traefik 3 and SchemaStore's published schemas. It follows Traefik's documented
configuration reference (doc.traefik.io: "Static configuration: File" and
"Dynamic configuration: File"): key names are case-sensitive camelCase and
unknown keys are refused (`extra="forbid"`), so a typo such as `entrypoints`
in the static file or `loadbalancer` in the dynamic file fails the check.
Only keys portside emits (and a few close neighbours) are modelled.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


_ADDR = re.compile(r"^(\[[0-9a-fA-F:]*\]|[0-9.]*|[A-Za-z0-9.-]*):\d{1,5}(/(tcp|udp))?$")


# ------------------------------------------------------------------------- static


class RedirectEntryPoint(_M):
    to: str
    scheme: str = "https"
    permanent: bool | None = None


class Redirections(_M):
    entryPoint: RedirectEntryPoint


class EntryPointHttp(_M):
    redirections: Redirections | None = None


class EntryPoint(_M):
    address: str
    http: EntryPointHttp | None = None

    @field_validator("address")
    @classmethod
    def _addr(cls, v: str) -> str:
        if not _ADDR.match(v):
            raise ValueError(f"'{v}' is not an address like ':443' or '127.0.0.1:8080'")
        return v


class FileProvider(_M):
    filename: str | None = None
    directory: str | None = None
    watch: bool | None = None

    @model_validator(mode="after")
    def _one(self) -> FileProvider:
        if (self.filename is None) == (self.directory is None):
            raise ValueError("the file provider needs exactly one of filename / directory")
        return self


class DockerProvider(_M):
    endpoint: str | None = None
    exposedByDefault: bool | None = None
    network: str | None = None
    watch: bool | None = None
    constraints: str | None = None


class Providers(_M):
    file: FileProvider | None = None
    docker: DockerProvider | None = None


class HttpChallenge(_M):
    entryPoint: str


class TlsChallenge(_M):
    pass


class Acme(_M):
    email: str
    storage: str
    caServer: str | None = None
    httpChallenge: HttpChallenge | None = None
    tlsChallenge: TlsChallenge | None = None

    @model_validator(mode="after")
    def _challenge(self) -> Acme:
        if self.httpChallenge is None and self.tlsChallenge is None:
            raise ValueError("an ACME resolver needs a challenge (httpChallenge or tlsChallenge)")
        return self


class CertResolver(_M):
    acme: Acme


class Log(_M):
    level: str | None = None
    filePath: str | None = None
    format: str | None = None


class Api(_M):
    dashboard: bool | None = None
    insecure: bool | None = None


class Prometheus(_M):
    entryPoint: str | None = None
    addEntryPointsLabels: bool | None = None
    addRoutersLabels: bool | None = None
    addServicesLabels: bool | None = None


class Metrics(_M):
    prometheus: Prometheus | None = None


class StaticConfig(_M):
    entryPoints: dict[str, EntryPoint]
    providers: Providers
    certificatesResolvers: dict[str, CertResolver] | None = None
    log: Log | None = None
    api: Api | None = None
    metrics: Metrics | None = None

    @model_validator(mode="after")
    def _refs(self) -> StaticConfig:
        for name, ep in self.entryPoints.items():
            red = ep.http.redirections if ep.http else None
            if red and red.entryPoint.to not in self.entryPoints:
                raise ValueError(f"entryPoints.{name} redirects to unknown entry point '{red.entryPoint.to}'")
        for name, res in (self.certificatesResolvers or {}).items():
            ch = res.acme.httpChallenge
            if ch and ch.entryPoint not in self.entryPoints:
                raise ValueError(f"certificatesResolvers.{name}: unknown entry point '{ch.entryPoint}'")
        prom = self.metrics.prometheus if self.metrics else None
        if prom and prom.entryPoint and prom.entryPoint not in self.entryPoints:
            raise ValueError(f"metrics.prometheus: unknown entry point '{prom.entryPoint}'")
        return self


# ------------------------------------------------------------------------ dynamic


class RouterTls(_M):
    certResolver: str | None = None
    options: str | None = None


class Router(_M):
    rule: str
    service: str
    entryPoints: list[str] = Field(default_factory=list)
    middlewares: list[str] | None = None
    priority: int | None = None
    tls: RouterTls | None = None

    @field_validator("rule")
    @classmethod
    def _rule(cls, v: str) -> str:
        if not re.fullmatch(r"Host\(`[A-Za-z0-9.*-]+`\)(\s*(\|\||&&)\s*.+)?", v):
            raise ValueError(f"rule '{v}' is not a Host(`name`) matcher")
        return v


class Server(_M):
    url: str

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.fullmatch(r"https?://[^/\s]+(/.*)?", v):
            raise ValueError(f"server url '{v}' must be http(s)://host:port")
        return v


class LoadBalancer(_M):
    servers: list[Server] = Field(min_length=1)
    passHostHeader: bool | None = None


class Service(_M):
    loadBalancer: LoadBalancer


class HttpDynamic(_M):
    routers: dict[str, Router] = Field(default_factory=dict)
    services: dict[str, Service] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _refs(self) -> HttpDynamic:
        for name, r in self.routers.items():
            if r.service not in self.services:
                raise ValueError(f"http.routers.{name}: unknown service '{r.service}'")
        return self


class DynamicConfig(_M):
    http: HttpDynamic


def check_pair(static: dict, dynamic: dict) -> None:
    """Validate both files and the references between them (raises pydantic.ValidationError/ValueError)."""
    s = StaticConfig.model_validate(static)
    d = DynamicConfig.model_validate(dynamic)
    resolvers = set((s.certificatesResolvers or {}).keys())
    for name, r in d.http.routers.items():
        for ep in r.entryPoints:
            if ep not in s.entryPoints:
                raise ValueError(f"http.routers.{name}: unknown entry point '{ep}'")
        if r.tls and r.tls.certResolver and r.tls.certResolver not in resolvers:
            raise ValueError(f"http.routers.{name}: unknown certResolver '{r.tls.certResolver}'")
