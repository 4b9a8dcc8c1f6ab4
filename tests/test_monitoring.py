"""Monitoring: promtool accepts the generated config and rules, the real Prometheus
scrapes busybox containers through the per-service file_sd files, and the Grafana
provisioning YAML round-trips through the model of Grafana's documented schema."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import yaml

from portside.integrators.grafana_gen import (
    DatasourceSpec,
    dashboards_yaml,
    datasources_yaml,
    overview_dashboard,
)
from portside.integrators.grafana_schema import DashboardsFile, DatasourcesFile
from portside.integrators.logs_gen import alloy_config, promtail_config
from portside.integrators.prometheus_gen import (
    ScrapeTarget,
    alert_rules,
    prometheus_config,
    target_file,
)
from tests.conftest import free_port, require

METRICS = "# HELP portside_demo A demo gauge.\n# TYPE portside_demo gauge\nportside_demo 42\n"


def write_prom(tmp: Path, targets: list[ScrapeTarget]) -> Path:
    (tmp / "targets").mkdir(exist_ok=True)
    for t in targets:
        (tmp / "targets" / t.file_name).write_text(target_file(t))
    (tmp / "rules.yml").write_text(alert_rules(targets))
    cfg = tmp / "prometheus.yml"
    cfg.write_text(
        prometheus_config(targets_dir=str(tmp / "targets"), rule_files=[str(tmp / "rules.yml")], scrape_interval="1s")
    )
    return cfg


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=60, check=False)


def test_promtool_accepts_config_and_rules(tmp_path: Path) -> None:
    require("promtool")
    targets = [ScrapeTarget("app/web", "web:8080"), ScrapeTarget("app/api", "api:9100", path="/prom", scheme="https")]
    cfg = write_prom(tmp_path, targets)
    proc = promtool("check", "config", str(cfg))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout + proc.stderr
    proc = promtool("check", "rules", str(tmp_path / "rules.yml"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 rules found" in proc.stdout


def test_one_target_file_per_service_and_deterministic() -> None:
    t = ScrapeTarget("app/api", "api:9100", path="/prom")
    doc = json.loads(target_file(t))
    assert doc == [{"targets": ["api:9100"], "labels": {"__metrics_path__": "/prom", "job": "app/api"}}]
    assert target_file(t) == target_file(ScrapeTarget("app/api", "api:9100", path="/prom"))
    assert t.file_name == "app__api.json"


@pytest.mark.docker
def test_real_prometheus_scrapes_busybox_targets(tmp_path: Path, run_container, spawn) -> None:
    require("prometheus")
    targets = []
    for name, path in (("demo/one", "/metrics"), ("demo/two", "/custom-metrics")):
        port = free_port()
        fname = path.lstrip("/")
        run_container(
            {"80/tcp": ("127.0.0.1", port)},
            command=["sh", "-c", f"printf '{METRICS}' > /www/{fname} && httpd -f -p 80 -h /www"],
        )
        targets.append(ScrapeTarget(name, f"127.0.0.1:{port}", path=path))
    cfg = write_prom(tmp_path, targets)
    web = free_port()
    proc = spawn("prometheus", f"--config.file={cfg}", f"--web.listen-address=127.0.0.1:{web}",
                 f"--storage.tsdb.path={tmp_path / 'tsdb'}")
    health: dict[str, str] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            data = httpx.get(f"http://127.0.0.1:{web}/api/v1/targets", timeout=2).json()
        except (httpx.HTTPError, ValueError):  # not up yet, or "Service Unavailable" while starting
            time.sleep(0.2)
            continue
        health = {
            t["labels"].get("job", ""): t["health"]
            for t in data["data"]["activeTargets"]
            if t["scrapePool"] == "portside"
        }
        if health and all(h == "up" for h in health.values()) and len(health) == 2:
            break
        time.sleep(0.3)
    assert health == {"demo/one": "up", "demo/two": "up"}, proc.log.read_text()[-2000:]
    # the scraped sample is queryable, labelled by service
    q = httpx.get(f"http://127.0.0.1:{web}/api/v1/query", params={"query": "portside_demo"}, timeout=5).json()
    jobs = sorted(r["metric"]["job"] for r in q["data"]["result"])
    assert jobs == ["demo/one", "demo/two"]
    assert all(r["value"][1] == "42" for r in q["data"]["result"])


def test_grafana_provisioning_round_trips_through_schema() -> None:
    specs = [
        DatasourceSpec("prometheus", "Prometheus", "prometheus", default=True),
        DatasourceSpec("loki", "Loki", "loki"),
        DatasourceSpec("postgres", "PostgreSQL (app/db)", "db", user="app", password="s3cret", database="app", uid_suffix="app-db"),
        DatasourceSpec("mariadb", "MariaDB (wp/db)", "mariadb", user="wp", database="wp", uid_suffix="wp-db"),
        DatasourceSpec("influxdb", "InfluxDB", "influxdb", token="tok", organization="home", database="metrics"),
    ]
    text, secret = datasources_yaml(specs)
    assert secret
    loaded = yaml.safe_load(text)
    model = DatasourcesFile.model_validate(loaded)
    assert model.model_dump(exclude_unset=True) == loaded
    by_uid = {d.uid: d for d in model.datasources}
    assert set(by_uid) == {
        "portside-prometheus", "portside-loki", "portside-postgres-app-db", "portside-mariadb-wp-db", "portside-influxdb",
    }
    assert by_uid["portside-postgres-app-db"].secureJsonData == {"password": "s3cret"}
    assert by_uid["portside-mariadb-wp-db"].type == "mysql" and by_uid["portside-mariadb-wp-db"].url == "mariadb:3306"
    # same input, same bytes: a re-run updates the same uids instead of duplicating
    assert datasources_yaml(list(reversed(specs)))[0] == text
    assert datasources_yaml(specs[:2])[1] is False

    prov = yaml.safe_load(dashboards_yaml("/etc/grafana/provisioning/dashboards/portside"))
    assert DashboardsFile.model_validate(prov).model_dump(exclude_unset=True) == prov
    dash = json.loads(overview_dashboard("portside-prometheus", "portside-loki"))
    uids = {p["datasource"]["uid"] for p in dash["panels"]}
    assert uids == {"portside-prometheus", "portside-loki"}
    assert dash["uid"] == "portside-overview"


def test_grafana_schema_refuses_unknown_keys_and_duplicate_uids() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        DatasourcesFile.model_validate({"apiVersion": 1, "datasources": [{"name": "x", "type": "loki", "uid": "a", "jsondata": {}}]})
    with pytest.raises(ValidationError):
        DatasourcesFile.model_validate(
            {"apiVersion": 1, "datasources": [{"name": "x", "type": "loki", "uid": "a"}, {"name": "y", "type": "loki", "uid": "a"}]}
        )


def test_log_collection_configs() -> None:
    alloy = alloy_config("http://loki:3100/loki/api/v1/push")
    for block in ('discovery.docker "containers"', 'loki.source.docker "containers"', 'loki.write "default"'):
        assert block in alloy
    assert "forward_to       = [loki.write.default.receiver]" in alloy
    assert alloy.count("{") == alloy.count("}")
    legacy = promtail_config("http://loki:3100/loki/api/v1/push")
    assert legacy.startswith("# LEGACY")
    assert yaml.safe_load(legacy)["clients"] == [{"url": "http://loki:3100/loki/api/v1/push"}]
