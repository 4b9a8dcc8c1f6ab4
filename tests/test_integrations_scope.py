"""An integration touches only the project chosen with --project-dir, on an engine that also
runs another compose project with the same service names (the way a real server does).

`theirs` is created and started here, with its own label, and taken down in `finally`.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import LABELS, SESSION, require

STACK = """
services:
  grafana:
    image: portside-test-busybox:1
    ports: ["127.0.0.1::80"]
    labels: {{portside.catalog: grafana, portside.consumes: "proxy,sso", portside.metrics: /metrics, portside.port: "80", {mark}}}
  gitea:
    image: portside-test-busybox:1
    ports: ["127.0.0.1::80"]
    labels: {{portside.catalog: gitea, portside.consumes: "proxy,sso", portside.port: "80", {mark}}}
"""


def _labels(extra: str) -> str:
    return ", ".join(f'"{k}": "{v}"' for k, v in {**LABELS, "portside.test.stack": extra}.items())


def compose(d: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", "compose", *args], cwd=d, capture_output=True, text=True, timeout=180, check=False)


@pytest.fixture
def two_projects(tmp_path: Path, test_image: str) -> Iterator[tuple[Path, Path]]:
    """`ours` (declared, running) and `theirs` (running), both with services grafana and gitea."""
    require("docker-compose")
    made: list[Path] = []
    try:
        for role in ("ours", "theirs"):
            d = tmp_path / f"pst{SESSION}{role}{uuid.uuid4().hex[:4]}"
            d.mkdir()
            (d / "compose.yaml").write_text(STACK.format(mark=_labels(f"{role}-{uuid.uuid4().hex[:6]}")))
            made.append(d)
            up = compose(d, "up", "-d")
            assert up.returncode == 0, up.stderr
        yield made[0], made[1]
    finally:
        for d in made:
            compose(d, "down", "-v", "--remove-orphans")


def test_proxy_routes_only_the_chosen_project(cli, two_projects) -> None:
    require("caddy")
    ours, theirs = two_projects
    for reach in ("network", "host"):
        code, out, err = cli("integrate", "proxy", "--project-dir", str(ours), "--set", "domain=example.test",
                             "--set", f"reach={reach}", "--set", "include=[grafana, gitea]", "--json")
        assert code == 0, out + err
        text = (ours / "portside" / "caddy" / "Caddyfile").read_text()
        assert text.count("grafana.example.test {") == 1 and text.count("gitea.example.test {") == 1, text
    port = compose(ours, "port", "grafana", "80").stdout.strip().rsplit(":", 1)[-1]
    assert f"reverse_proxy 127.0.0.1:{port}\n" in text, (port, text)  # our grafana, not theirs
    code, out, _ = cli("verify", "proxy", "--project-dir", str(ours), "--json")
    checks = {c["name"]: c for c in json.loads(out)["checks"]}
    assert checks["caddy validate"]["ok"], checks["caddy validate"]
    assert not (theirs / "portside").exists()


def test_sso_enrols_only_the_chosen_project_and_dry_run_agrees_with_apply(cli, two_projects) -> None:
    ours, _ = two_projects
    sets = ["--project-dir", str(ours), "--set", "keycloak_url=https://auth.example.test",
            "--set", "public_urls={grafana: 'https://grafana.example.test', gitea: 'https://gitea.example.test'}"]
    code, out, err = cli("--dry-run", "integrate", "sso", *sets, "--json")
    assert code == 0, out + err
    code, out, err = cli("integrate", "sso", *sets, "--json")
    assert code == 0, out + err
    realm = json.loads((ours / "portside" / "keycloak" / "realm-portside.json").read_text())
    assert sorted(c["clientId"] for c in realm["clients"]) == ["gitea", "grafana"]


def test_dry_run_refuses_what_apply_refuses(cli, compose_project) -> None:
    # two services whose client ids are the same slug: the plan writes sso-git-a.sh twice
    d = compose_project({"compose.yaml": """
        services:
          git_a: {image: portside-test-busybox:1, labels: {portside.catalog: gitea}}
          git-a: {image: portside-test-busybox:1, labels: {portside.catalog: gitea}}
    """})
    sets = ["--project-dir", str(d), "--set", "keycloak_url=https://auth.example.test",
            "--set", "public_urls={git_a: 'https://a.example.test', git-a: 'https://b.example.test'}"]
    dry = cli("--dry-run", "integrate", "sso", *sets)
    real = cli("integrate", "sso", *sets)
    assert dry[0] == real[0] == 2, (dry, real)
    assert "the plan edits this file twice" in dry[2] and dry[2] == real[2]
    assert not (d / "portside").exists()


def test_monitoring_scrapes_only_the_chosen_project(cli, two_projects) -> None:
    ours, theirs = two_projects
    code, out, err = cli("integrate", "monitoring", "--project-dir", str(ours), "--set", "grafana=false",
                         "--set", "logs=false", "--json")
    assert code == 0, out + err
    targets = sorted(p.name for p in (ours / "portside" / "prometheus" / "targets").iterdir())
    assert f"{ours.name}__grafana.json" in targets, targets
    assert all(t.startswith(f"{ours.name}__") for t in targets), targets


def test_auto_is_scoped_too(cli, two_projects, tmp_path: Path) -> None:
    ours, theirs = two_projects
    cfg = tmp_path / "portside.yaml"
    cfg.write_text("integrations:\n  proxy: {domain: example.test, include: [grafana, gitea]}\n")
    code, out, err = cli("--config", str(cfg), "--auto", "--dry-run", "--project-dir", str(ours), "--json")
    assert code in (0, 1), out + err
    report = json.loads(out)
    text = json.dumps(report)
    assert text.count("grafana.example.test {") == 1, text
