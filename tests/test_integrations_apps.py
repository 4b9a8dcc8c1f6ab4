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
