"""Compose projects read exactly as Compose v2 reads them: every fixture in tests/compose_fixtures/
is checked against `docker compose config --format json` (the real binary), and each feature
(file selection, COMPOSE_* in .env, profiles, name:, include, extends, base-60) has its own test."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from portside.app.errors import ComposeError
from portside.app.models import BindingState
from portside.app.sources.compose import load_project

FIXTURES = Path(__file__).parent / "compose_fixtures"
CASES = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())


def clean_env(**extra: str) -> dict[str, str]:
    """The process environment a user's shell would have: no COMPOSE_* and none of the fixtures' variables."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "DOCKER_HOST", "DOCKER_CONFIG")}
    return {**env, **extra}


def has_compose_v2() -> bool:
    if shutil.which("docker") is None:
        return False
    proc = subprocess.run(["docker", "compose", "version", "--short"], capture_output=True, text=True)
    return proc.returncode == 0 and proc.stdout.strip().startswith("2.")


needs_v2 = pytest.mark.skipif(not has_compose_v2(), reason="Compose v2 (docker compose) is not installed")


def compose_config(d: Path, *args: str, env: dict[str, str] | None = None) -> tuple[dict, str]:
    proc = subprocess.run(["docker", "compose", *args, "config", "--format", "json"], cwd=d,
                          env=env or clean_env(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), proc.stderr


def their_ports(config: dict) -> set[tuple[str, str, int, str]]:
    out = set()
    for name, svc in config["services"].items():
        for p in svc.get("ports", []):
            lo, _, hi = str(p.get("published", "")).partition("-")
            if not lo:
                continue  # ephemeral
            for port in range(int(lo), int(hi or lo) + 1):
                out.add((name, p.get("host_ip") or "0.0.0.0", port, p.get("protocol", "tcp")))
    return out


def our_ports(project, gated: bool) -> set[tuple[str, str, int, str]]:
    out = set()
    for s in project.services:
        for b in s.ports:
            if gated or b.state is not BindingState.PROFILE_GATED:
                for port in range(b.port, b.last_port + 1):
                    out.add((s.service, b.host_ip, port, b.protocol.value))
    return out


def copy_case(tmp_path: Path, case: str) -> Path:
    d = tmp_path / case
    shutil.copytree(FIXTURES / case, d)
    return d


@needs_v2
@pytest.mark.parametrize("case", CASES)
def test_every_fixture_agrees_with_docker_compose_config(tmp_path, case):
    """Project name and published ports (ranges expanded) equal Compose v2's, with the
    profiles of `.env` and with every profile enabled (profile-gated ports included)."""
    d = copy_case(tmp_path, case)
    project = load_project(d, env=clean_env())
    theirs, _ = compose_config(d)
    assert project.name == theirs["name"]
    assert our_ports(project, gated=False) == their_ports(theirs)
    everything, _ = compose_config(d, "--profile", "*")
    assert our_ports(project, gated=True) == their_ports(everything)


# ------------------------------------------------------------ file selection


@needs_v2
def test_two_base_files_warn_and_use_the_one_compose_uses(tmp_path):
    d = copy_case(tmp_path, "two_bases")
    project = load_project(d, env=clean_env())
    _, stderr = compose_config(d)
    assert "Found multiple config files" in stderr and "Found multiple override files" in stderr
    assert [Path(f).name for f in project.compose_files] == ["compose.yaml", "compose.override.yml"]
    assert any("compose.yaml, docker-compose.yml" in w and "uses compose.yaml" in w for w in project.warnings)
    assert any("compose.override.yml, compose.override.yaml" in w for w in project.warnings)


@needs_v2
def test_override_of_the_other_naming_family_is_merged(tmp_path):
    d = copy_case(tmp_path, "override_other_family")
    project = load_project(d, env=clean_env())
    assert [Path(f).name for f in project.compose_files] == ["compose.yaml", "docker-compose.override.yml"]
    assert {(b.port, b.protocol.value) for b in project.services[0].ports} == {(18080, "tcp"), (18081, "udp")}
    assert project.warnings == []


@needs_v2
def test_compose_file_project_name_from_dot_env(tmp_path):
    """portside's own integrations add their override through COMPOSE_FILE: its ports are read."""
    d = copy_case(tmp_path, "compose_file_env")
    project = load_project(d, env=clean_env())
    assert project.name == "home-stack" == compose_config(d)[0]["name"]
    assert [Path(f).relative_to(d).as_posix() for f in project.compose_files] == [
        "stack/base.yml", "overrides/portside.mqtt.yml"]
    assert {b.port for b in project.services[0].ports} == {11883, 18883}
    assert [s.service for s in project.services] == ["broker"]  # compose.yaml is not read


def test_compose_file_naming_a_missing_file_names_the_env_and_the_fix(tmp_path):
    (tmp_path / ".env").write_text("COMPOSE_FILE=compose.yaml:gone.yml\n")
    (tmp_path / "compose.yaml").write_text("services:\n  a:\n    image: x\n")
    with pytest.raises(ComposeError) as e:
        load_project(tmp_path, env=clean_env())
    assert str(e.value).startswith(f"{tmp_path / '.env'}: COMPOSE_FILE names gone.yml") and "fix COMPOSE_FILE" in str(e.value)


@needs_v2
def test_process_environment_beats_dot_env_for_compose_settings(tmp_path):
    d = copy_case(tmp_path, "compose_file_env")
    env = clean_env(COMPOSE_PROJECT_NAME="from-shell", COMPOSE_FILE="compose.yaml")
    project = load_project(d, env=env)
    theirs, _ = compose_config(d, env=env)
    assert project.name == theirs["name"] == "from-shell"
    assert [s.service for s in project.services] == list(theirs["services"]) == ["other"]


# ------------------------------------------------------------------- profiles


@needs_v2
def test_profiles_gate_ports_and_compose_profiles_enables_them(tmp_path):
    d = copy_case(tmp_path, "profiles")
    project = load_project(d, env=clean_env())
    states = {s.service: {b.state for b in s.ports} for s in project.services}
    assert states == {"web": {BindingState.DECLARED}, "debugger": {BindingState.DECLARED},
                      "admin": {BindingState.PROFILE_GATED}}
    assert project.profiles == ["debug"]
    enabled = load_project(d, env=clean_env(COMPOSE_PROFILES="ops"))
    theirs, _ = compose_config(d, env=clean_env(COMPOSE_PROFILES="ops"))
    assert our_ports(enabled, gated=False) == their_ports(theirs)
    assert {s.service for s in enabled.services if s.ports[0].state is BindingState.DECLARED} == {"web", "admin"}


def test_profile_gated_ports_are_not_conflicts():
    from portside.app.models import PortBinding, Source
    from portside.app.ports.analysis import find_conflicts

    def b(svc: str, state: BindingState) -> PortBinding:
        return PortBinding(source=Source.COMPOSE, owner=f"compose:p/{svc}", project="p", service=svc,
                           port=8080, state=state)

    assert find_conflicts([b("a", BindingState.DECLARED), b("b", BindingState.PROFILE_GATED)]) == []
    assert len(find_conflicts([b("a", BindingState.DECLARED), b("b", BindingState.DECLARED)])) == 1


# --------------------------------------------------------- name, include, extends


@needs_v2
def test_top_level_name_interpolated_and_beaten_by_compose_project_name(tmp_path):
    d = copy_case(tmp_path, "top_level_name")
    assert load_project(d, env=clean_env()).name == "shop-prod"
    env = clean_env(COMPOSE_PROJECT_NAME="other")
    assert load_project(d, env=env).name == compose_config(d, env=env)[0]["name"] == "other"


@needs_v2
def test_include_uses_the_parent_environment_over_the_included_dot_env(tmp_path):
    d = copy_case(tmp_path, "include")
    project = load_project(d, env=clean_env())
    got = {s.service: sorted(b.port for b in s.ports) for s in project.services}
    assert got == {"lib": [18121, 18122], "oth": [18127], "web": [18121]}
    lib = next(s for s in project.services if s.service == "lib")
    origin = next(b.origin for b in lib.ports if b.port == 18122)
    assert origin.file == str(d / "lib" / "compose.yaml") and origin.env_var == "C"


def test_include_of_a_service_defined_twice_is_refused_naming_both(tmp_path):
    (tmp_path / "lib.yaml").write_text("services:\n  web:\n    image: x\n")
    (tmp_path / "compose.yaml").write_text("include: [lib.yaml]\nservices:\n  web:\n    image: x\n")
    with pytest.raises(ComposeError, match=r"services.web: also defined by the included .*lib.yaml; rename"):
        load_project(tmp_path, env=clean_env())


@needs_v2
def test_extends_inherits_ports_from_another_file_and_service(tmp_path):
    d = copy_case(tmp_path, "extends")
    project = load_project(d, env=clean_env())
    got = {s.service: sorted(b.port for b in s.ports) for s in project.services}
    assert got == {"web": [18130, 18131, 18134], "web2": [18130, 18131, 18132, 18134]}
    web = next(s for s in project.services if s.service == "web")
    assert next(b.origin for b in web.ports if b.port == 18134).file == str(d / "common.yaml")


def test_extends_of_a_missing_service_names_file_line_and_fix(tmp_path):
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    extends: nope\n    image: x\n")
    with pytest.raises(ComposeError, match=r"compose.yaml:3: services.web.extends: no service 'nope'"):
        load_project(tmp_path, env=clean_env())


# -------------------------------------------------------------------- YAML 1.1


@needs_v2
def test_unquoted_base60_port_is_read_as_v2_does_and_warned_about(tmp_path):
    d = copy_case(tmp_path, "base60")
    project = load_project(d, env=clean_env())
    assert {b.port for b in project.services[0].ports} == {2222, 18140, 18141}
    assert len(project.warnings) == 1
    w = project.warnings[0]
    assert w.startswith(f"{d / 'compose.yaml'}:5: services.ssh.ports[0]: 2222:22") and 'quote it: "2222:22"' in w
