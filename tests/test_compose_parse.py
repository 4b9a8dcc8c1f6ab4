"""Compose files on disk: ports, interpolation, origins, project names, discovery (pure + docker-compose config)."""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml

from portside.app.errors import ComposeError
from portside.app.models import ContainerInfo, Protocol
from portside.app.sources.compose import discover_projects, load_project, split_short
from portside.app.sources.interpolate import InterpolationError, interpolate


def write(d: Path, files: dict[str, str]) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (d / name).write_text(textwrap.dedent(text))
    return d


def ports(project, service: str = "web"):
    return next(s for s in project.services if s.service == service).ports


def line_of(path: str, line: int) -> str:
    return Path(path).read_text().splitlines()[line - 1]


# ------------------------------------------------------------------ short syntax


@pytest.mark.parametrize(
    "spec, ip, host, container, proto",
    [
        ("8080:80", "", "8080", "80", "tcp"),
        ("127.0.0.1:8080:80", "127.0.0.1", "8080", "80", "tcp"),
        ("8000-8005:8000-8005", "", "8000-8005", "8000-8005", "tcp"),
        ("53:53/udp", "", "53", "53", "udp"),
        ("[::1]:8080:80", "::1", "8080", "80", "tcp"),
        ("::1:8080:80", "::1", "8080", "80", "tcp"),
        ("80", "", None, "80", "tcp"),
        ("127.0.0.1::80", "127.0.0.1", None, "80", "tcp"),
    ],
)
def test_split_short(spec, ip, host, container, proto):
    got_ip, span, got_container, got_proto = split_short(spec)
    assert (got_ip, got_container, got_proto) == (ip, container, proto)
    assert (spec[span[0] : span[1]] if span else None) == host


def test_every_short_and_long_form_with_exact_origin(tmp_path):
    d = write(tmp_path / "Shop_App", {"compose.yaml": """\
        # the shop
        services:
          web:
            image: nginx   # front
            ports:
              - "8080:80"          # quoted
              - 127.0.0.1:8443:443
              - '9090:90'
              - "[::1]:7000:70/udp"
              - 80
              - 8000-8005:8000-8005
              - 5353:53/udp
              - target: 81
                published: 8181
                host_ip: 127.0.0.2
                protocol: udp
                mode: host
              - target: 82
                published: "8282"
              - target: 83
              - target: 8100
                published: 8100-8102
        """})
    project = load_project(d, env={})
    assert project.name == "shop_app"
    got = {(b.host_ip, b.port, b.port_end, b.target, b.protocol) for b in ports(project)}
    assert got == {
        ("0.0.0.0", 8080, None, 80, Protocol.TCP),
        ("127.0.0.1", 8443, None, 443, Protocol.TCP),
        ("0.0.0.0", 9090, None, 90, Protocol.TCP),
        ("::1", 7000, None, 70, Protocol.UDP),
        ("0.0.0.0", 8000, 8005, 8000, Protocol.TCP),
        ("0.0.0.0", 5353, None, 53, Protocol.UDP),
        ("127.0.0.2", 8181, None, 81, Protocol.UDP),
        ("0.0.0.0", 8282, None, 82, Protocol.TCP),
        ("0.0.0.0", 8100, 8102, 8100, Protocol.TCP),
    }
    for b in ports(project):
        o = b.origin
        assert o is not None and o.env_var is None
        assert b.owner == "compose:shop_app/web" and b.state.value == "declared"
        # the origin points at exactly the characters of the host port
        line = line_of(o.file, o.line)
        assert line[o.column - 1 : o.column - 1 + len(o.text)] == o.text
        expected = f"{b.port}-{b.port_end}" if b.port_end else str(b.port)
        assert o.text == expected


def test_interpolation_origins_and_env_precedence(tmp_path):
    d = write(tmp_path / "p", {
        "compose.yaml": """\
            services:
              web:
                ports:
                  - "${WEB_PORT:-8080}:80"
                  - "${ADMIN_PORT-9000}:90"
                  - "$PLAIN:70"
                  - "${BIND_IP:-127.0.0.1}:${API}:60"
                  - target: 50
                    published: ${LONG:-5050}
            """,
        ".env": "# settings\nWEB_PORT=18080\nexport PLAIN=17070\nAPI='16060'\n",
    })
    project = load_project(d, env={"ADMIN_PORT": "19000", "PLAIN": "27070"})
    by_target = {b.target: b for b in ports(project)}
    web = by_target[80]
    assert web.port == 18080
    assert web.origin.env_var == "WEB_PORT" and web.origin.default == "8080"
    assert web.origin.env_file == str(d / ".env") and web.origin.env_line == 2
    assert web.origin.text == "${WEB_PORT:-8080}"
    assert line_of(web.origin.file, web.origin.line)[web.origin.column - 1 :].startswith("${WEB_PORT")
    admin = by_target[90]
    assert admin.port == 19000 and admin.origin.env_file is None  # from the process env
    assert by_target[70].port == 27070  # the environment wins over .env, as compose does
    assert by_target[70].origin.env_file is None
    api = by_target[60]
    assert (api.host_ip, api.port) == ("127.0.0.1", 16060) and api.origin.env_var == "API"
    long = by_target[50]
    assert long.port == 5050 and long.origin.env_var == "LONG" and long.origin.default == "5050"
    assert long.origin.env_file is None


@pytest.mark.parametrize(
    "text, env, out",
    [
        ("${A:-x}", {"A": ""}, "x"),
        ("${A-x}", {"A": ""}, ""),
        ("${A-x}", {}, "x"),
        ("$$A", {"A": "1"}, "$A"),
        ("${A:+set}", {"A": "1"}, "set"),
        ("${A:-${B:-80}}", {}, "80"),
        ("${A}${B}", {"A": "1", "B": "2"}, "12"),
        ("${UNSET}", {}, ""),
    ],
)
def test_interpolate(text, env, out):
    assert interpolate(text, env)[0] == out


def test_required_variable_and_bad_syntax_are_errors_with_file_and_line(tmp_path):
    d = write(tmp_path / "p", {"compose.yaml": """\
        services:
          web:
            ports:
              - "80:80"
              - "${NEED:?set NEED in .env}:80"
        """})
    with pytest.raises(ComposeError) as e:
        load_project(d, env={})
    msg = str(e.value)
    assert "compose.yaml:5" in msg and "ports[1]" in msg and "set NEED in .env" in msg
    assert "\n" not in msg
    with pytest.raises(InterpolationError):
        interpolate("${A", {})
    with pytest.raises(InterpolationError):
        interpolate("a $ b", {})


@pytest.mark.parametrize(
    "body, where",
    [
        ("services:\n  web:\n    ports:\n      - \"99999:80\"\n", ":4"),
        ("services:\n  web:\n    ports: \"80:80\"\n", ":3"),
        ("services:\n  web:\n    ports:\n      - \"abc:80\"\n", ":4"),
        ("services:\n  web:\n   ports:\n  - x: [\n", ":"),
        ("services:\n  web:\n    ports:\n      - \"80:80/sctp\"\n", ":4"),
        ("services:\n  web:\n    ports:\n      - published: 80\n", ":4"),
    ],
)
def test_broken_files_name_file_and_line(tmp_path, body, where):
    d = tmp_path / "p"
    d.mkdir()
    (d / "compose.yaml").write_text(body)
    with pytest.raises(ComposeError) as e:
        load_project(d, env={})
    assert f"compose.yaml{where}" in str(e.value) and "\n" not in str(e.value)


def test_project_name_rules_and_default_files(tmp_path):
    d = write(tmp_path / "My.Stack", {"docker-compose.yml": "services:\n  a:\n    ports: ['1:1']\n",
                                      "docker-compose.override.yml": "services:\n  a:\n    ports: ['2:2']\n"})
    p = load_project(d, env={})
    assert p.name == "mystack"
    assert [Path(f).name for f in p.compose_files] == ["docker-compose.yml", "docker-compose.override.yml"]
    assert {b.port for b in ports(p, "a")} == {1, 2}
    assert load_project(d, env={"COMPOSE_PROJECT_NAME": "Other"}).name == "other"
    (d / ".env").write_text("COMPOSE_PROJECT_NAME=fromdotenv\n")
    assert load_project(d, env={}).name == "fromdotenv"
    (d / ".env").unlink()
    (d / "docker-compose.yml").write_text("name: named\nservices:\n  a:\n    image: x\n")
    assert load_project(d, env={}).name == "named"
    assert load_project(d, env={}, project_name="given").name == "given"


def test_anchors_and_merge_keys(tmp_path):
    d = write(tmp_path / "p", {"compose.yaml": """\
        x-base: &base
          image: busybox
          ports:
            - "8181:81"
        services:
          one:
            <<: *base
          two:
            <<: *base
            ports: ["8282:82"]
        """})
    p = load_project(d, env={})
    assert [b.port for b in ports(p, "one")] == [8181]
    assert [b.port for b in ports(p, "two")] == [8282]
    assert ports(p, "one")[0].origin.line == 4


def test_discover_projects_sources_and_isolated_errors(tmp_path, monkeypatch):
    root = tmp_path / "stacks"
    write(root / "good", {"compose.yaml": "services:\n  web:\n    ports: ['8080:80']\n"})
    write(root / "bad", {"compose.yaml": "services:\n  web:\n    ports:\n      - '8080:80\n"})
    write(root / "nocompose", {"README": "x"})
    labelled = write(tmp_path / "running", {"docker-compose.yml": "services:\n  db:\n    ports: ['5432:5432']\n"})
    explicit = write(tmp_path / "explicit", {"custom.yml": "services:\n  api:\n    ports: ['9000:9000']\n"})
    here = write(tmp_path / "here", {"compose.yml": "services:\n  h:\n    ports: ['7000:7000']\n"})
    monkeypatch.setenv("STACKROOT", str(root))
    c = ContainerInfo(id="1", name="x", image="i", state="running", project="runproj", service="db",
                      working_dir=str(labelled), config_files=[str(labelled / "docker-compose.yml")])
    gone = ContainerInfo(id="2", name="y", image="i", state="running", project="gone", service="s",
                         working_dir="/nonexistent/dir", config_files=["/nonexistent/dir/compose.yaml"])
    projects, errors = discover_projects(
        ["$STACKROOT/*", "$STACKROOT/good"], [], [str(explicit / "custom.yml")], [c, gone], cwd=here
    )
    names = sorted(p.name for p in projects)
    assert names == ["explicit", "good", "here", "runproj"]
    assert len(errors) == 1 and "bad/compose.yaml:" in errors[0] and "YAML" in errors[0]


# ------------------------------------------- agreement with docker-compose itself


CASES = {
    "literal": ({"compose.yaml": "services:\n  web:\n    image: busybox\n    ports:\n      - \"127.0.0.1:18080:80\"\n      - 18443:443/udp\n"}, {}),
    "dotenv": ({"compose.yaml": "services:\n  web:\n    image: busybox\n    ports:\n      - \"${WEB:-18080}:80\"\n      - \"${OTHER-18081}:81\"\n      - \"${WEB_IP:-127.0.0.1}:18082:82\"\n",
                ".env": "WEB=18090\n"}, {"OTHER": "18091"}),
    "default": ({"compose.yaml": "services:\n  web:\n    image: busybox\n    ports:\n      - \"${UNSET_X_PORT:-18100}-18101:80-81\"\n"}, {}),
}


def _expand(ip: str, port: int, end: int | None, proto: str) -> set[tuple[str, int, str]]:
    return {(ip or "0.0.0.0", p, proto) for p in range(port, (end or port) + 1)}


@pytest.mark.parametrize("case", sorted(CASES))
def test_ports_agree_with_docker_compose_config(tmp_path, case):
    """docker-compose 1.29 prints the interpolated ports (ranges expanded); ours must match."""
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose is not installed")
    files, env = CASES[case]
    d = write(tmp_path / "p", files)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("WEB", "OTHER", "UNSET_X"))}
    proc = subprocess.run(["docker-compose", "config"], cwd=d, env={**base, **env},
                          capture_output=True, text=True, check=True)
    theirs: set[tuple[str, int, str]] = set()
    for p in yaml.safe_load(proc.stdout)["services"]["web"]["ports"]:
        if isinstance(p, dict):
            theirs |= _expand(p.get("host_ip", ""), int(p["published"]), None, p.get("protocol", "tcp"))
        else:
            ip, span, _c, proto = split_short(p)
            lo, _, hi = p[span[0] : span[1]].partition("-")
            theirs |= _expand(ip, int(lo), int(hi) if hi else None, proto)
    ours: set[tuple[str, int, str]] = set()
    for b in ports(load_project(d, env={**base, **env})):
        ours |= _expand(b.host_ip, b.port, b.port_end, b.protocol.value)
    assert ours == theirs, proc.stdout
