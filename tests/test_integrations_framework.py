"""The integrator framework: catalog, labels, redaction, entry-point plugins, --auto, drift of secrets."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from portside.app.models import ComposeProject, ComposeService, ContainerInfo, Snapshot
from portside.integrators import base, catalog


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("grafana/grafana-oss:11.2.0", "grafana"),
        ("docker.io/grafana/grafana:latest", "grafana"),
        ("quay.io/keycloak/keycloak:25.0", "keycloak"),
        ("gitea/gitea:1.22-rootless", "gitea"),
        ("codeberg.org/forgejo/forgejo:9", "forgejo"),
        ("nextcloud:29-apache", "nextcloud"),
        ("lscr.io/linuxserver/nextcloud:latest", "nextcloud"),
        ("docker.n8n.io/n8nio/n8n", "n8n"),
        ("wordpress:6", "wordpress"),
        ("ghcr.io/goauthentik/server:2024.8", "authentik"),
        ("vaultwarden/server:latest", "vaultwarden"),
        ("portainer/portainer-ce:2.21", "portainer"),
        ("louislam/uptime-kuma:1", "uptime-kuma"),
        ("axllent/mailpit", "mailpit"),
        ("mailhog/mailhog", "mailhog"),
        ("ghcr.io/mailu/postfix:2024.06", "mailu"),
        ("boky/postfix", "postfix"),
        ("eclipse-mosquitto:2", "mosquitto"),
        ("emqx/emqx:5.7", "emqx"),
        ("prom/prometheus:v2.54.0", "prometheus"),
        ("grafana/loki:3.1", "loki"),
        ("traefik:v3.1", "traefik"),
        ("caddy:2", "caddy"),
        ("postgres:16@sha256:" + "a" * 64, "postgres"),
        ("mariadb:11", "mariadb"),
        ("influxdb:2.7", "influxdb"),
        ("nodered/node-red:4.0", "node-red"),
        ("busybox:1", None),
    ],
)
def test_catalog_knows_the_seed_services(image: str, expected: str | None) -> None:
    entry = catalog.match_image(image)
    assert (entry.id if entry else None) == expected


def test_catalog_entries_are_well_formed() -> None:
    kinds = {"email", "mqtt", "sso", "proxy", "monitoring", "dashboards", "metrics", "logs", "database", "timeseries"}
    for entry in catalog.catalog().values():
        assert entry.images and entry.title
        assert set(entry.provides) <= kinds, entry.id
        for kind, how in entry.consumes.items():
            assert kind in kinds and how.via in ("env", "file", "api", "ui")


def test_labels_override_and_extend_the_catalog() -> None:
    custom = catalog.entry_for("registry.local/acme/app:3", {"portside.consumes": "email",
                                                             "portside.port": "8080", "portside.health": "/hz"})
    assert custom is not None and custom.consumes["email"].via == "env"
    assert custom.health is not None and (custom.health.port, custom.health.path) == (8080, "/hz")
    assert catalog.entry_for("registry.local/acme/app:3", {"portside.test": "1"}) is None
    as_grafana = catalog.entry_for("registry.local/my-grafana", {"portside.catalog": "grafana"})
    assert as_grafana is not None and "email" in as_grafana.consumes
    no_mail = catalog.entry_for("grafana/grafana", {"portside.consumes": "sso"})
    assert no_mail is not None and list(no_mail.consumes) == ["sso"]


def test_services_merge_compose_and_containers() -> None:
    svc = ComposeService(project="p", service="mail", project_dir="/srv/p", compose_files=[], image="axllent/mailpit")
    snap = Snapshot(
        projects=[ComposeProject(name="p", project_dir="/srv/p", compose_files=[], services=[svc])],
        containers=[
            ContainerInfo(id="1", name="p-mail-1", image="axllent/mailpit:v1", state="running", project="p", service="mail"),
            ContainerInfo(id="2", name="grafana", image="grafana/grafana", state="exited"),
        ],
    )
    providers, consumers = catalog.detect(snap, "email")
    assert [(r.name, r.container, r.running) for r in providers] == [("p/mail", "p-mail-1", True)]
    assert [(r.name, r.running) for r in consumers] == [("grafana", False)]


def test_redaction_reaches_nested_secrets() -> None:
    from portside.integrators.mqtt import MqttSettings

    s = MqttSettings.model_validate({"users": [{"name": "a", "password": "pw", "acl": ["read x"]}, {"name": "b"}]})
    red = base.redacted_settings(s)
    assert red["users"][0]["password"] == "********" and red["users"][1]["password"] is None
    assert "pw" not in json.dumps(red)


PLUGIN = '''
from pydantic import BaseModel, Field
from portside.app.models import Plan
from portside.integrators.base import Check, Detection, file_edit

class DemoSettings(BaseModel):
    greeting: str = Field("hello", title="Greeting")

class DemoIntegrator:
    kind = "demo"
    title = "Demo plugin"
    Settings = DemoSettings

    def detect(self, snapshot):
        return Detection()

    def plan(self, snapshot, settings, ctx):
        return Plan(kind="integration:demo", title="demo",
                    edits=[file_edit(ctx.path("demo.txt"), settings.greeting + "\\n")]), {}

    def verify(self, snapshot, settings, ctx):
        return [Check("file", ctx.path("demo.txt").exists())]

class NotAnIntegrator:
    pass
'''


@pytest.fixture
def plugin_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tiny third-party integrator 'installed' as a distribution (dist-info + entry point) on sys.path."""
    site = tmp_path / "site"
    (site / "portside_demo_plugin").mkdir(parents=True)
    (site / "portside_demo_plugin" / "__init__.py").write_text(PLUGIN)
    dist = site / "portside_demo_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: portside-demo-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(textwrap.dedent("""\
        [portside.integrators]
        demo = portside_demo_plugin:DemoIntegrator
        broken = portside_demo_plugin:Missing
        junk = portside_demo_plugin:NotAnIntegrator
        shadow = integrators.mqtt:MqttIntegrator
    """))
    monkeypatch.syspath_prepend(str(site))
    yield site
    sys.modules.pop("portside_demo_plugin", None)


def test_entry_point_plugin_is_loaded_and_integrates(plugin_on_path: Path, cli: Any, tmp_path: Path) -> None:
    found = base.load_integrators()
    assert found["demo"].title == "Demo plugin"
    assert type(found["mqtt"]).__module__ == "portside.integrators.mqtt"  # plugins never shadow a built-in
    assert any("broken" in k for k in base.LOAD_ERRORS) and any("junk" in k for k in base.LOAD_ERRORS)
    proj = tmp_path / "proj"
    proj.mkdir()
    code, out, err = cli("integrate", "demo", "--project-dir", str(proj), "--set", "greeting=hi there")
    assert code == 0, err
    assert (proj / "portside" / "demo.txt").read_text() == "hi there\n"
    code, out, _ = cli("verify", "demo", "--project-dir", str(proj))
    assert code == 0 and "verified" in out


def test_auto_applies_enabled_integrations(tmp_path: Path, plugin_on_path: Path) -> None:
    from portside.app.cli import Ctx, build_parser
    from portside.app.commands import integrate

    proj = tmp_path / "p"
    proj.mkdir()
    cfg = tmp_path / "portside.yaml"
    cfg.write_text(json.dumps({"integrations": {
        "demo": {"project_dir": str(proj), "greeting": "from config"},
        "mqtt": {"enabled": False},
    }}))
    ctx = Ctx(build_parser().parse_args(["--config", str(cfg)]))
    report = integrate.auto_step(ctx)
    assert report.exit_code == 0 and list(report.data) == ["demo"]
    assert (proj / "portside" / "demo.txt").read_text() == "from config\n"
    again = integrate.auto_step(Ctx(build_parser().parse_args(["--config", str(cfg)])))
    assert again.data["demo"]["noop"] is True


def test_set_parsing() -> None:
    from portside.integrators.engine import parse_sets

    assert parse_sets(["a=1", "b.c=x=y", "users=[{name: a}]"]) == {"a": "1", "b": {"c": "x=y"}, "users": [{"name": "a"}]}


def test_secret_file_drift_shows_without_contents(cli: Any, tmp_path: Path) -> None:
    cfg = tmp_path / "portside.yaml"
    cfg.write_text(json.dumps({"integrations": {"mqtt": {"output_dir": str(tmp_path / "b"),
                                                         "users": [{"name": "u", "password": "topsecret", "acl": []}]}}}))
    assert cli("integrate", "mqtt", "--config", str(cfg))[0] == 0
    passwd = tmp_path / "b" / "mosquitto" / "passwd"
    passwd.write_text("u:plaintext-topsecret\n")
    code, out, _ = cli("integrations", "--json")
    rec = json.loads(out)["integrations"][0]
    assert code == 1 and rec["status"] == "drifted"
    assert rec["drift"] == [{"path": str(passwd), "change": "changed", "diff": ""}]
    assert "topsecret" not in out


def test_form_round_trip_keeps_nested_secrets_hidden_and_intact() -> None:
    from portside.integrators import forms
    from portside.integrators.mqtt import MqttSettings

    previous = {"users": [{"name": "a", "password": "pw-a", "acl": ["read x"]},
                          {"name": "b", "password": "pw-b", "acl": []}]}
    specs = {s.name: s for s in forms.form_fields(MqttSettings)}
    assert specs["users"].kind == "yaml" and specs["cert_source"].choices == ("generate", "files")
    text = forms.to_form(specs["users"], previous["users"], MqttSettings)
    assert "pw-a" not in str(text) and "********" in str(text)
    # the user reorders users and adds one: secrets follow the names, the new one stays empty
    edited = "- name: b\n  password: '********'\n- name: a\n  password: '********'\n  acl: [read x]\n- name: c\n"
    data, errors = forms.from_form([specs["users"]], {"users": edited}, previous)
    assert errors == {} and [u.get("password") for u in data["users"]] == ["pw-b", "pw-a", None]
    _, errors = forms.from_form([specs["users"]], {"users": "- name: [unclosed"}, previous)
    assert errors["users"].startswith("not valid YAML")
    _, errors = forms.validate(MqttSettings, {"plain_port": "99999", "tls_listener": False, "plain_listener": False})
    assert "plain_port" in errors and "less than or equal" in errors["plain_port"]
