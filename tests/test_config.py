"""portside.yaml: lookup order, validation, and one-line errors naming file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from portside.app.config import load_config, parse_config, resolve_secret
from portside.app.errors import ConfigError


def write(tmp_path: Path, text: str, name: str = "portside.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("stacks: [a, b\n", 2, "not valid YAML"),
        ("port_range:\n  start: 8000\n  ned: 9000\n", 3, "port_range.ned: unknown key"),
        ("health:\n  interval: soon\n", 2, "health.interval: Input should be a valid number"),
        ("reserved_ports:\n  - 8080\n  - 70000\n", 3, "reserved_ports.1: Input should be less than or equal to 65535"),
        ("port_range: {start: 9000, end: 8000}\n", 1, "port_range: end (8000) must not be below start (9000)"),
        ("pinned: [web]\n", 1, "pinned: 'web' should be project/service"),
        ("- just\n- a list\n", 1, "top level must be a mapping"),
    ],
)
def test_bad_config_is_one_line_naming_file_line_and_key(
    tmp_path: Path, cli, text: str, line: int, needle: str
) -> None:
    path = write(tmp_path, text)
    code, out, err = cli("--config", str(path), "config")
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1, err
    assert err.startswith(f"portside: {path}:{line}: "), err
    assert needle in err
    assert "Traceback" not in err


def test_bad_config_via_subprocess_has_no_traceback(tmp_path: Path) -> None:
    from tests.conftest import run_portside

    path = write(tmp_path, "port_range:\n  end: 70000\n")
    proc = run_portside("--config", str(path), "config")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"portside: {path}:2: port_range.end: Input should be less than or equal to 65535 (got 70000; ports are 1-65535)"
    ]


def test_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    xdg = tmp_path / "xdg-config" / "portside"
    xdg.mkdir(parents=True)
    (xdg / "config.yaml").write_text("reserved_ports: [1]\n")
    assert load_config().reserved_ports == [1]
    write(tmp_path, "reserved_ports: [2]\n")  # ./portside.yaml beats XDG
    assert load_config().reserved_ports == [2]
    env = write(tmp_path, "reserved_ports: [3]\n", "env.yaml")
    monkeypatch.setenv("PORTSIDE_CONFIG", str(env))
    assert load_config().reserved_ports == [3]
    explicit = write(tmp_path, "reserved_ports: [4]\n", "explicit.yaml")
    assert load_config(str(explicit)).reserved_ports == [4]
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(str(tmp_path / "missing.yaml"))


def test_defaults_and_full_file(tmp_path: Path) -> None:
    cfg = load_config()
    assert (cfg.port_range.start, cfg.port_range.end) == (8000, 9000)
    assert cfg.source_path is None
    cfg = parse_config(
        "stacks: [~/stacks/*]\nport_range: {start: 20000, end: 20100}\nreserved_ports: [20001]\n"
        "pinned: [media/jellyfin]\nallocation: same-last-digits\n"
        "integrations: {email: {host: smtp.example.com, password: '${SMTP_PW}'}}\n"
        "health: {interval: 5, checks: [{name: api, url: 'http://localhost:1/health'}]}\n"
        "notifications: {webhooks: ['http://127.0.0.1:9/hook']}\nkeymap: {remap: ctrl+r}\n",
        tmp_path / "x.yaml",
    )
    assert 20050 in cfg.port_range and 8000 not in cfg.port_range
    assert cfg.health.checks[0].name == "api"
    assert cfg.keymap == {"remap": "ctrl+r"}


def test_secret_references(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_PW", "hunter2")
    assert resolve_secret("${SMTP_PW}") == "hunter2"
    f = tmp_path / "pw"
    f.write_text("s3cret\n")
    assert resolve_secret(f"file:{f}") == "s3cret"
    with pytest.raises(ConfigError, match="NOPE is not set"):
        resolve_secret("${NOPE}")


def test_config_command_redacts_secrets(tmp_path: Path, cli) -> None:
    path = write(tmp_path, "integrations: {email: {host: mail, password: hunter2}}\n")
    code, out, _ = cli("--config", str(path), "--json", "config")
    assert code == 0
    assert "hunter2" not in out
    assert '"password": "********"' in out
