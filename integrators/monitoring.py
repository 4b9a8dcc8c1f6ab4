"""The `monitoring` integrator: Prometheus scrape config, log collection, Grafana provisioning.

Files (under the output dir, default `<project_dir>/portside/`):

    prometheus/prometheus.yml            one `portside` job reading targets/*.json
    prometheus/targets/<service>.json    one file_sd file per metrics endpoint
    prometheus/rules/portside.yml        `ServiceDown` alerts (optional)
    alloy/config.alloy                   Docker logs -> Loki (Grafana Alloy)
    promtail/promtail.yml                the same, legacy Promtail (optional)
    grafana/provisioning/datasources/portside.yaml
    grafana/provisioning/dashboards/portside.yaml
    grafana/dashboards/portside-overview.json

Metrics endpoints come from the catalog (`metrics: {port, path}`) and the
`portside.metrics=/path` (+ `portside.port`) labels. Generators live in
`prometheus_gen`, `logs_gen` and `grafana_gen`.
"""

from __future__ import annotations

import os

import httpx
from pydantic import BaseModel, Field

from portside.app.models import Plan, Snapshot
from portside.integrators import grafana_gen, logs_gen
from portside.integrators import prometheus_gen as prom
from portside.integrators.base import (
    Check,
    Detection,
    PlanContext,
    ServiceRef,
    container_user,
    file_edit,
)
from portside.integrators.catalog import services
from portside.integrators.wiring import Reach, address, entry_of, select, short_name

DB_KINDS = {"postgres": "postgres", "mariadb": "mariadb", "influxdb": "influxdb"}


class MonitoringSettings(BaseModel):
    include: list[str] = Field(default_factory=list, title="Services",
                               description="Services to scrape (empty: every detected metrics endpoint).")
    reach: Reach = Field("network", title="Targets via",
                         description="network: <service>:<port> (Prometheus in Docker); host: 127.0.0.1:<published port>.")
    scrape_interval: str = Field("15s", pattern=r"^\d+(ms|s|m|h)$", title="Scrape interval")
    alerts: bool = Field(True, title="Alert rules", description="ServiceDown alerts for every target.")
    prometheus_dir: str = Field(
        "/etc/prometheus/portside", title="Prometheus sees prometheus/ at",
        description="Mount <out>/prometheus there; empty: the host path (Prometheus on the host).",
    )
    prometheus_url: str | None = Field(None, title="Prometheus URL",
                                       description="For Grafana and verify (default: detected Prometheus).")
    logs: bool = Field(True, title="Logs (Alloy)", description="Write a Grafana Alloy config: Docker logs -> Loki.")
    legacy_promtail: bool = Field(False, title="Promtail (legacy)", description="Also write a Promtail config.")
    loki_url: str | None = Field(None, title="Loki URL", description="Default: detected Loki, else http://loki:3100.")
    grafana: bool = Field(True, title="Grafana provisioning")
    grafana_dashboards_dir: str = Field("/var/lib/grafana/dashboards/portside", title="Grafana sees dashboards/ at")


class MonitoringIntegrator:
    kind = "monitoring"
    title = "Monitoring: Prometheus, logs (Alloy/Loki), Grafana"
    Settings = MonitoringSettings

    def detect(self, snapshot: Snapshot) -> Detection:
        refs = services(snapshot)
        providers = [r for r in refs if r.catalog_id in ("prometheus", "loki", "grafana")]
        consumers = [r for r in refs if (e := entry_of(r)) is not None and e.metrics is not None]
        return Detection(providers=providers, consumers=consumers)

    def targets(self, snapshot: Snapshot, s: MonitoringSettings) -> tuple[list[prom.ScrapeTarget], list[str]]:
        out, warnings = [], []
        for ref in select(self.detect(snapshot).consumers, s.include):
            entry = entry_of(ref)
            if entry is None or entry.metrics is None:
                continue
            port = entry.metrics.port or (entry.ports[0] if entry.ports else None)
            addr = address(snapshot, ref, port, s.reach) if port else None
            if addr is None:
                warnings.append(f"{ref.name}: metrics port {port} is not reachable with reach={s.reach}")
                continue
            labels = {"portside_service": short_name(ref)}
            if ref.project:
                labels["portside_project"] = ref.project
            out.append(prom.ScrapeTarget(ref.name, addr, path=entry.metrics.path, labels=labels))
        return sorted(out, key=lambda t: t.name), warnings

    def _url(self, snapshot: Snapshot, s: MonitoringSettings, catalog_id: str, port: int) -> str | None:
        for ref in services(snapshot):
            if ref.catalog_id == catalog_id:
                return f"http://{address(snapshot, ref, port, s.reach) or f'{short_name(ref)}:{port}'}"
        return None

    def plan(self, snapshot: Snapshot, settings: MonitoringSettings, ctx: PlanContext) -> tuple[Plan, dict[str, str]]:
        s = settings
        targets, warnings = self.targets(snapshot, s)
        edits = []
        pdir = s.prometheus_dir.rstrip("/") or str(ctx.path("prometheus"))
        tdir = ctx.path("prometheus/targets")
        keep = set()
        for t in targets:
            keep.add(t.file_name)
            edits.append(file_edit(tdir / t.file_name, prom.target_file(t), description=f"scrape target {t.name}"))
        if tdir.is_dir():  # a service that went away: drop its file (only files portside names *.json)
            for stale in sorted(os.listdir(tdir)):
                if stale.endswith(".json") and stale not in keep:
                    edits.append(file_edit(tdir / stale, "").model_copy(update={"delete": True}))
        rules = [f"{pdir}/rules/portside.yml"] if s.alerts else []
        edits.append(file_edit(ctx.path("prometheus/prometheus.yml"),
                               prom.prometheus_config(targets_dir=f"{pdir}/targets", rule_files=rules,
                                                      scrape_interval=s.scrape_interval),
                               description="Prometheus configuration"))
        if s.alerts:
            edits.append(file_edit(ctx.path("prometheus/rules/portside.yml"), prom.alert_rules(targets),
                                   description="alert rules"))
        loki = s.loki_url or self._url(snapshot, s, "loki", 3100) or "http://loki:3100"
        if s.logs:
            push = loki.rstrip("/") + "/loki/api/v1/push"
            edits.append(file_edit(ctx.path("alloy/config.alloy"), logs_gen.alloy_config(push),
                                   description="Grafana Alloy: Docker logs -> Loki"))
            if s.legacy_promtail:
                edits.append(file_edit(ctx.path("promtail/promtail.yml"), logs_gen.promtail_config(push),
                                       description="Promtail (legacy)"))
        if s.grafana:
            edits += self._grafana(snapshot, s, ctx, loki, warnings)
        title = f"monitoring: {len(targets)} scrape target(s)"
        return Plan(kind="integration:monitoring", title=title, edits=edits, warnings=warnings), {}

    def _grafana(self, snapshot: Snapshot, s: MonitoringSettings, ctx: PlanContext, loki: str,
                 warnings: list[str]) -> list:
        prom_url = s.prometheus_url or self._url(snapshot, s, "prometheus", 9090) or "http://prometheus:9090"
        host, _, port = prom_url.split("://", 1)[-1].rstrip("/").partition(":")
        specs = [grafana_gen.DatasourceSpec("prometheus", "Prometheus", host, int(port or 9090), default=True)]
        has_loki = s.logs or any(r.catalog_id == "loki" for r in services(snapshot))
        if has_loki:
            lh, _, lp = loki.split("://", 1)[-1].rstrip("/").partition(":")
            specs.append(grafana_gen.DatasourceSpec("loki", "Loki", lh, int(lp or 3100)))
        for ref in services(snapshot):
            kind = DB_KINDS.get(ref.catalog_id or "")
            if kind:
                specs.append(_db_spec(snapshot, ref, kind, s.reach, warnings))
        ds_text, secret = grafana_gen.datasources_yaml(specs)
        grafana = container_user("grafana")  # Grafana reads these as uid 472: 0640, 0600 with passwords
        return [
            file_edit(ctx.path("grafana/provisioning/datasources/portside.yaml"), ds_text, secret=secret,
                      owner=grafana, description="Grafana datasources"),
            file_edit(ctx.path("grafana/provisioning/dashboards/portside.yaml"),
                      grafana_gen.dashboards_yaml(s.grafana_dashboards_dir), owner=grafana,
                      description="Grafana dashboard provider"),
            file_edit(ctx.path("grafana/dashboards/portside-overview.json"),
                      grafana_gen.overview_dashboard("portside-prometheus", "portside-loki" if has_loki else None),
                      owner=grafana, description="Grafana overview dashboard"),
        ]

    def verify(self, snapshot: Snapshot, settings: MonitoringSettings, ctx: PlanContext) -> list[Check]:
        """Ask the running Prometheus which of our targets are up."""
        s = settings
        url = s.prometheus_url or self._url(snapshot, s.model_copy(update={"reach": "host"}), "prometheus", 9090)
        if not url:
            return [Check("prometheus", False, "no running Prometheus found; set prometheus_url")]
        targets, _ = self.targets(snapshot, s)
        try:
            data = httpx.get(url.rstrip("/") + "/api/v1/targets", timeout=5).json()
        except (httpx.HTTPError, ValueError) as exc:
            return [Check("prometheus", False, f"{url}: {type(exc).__name__}: {exc}"[:300])]
        health = {t["labels"].get("job"): (t["health"], t.get("lastError", ""))
                  for t in data.get("data", {}).get("activeTargets", [])}
        checks = [Check("prometheus", True, f"{url} answers")]
        for t in targets:
            h, err = health.get(t.name, ("absent", "not loaded (file_sd refreshes within 1m)"))
            checks.append(Check(f"target {t.name}", h == "up", f"{h} {err}".strip()))
        return checks


def _db_spec(snapshot: Snapshot, ref: ServiceRef, kind: str, reach: Reach, warnings: list[str]) -> grafana_gen.DatasourceSpec:
    env = {}
    for p in snapshot.projects:
        for svc in p.services:
            if p.name == ref.project and svc.service == ref.service:
                env = dict(svc.environment)
    port = grafana_gen.TYPES[kind][1]
    host, _, hport = (address(snapshot, ref, port, reach) or f"{short_name(ref)}:{port}").partition(":")
    name = f"{grafana_gen.TYPES[kind][0].capitalize()} ({ref.name})"
    pw: str | None
    db: str | None
    if kind == "postgres":
        user = env.get("POSTGRES_USER", "postgres")
        pw, db = env.get("POSTGRES_PASSWORD"), env.get("POSTGRES_DB", user)
    elif kind == "mariadb":
        user = env.get("MARIADB_USER") or env.get("MYSQL_USER") or "root"
        pw = env.get("MARIADB_PASSWORD") or env.get("MYSQL_PASSWORD") or env.get("MARIADB_ROOT_PASSWORD") or env.get("MYSQL_ROOT_PASSWORD")
        db = env.get("MARIADB_DATABASE") or env.get("MYSQL_DATABASE")
    else:
        token = env.get("DOCKER_INFLUXDB_INIT_ADMIN_TOKEN")
        if not token:
            warnings.append(f"{ref.name}: no InfluxDB token in its compose environment; add it in Grafana")
        return grafana_gen.DatasourceSpec(kind, name, host, int(hport), token=token,
                                          organization=env.get("DOCKER_INFLUXDB_INIT_ORG"),
                                          database=env.get("DOCKER_INFLUXDB_INIT_BUCKET"), uid_suffix=ref.name)
    if not pw:
        warnings.append(f"{ref.name}: no database password in its compose environment; add it in Grafana")
    return grafana_gen.DatasourceSpec(kind, name, host, int(hport), user=user, password=pw, database=db,
                                      uid_suffix=ref.name)
