"""Compose projects on disk: declared services and ports, with where each port number came from.

`load_project()` reads one project the way compose does (default file names +
override, `.env` + environment interpolation, project name rules) and returns a
`ComposeProject` whose port bindings carry a precise `PortOrigin`: the file, the
1-based line/column and the exact text of the host port as written, or the
`${VAR}` that produced it. `discover_projects()` gathers every project portside
should know about; one broken file is reported and the others still load.

Errors are `ComposeError` with one line: "compose.yaml:12: services.web.ports[1]: ...; fix ...".
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from portside.app.errors import ComposeError
from portside.app.models import (
    ComposeProject,
    ComposeService,
    ContainerInfo,
    PortBinding,
)
from portside.app.sources.compose_ports import (  # noqa: F401  (split_short is part of this module's API)
    ProjectEnv,
    interp,
    parse_ports,
    split_short,
    where,
)
from portside.app.sources.interpolate import project_environment

DEFAULT_FILES = ["compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml"]
OVERRIDES = {
    "compose.yaml": ["compose.override.yaml", "compose.override.yml"],
    "compose.yml": ["compose.override.yml", "compose.override.yaml"],
    "docker-compose.yml": ["docker-compose.override.yml", "docker-compose.override.yaml"],
    "docker-compose.yaml": ["docker-compose.override.yaml", "docker-compose.override.yml"],
}


def default_files(project_dir: Path) -> list[Path]:
    """The compose file (+ its override) compose would pick in `project_dir`; [] if none."""
    for name in DEFAULT_FILES:
        main = project_dir / name
        if main.is_file():
            files = [main]
            for o in OVERRIDES[name]:
                if (project_dir / o).is_file():
                    files.append(project_dir / o)
                    break
            return files
    return []


def normalize_project_name(name: str) -> str:
    """Compose's rule: lowercase, keep [a-z0-9_-], must start with a letter or digit."""
    return re.sub(r"[^a-z0-9_-]", "", name.lower()).lstrip("_-")


# ------------------------------------------------------------------------ loading


def load_project(
    project_dir: Path,
    compose_files: list[Path] | None = None,
    env: Mapping[str, str] | None = None,
    project_name: str | None = None,
) -> ComposeProject:
    project_dir = Path(project_dir).expanduser().absolute()
    files = [Path(f) if Path(f).is_absolute() else project_dir / f for f in (compose_files or [])]
    if not files:
        files = default_files(project_dir)
        if not files:
            raise ComposeError(
                f"{project_dir}: no compose file ({', '.join(DEFAULT_FILES)}); pass -f FILE or fix the path"
            )
    environment, env_path, dot = project_environment(project_dir, env)
    docs = [_read(f) for f in files]
    name = project_name or environment.get("COMPOSE_PROJECT_NAME") or ""
    if not name:
        for f, (root, _text) in zip(files, docs, strict=True):
            n = _child(root, "name")
            if isinstance(n, yaml.ScalarNode) and n.value:
                name = interp(n.value, environment, f, n, "name")
    name = normalize_project_name(name or project_dir.name) or "default"

    services: dict[str, dict[str, Any]] = {}
    for f, (root, text) in zip(files, docs, strict=True):
        svcs = _child(root, "services")
        if svcs is None:
            continue
        if not isinstance(svcs, yaml.MappingNode):
            raise ComposeError(f"{where(f, svcs)}: services: must be a mapping of service names")
        for key, node in svcs.value:
            svc = services.setdefault(str(key.value), {"ports": [], "data": {}})
            if not isinstance(node, yaml.MappingNode):
                if isinstance(node, yaml.ScalarNode) and node.value in ("", "~", "null"):
                    continue
                raise ComposeError(f"{where(f, node)}: services.{key.value}: must be a mapping")
            # after a `<<:` merge, a key may appear twice: the service's own (last) wins
            for k, v in {str(k.value): (k, v) for k, v in node.value}.values():
                if k.value == "ports":
                    svc["ports"].append((f, text, v))
                elif k.value in ("image", "container_name") and isinstance(v, yaml.ScalarNode):
                    svc["data"][k.value] = interp(v.value, environment, f, v, f"services.{key.value}.{k.value}")
                elif k.value == "labels":
                    svc["data"]["labels"] = _kv(v, environment, f)
                elif k.value == "environment":
                    svc["data"]["environment"] = _kv(v, environment, f)

    ctx = ProjectEnv(name, environment, env_path, dot)
    out: list[ComposeService] = []
    for sname, svc in services.items():
        bindings: list[PortBinding] = []
        for f, text, node in svc["ports"]:
            for b in parse_ports(ctx, sname, f, text, node):
                if b not in bindings:
                    bindings.append(b)
        d = svc["data"]
        out.append(
            ComposeService(
                project=name,
                service=sname,
                project_dir=str(project_dir),
                compose_files=[str(f) for f in files],
                image=d.get("image"),
                container_name=d.get("container_name"),
                ports=bindings,
                labels=d.get("labels", {}),
                environment=d.get("environment", {}),
            )
        )
    return ComposeProject(
        name=name,
        project_dir=str(project_dir),
        compose_files=[str(f) for f in files],
        env_file=str(env_path) if env_path else None,
        services=out,
    )


def _read(path: Path) -> tuple[yaml.Node | None, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ComposeError(f"{path}: cannot read ({exc.strerror}); check the path and permissions") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ComposeError(f"{path}{where}: not valid YAML ({problem}); fix the syntax") from None
    if root is not None and not isinstance(root, yaml.MappingNode):
        raise ComposeError(f"{path}:1: the top level must be a mapping (services:, ...)")
    _flatten(root)
    return root, text


def _flatten(node: yaml.Node | None) -> None:
    """Resolve `<<: *anchor` merge keys in place (as the YAML loader does)."""
    seen: set[int] = set()

    def walk(n: yaml.Node) -> None:
        if id(n) in seen:
            return
        seen.add(id(n))
        if isinstance(n, yaml.MappingNode):
            SafeConstructor().flatten_mapping(n)
            for _k, v in n.value:
                walk(v)
        elif isinstance(n, yaml.SequenceNode):
            for v in n.value:
                walk(v)

    if node is not None:
        walk(node)


def _child(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if k.value == key:
                return v
    return None


def _kv(node: yaml.Node, env: Mapping[str, str], f: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            out[str(k.value)] = interp(str(v.value), env, f, v, str(k.value)) if isinstance(v, yaml.ScalarNode) else ""
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            if isinstance(item, yaml.ScalarNode):
                k, _, v = interp(str(item.value), env, f, item, "item").partition("=")
                out[k] = v
    return out


# ---------------------------------------------------------------------- discovery


def _expand(path: str) -> str:
    return os.path.expandvars(os.path.expanduser(path))


def discover_projects(
    stacks: list[str],
    project_dirs: list[str],
    compose_files: list[str],
    containers: list[ContainerInfo],
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> tuple[list[ComposeProject], list[str]]:
    """Every compose project portside should know about, and one error line per broken one."""
    wanted: list[tuple[Path, list[Path] | None, str | None]] = []
    for pattern in stacks:
        for match in sorted(glob.glob(_expand(pattern))) or []:
            p = Path(match)
            if p.is_dir():
                if default_files(p):
                    wanted.append((p, None, None))
            elif p.is_file():
                wanted.append((p.parent, [p], None))
    files = [Path(_expand(f)).absolute() for f in compose_files]
    dirs = [Path(_expand(d)).absolute() for d in project_dirs]
    if files:
        wanted.append((dirs[0] if len(dirs) == 1 else files[0].parent, files, None))
        dirs = dirs[1:] if len(dirs) == 1 else dirs
    wanted.extend((d, None, None) for d in dirs)
    by_project: dict[str, ContainerInfo] = {}
    for c in containers:
        if c.project and c.working_dir and c.project not in by_project:
            by_project[c.project] = c
    for proj, c in by_project.items():
        wd = Path(c.working_dir or "")
        cfiles = [Path(x) if Path(x).is_absolute() else wd / x for x in c.config_files]
        if wd.is_dir() and all(x.is_file() for x in cfiles):
            wanted.append((wd, cfiles or None, proj))
    here = cwd or Path.cwd()
    if default_files(here):
        wanted.append((here, None, None))

    projects: list[ComposeProject] = []
    errors: list[str] = []
    seen: set[tuple[str, tuple[str, ...]]] = set()
    for d, fs, name in wanted:
        try:
            resolved = fs or default_files(d)
            key = (str(d.resolve()), tuple(sorted(str(Path(x).resolve()) for x in resolved)))
            if key in seen:
                continue
            seen.add(key)
            projects.append(load_project(d, fs, env=env, project_name=name))
        except ComposeError as exc:
            errors.append(str(exc))
    return projects, errors
