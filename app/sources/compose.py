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
    BindingState,
    ComposeProject,
    ComposeService,
    ContainerInfo,
    PortBinding,
)
from portside.app.sources.compose_files import (  # noqa: F401  (default_files is part of this module's API)
    BASE_FILES,
    default_files,
    select_files,
    service_enabled,
)
from portside.app.sources.compose_ports import (  # noqa: F401  (split_short is part of this module's API)
    ProjectEnv,
    interp,
    parse_ports,
    split_short,
    where,
)
from portside.app.sources.compose_tree import EnvCtx, collect_services, yaml11_warnings
from portside.app.sources.interpolate import project_environment

DEFAULT_FILES = list(BASE_FILES)


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
    environment, env_path, dot = project_environment(project_dir, env)
    selection = select_files(project_dir, environment, dot, env_path)
    files = [Path(f) if Path(f).is_absolute() else project_dir / f for f in (compose_files or [])]
    if not files:
        files = selection.files
        if not files:
            raise ComposeError(
                f"{project_dir}: no compose file ({', '.join(DEFAULT_FILES)}); pass -f FILE or fix the path"
            )
    warnings = list(selection.warnings) if not compose_files else []
    docs = [_read(f) for f in files]
    name = project_name or selection.project_name or ""
    if not name:
        for f, (root, _text) in zip(files, docs, strict=True):
            n = _child(root, "name")
            if isinstance(n, yaml.ScalarNode) and n.value:
                name = interp(n.value, environment, f, n, "name")
    name = normalize_project_name(name or project_dir.name) or "default"

    cache = {f.resolve(): doc for f, doc in zip(files, docs, strict=True)}

    def read(path: Path) -> tuple[yaml.Node | None, str]:
        key = path.resolve()
        if key not in cache:
            cache[key] = _read(path)
        return cache[key]

    services: dict[str, dict[str, Any]] = {}
    for sname, parts in collect_services(files, EnvCtx(environment, env_path, dot), read).items():
        svc = services.setdefault(sname, {"ports": [], "data": {}})
        for part in parts:
            f, node, penv = part.file, part.node, part.env.environment
            # after a `<<:` merge, a key may appear twice: the service's own (last) wins
            for k, v in {str(k.value): (k, v) for k, v in node.value}.values():
                if k.value == "ports":
                    svc["ports"].append((part, v))
                    warnings.extend(w for w in yaml11_warnings(f, sname, v) if w not in warnings)
                elif k.value in ("image", "container_name") and isinstance(v, yaml.ScalarNode):
                    svc["data"][k.value] = interp(v.value, penv, f, v, f"services.{sname}.{k.value}")
                elif k.value == "labels":
                    svc["data"]["labels"] = _kv(v, penv, f)
                elif k.value == "environment":
                    svc["data"]["environment"] = _kv(v, penv, f)
                elif k.value == "profiles" and isinstance(v, yaml.SequenceNode):
                    svc["data"]["profiles"] = [interp(str(x.value), penv, f, x, f"services.{sname}.profiles")
                                               for x in v.value if isinstance(x, yaml.ScalarNode)]

    out: list[ComposeService] = []
    for sname, svc in services.items():
        d = svc["data"]
        profiles = d.get("profiles", [])
        enabled = service_enabled(profiles, selection.profiles)
        bindings: list[PortBinding] = []
        for part, node in svc["ports"]:
            ctx = ProjectEnv(name, part.env.environment, part.env.env_path, part.env.dot)
            for b in parse_ports(ctx, sname, part.file, part.text, node):
                if not enabled:
                    b = b.model_copy(update={"state": BindingState.PROFILE_GATED})
                if not any(_same_port(b, x) for x in bindings):
                    bindings.append(b)
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
                profiles=profiles,
            )
        )
    return ComposeProject(
        name=name,
        project_dir=str(project_dir),
        compose_files=[str(f) for f in files],
        env_file=str(env_path) if env_path else None,
        services=out,
        profiles=sorted(selection.profiles),
        warnings=warnings,
    )


def _same_port(a: PortBinding, b: PortBinding) -> bool:
    """Compose merges `ports:` of overrides and `extends:` by value: the same mapping counts once."""
    return (a.host_ip, a.port, a.port_end, a.target, a.target_end, a.protocol) == (
        b.host_ip, b.port, b.port_end, b.target, b.target_end, b.protocol)


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
