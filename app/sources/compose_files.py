"""Which files make a compose project, its name and its active profiles, exactly as Compose v2 decides.

Compose v2 (2.40) in a project directory, without `-f`:

- base file: the first of compose.yaml, compose.yml, docker-compose.yml,
  docker-compose.yaml; when more than one exists it warns and uses the first;
- override: the first of compose.override.yml, compose.override.yaml,
  docker-compose.override.yml, docker-compose.override.yaml, of *either*
  naming family (compose.yaml + docker-compose.override.yml is a pair);
  again a warning when more than one exists;
- `COMPOSE_FILE` (the process environment, else the project's `.env`) replaces
  both: a list split on `COMPOSE_PATH_SEPARATOR` (default `:`), paths relative
  to the project directory, and no override is added;
- `COMPOSE_PROJECT_NAME` beats a top-level `name:` (the last file that sets
  it wins), which beats the directory name;
- `COMPOSE_PROFILES` (comma-separated, `*` for all) enables services whose
  `profiles:` name one of them; a service without `profiles:` is always on.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from portside.app.errors import ComposeError

BASE_FILES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
OVERRIDE_FILES = (
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
)


@dataclass
class FileSelection:
    """The files of a project and the `COMPOSE_*` settings that shaped it."""

    files: list[Path]
    warnings: list[str] = field(default_factory=list)
    project_name: str | None = None  # COMPOSE_PROJECT_NAME, when set
    profiles: frozenset[str] = frozenset()  # COMPOSE_PROFILES


def _candidates(project_dir: Path, names: tuple[str, ...]) -> list[Path]:
    return [project_dir / n for n in names if (project_dir / n).is_file()]


def default_files(project_dir: Path, warnings: list[str] | None = None) -> list[Path]:
    """The base file (+ override) Compose v2 picks in `project_dir`; [] if none.

    `warnings` receives Compose's own warnings (two candidate base or override files)."""
    bases = _candidates(project_dir, BASE_FILES)
    if not bases:
        return []
    overrides = _candidates(project_dir, OVERRIDE_FILES)
    for kind, found in (("compose", bases), ("override", overrides)):
        if len(found) > 1 and warnings is not None:
            names = ", ".join(p.name for p in found)
            warnings.append(
                f"{project_dir}: several {kind} files ({names}); Compose uses {found[0].name} only — "
                f"merge or remove the others"
            )
    return [bases[0], *overrides[:1]]


def select_files(project_dir: Path, environment: Mapping[str, str], dot: Mapping[str, str],
                 env_path: Path | None = None) -> FileSelection:
    """Files, project name and profiles of `project_dir` given its effective environment
    (the process environment over the project's `.env`)."""
    warnings: list[str] = []
    listed = environment.get("COMPOSE_FILE", "")
    if listed:
        sep = environment.get("COMPOSE_PATH_SEPARATOR") or os.pathsep
        files = []
        for item in (x for x in listed.split(sep) if x):
            p = Path(item).expanduser()
            p = p if p.is_absolute() else project_dir / p
            if not p.is_file():
                from_dot = env_path is not None and dot.get("COMPOSE_FILE") == listed
                src = str(env_path) if from_dot else "the environment"
                raise ComposeError(
                    f"{src}: COMPOSE_FILE names {item}, which does not exist in {project_dir}; fix COMPOSE_FILE"
                )
            files.append(p)
    else:
        files = default_files(project_dir, warnings)
    return FileSelection(
        files=files,
        warnings=warnings,
        project_name=environment.get("COMPOSE_PROJECT_NAME") or None,
        profiles=active_profiles(environment),
    )


def active_profiles(environment: Mapping[str, str]) -> frozenset[str]:
    return frozenset(p.strip() for p in environment.get("COMPOSE_PROFILES", "").split(",") if p.strip())


def service_enabled(profiles: list[str], active: frozenset[str]) -> bool:
    """Compose's rule: no `profiles:` means always on; otherwise one of them must be active (or `*`)."""
    return not profiles or "*" in active or any(p in active for p in profiles)
