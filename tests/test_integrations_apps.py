"""Generated files work inside the apps' containers: scripts that reach the service by its
compose name, secrets that travel through a file or stdin, and files a container mounts that
its documented user can read while other users cannot.

Every stack here is created by the test with its own labels and taken down in `finally`.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

from tests.conftest import LABELS, SESSION, require

FAKE_GITEA = (
    "mkdir -p /etc /home/git && chown 1000 /home/git && echo git:x:1000:1000::/home/git:/bin/sh >> /etc/passwd"
    " && printf '#!/bin/sh\\necho \"$@\" > /home/git/args\\n' > /bin/gitea && chmod 755 /bin/gitea"
    " && exec httpd -f -p 80 -h /www"
)


def compose(d: Path, *args: str, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", "compose", *args], cwd=d, capture_output=True, text=True, timeout=180,
                          check=False, **kw)


def labels_yaml(role: str) -> str:
    return ", ".join(f'"{k}": "{v}"' for k, v in {**LABELS, "portside.test.stack": role}.items())


def test_gitea_script_runs_in_the_service_by_name_and_reads_the_secret_from_a_file_or_stdin(
        cli, tmp_path: Path, test_image: str) -> None:
    require("docker-compose")
    d = tmp_path / f"pst{SESSION}sso{uuid.uuid4().hex[:4]}"
    d.mkdir()
    (d / "compose.yaml").write_text(
        "services:\n  gitea:\n    image: portside-test-busybox:1\n"
        f"    command: [sh, -c, {json.dumps(FAKE_GITEA)}]\n"
        f"    labels: {{portside.catalog: gitea, {labels_yaml('sso-script')}}}\n")
    try:
        up = compose(d, "up", "-d")
        assert up.returncode == 0, up.stderr
        code, out, err = cli("integrate", "sso", "--project-dir", str(d), "--set", "keycloak_url=https://auth.example.test",
                             "--set", "public_urls={gitea: 'https://git.example.test'}", "--json")
        assert code == 0, out + err
        script = d / "portside" / "sso-gitea.sh"
        secret = (d / "portside" / "sso-gitea.secret").read_text().strip()
        assert secret and secret not in script.read_text() and secret not in out
        assert oct((d / "portside" / "sso-gitea.secret").stat().st_mode & 0o777) == "0o600"

        run = subprocess.run(["sh", str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
        assert run.returncode == 0, run.stderr
        args = compose(d, "exec", "-T", "gitea", "cat", "/home/git/args").stdout
        assert "admin auth add-oauth --name keycloak" in args and f"--secret {secret} " in args, args

        run = subprocess.run(["sh", str(script), "-"], input="from-stdin\n", cwd=tmp_path, capture_output=True,
                             text=True, timeout=60, check=False)
        assert run.returncode == 0, run.stderr
        assert "--secret from-stdin " in compose(d, "exec", "-T", "gitea", "cat", "/home/git/args").stdout

        compose(d, "stop")
        run = subprocess.run(["sh", str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
        assert run.returncode != 0 and "not running" in run.stderr, run.stderr
        assert "cannot open" not in run.stderr
    finally:
        compose(d, "down", "-v", "--remove-orphans")


def read_as(user: str, path: Path) -> subprocess.CompletedProcess[str]:
    """`docker run --user USER` with `path` mounted read-only, the way the app's container mounts it."""
    labels = [x for k, v in LABELS.items() for x in ("--label", f"{k}={v}")]
    return subprocess.run(["docker", "run", "--rm", *labels, "--user", user, "-v", f"{path}:/mnt/f:ro",
                           "portside-test-busybox:1", "cat", "/mnt/f"],
                          capture_output=True, text=True, timeout=60, check=False)


def test_mounted_files_are_readable_by_the_apps_user_and_secrets_by_nobody_else(
        cli, compose_project, test_image: str) -> None:
    d = compose_project({"compose.yaml": """
        services:
          grafana: {image: portside-test-busybox:1, labels: {portside.catalog: grafana}}
          db:
            image: portside-test-busybox:1
            labels: {portside.catalog: postgres}
            environment: {POSTGRES_PASSWORD: db-pw}
    """})
    code, out, err = cli("integrate", "sso", "--project-dir", str(d), "--set", "keycloak_url=https://auth.example.test",
                         "--set", "public_urls={grafana: 'https://grafana.example.test'}", "--json")
    assert code == 0, out + err
    code, out, err = cli("integrate", "monitoring", "--project-dir", str(d), "--set", "logs=false", "--json")
    assert code == 0, out + err
    realm = d / "portside" / "keycloak" / "realm-portside.json"
    datasources = d / "portside" / "grafana" / "provisioning" / "datasources" / "portside.yaml"
    dashboard = d / "portside" / "grafana" / "dashboards" / "portside-overview.json"
    modes = {p.name: (oct(p.stat().st_mode & 0o777), p.stat().st_uid) for p in (realm, datasources, dashboard)}
    assert modes == {"realm-portside.json": ("0o600", 1000), "portside.yaml": ("0o600", 472),
                     "portside-overview.json": ("0o640", 472)}, modes

    keycloak = read_as("1000", realm)  # Keycloak's image runs as uid 1000
    assert keycloak.returncode == 0 and '"realm": "portside"' in keycloak.stdout, keycloak.stderr
    for f in (datasources, dashboard):  # Grafana's as uid 472
        grafana = read_as("472", f)
        assert grafana.returncode == 0 and grafana.stdout == f.read_text(), grafana.stderr
    for f in (realm, datasources):  # the secrets: nobody else
        other = read_as("1234:1234", f)
        assert other.returncode != 0 and "Permission denied" in other.stderr, other
    assert read_as("1000", datasources).returncode != 0


def test_without_root_the_plan_says_which_chown_the_container_needs(cli, compose_project, monkeypatch) -> None:
    import os

    d = compose_project({"compose.yaml": "services:\n  grafana: {image: portside-test-busybox:1, labels: {portside.catalog: grafana}}\n"})
    monkeypatch.setattr(os, "geteuid", lambda: 4321)
    code, out, err = cli("--dry-run", "integrate", "monitoring", "--project-dir", str(d), "--set", "logs=false", "--json")
    assert code == 0, out + err
    warnings = json.loads(out)["warnings"]
    dash = d / "portside" / "grafana" / "dashboards" / "portside-overview.json"
    assert f"{dash}: the container reads it as uid 472; portside is not root, so run `sudo chown 472:0 {dash}` after applying" in warnings
