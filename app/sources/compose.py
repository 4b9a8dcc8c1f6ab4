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

from app.errors import ComposeError
from app.models import (
    BindingState,
    ComposeProject,
    ComposeService,
    ContainerInfo,
    PortBinding,
    PortOrigin,
    Protocol,
    Source,
)
from app.sources.interpolate import (
    InterpolationError,
    Segment,
    env_file_line,
    interpolate,
    project_environment,
    substitute,
)

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
                name = _interp(n.value, environment, f, n, "name")
    name = normalize_project_name(name or project_dir.name) or "default"

    services: dict[str, dict[str, Any]] = {}
    for f, (root, text) in zip(files, docs, strict=True):
        svcs = _child(root, "services")
        if svcs is None:
            continue
        if not isinstance(svcs, yaml.MappingNode):
            raise ComposeError(f"{_where(f, svcs)}: services: must be a mapping of service names")
        for key, node in svcs.value:
            svc = services.setdefault(str(key.value), {"ports": [], "data": {}})
            if not isinstance(node, yaml.MappingNode):
                if isinstance(node, yaml.ScalarNode) and node.value in ("", "~", "null"):
                    continue
                raise ComposeError(f"{_where(f, node)}: services.{key.value}: must be a mapping")
            # after a `<<:` merge, a key may appear twice: the service's own (last) wins
            for k, v in {str(k.value): (k, v) for k, v in node.value}.values():
                if k.value == "ports":
                    svc["ports"].append((f, text, v))
                elif k.value in ("image", "container_name") and isinstance(v, yaml.ScalarNode):
                    svc["data"][k.value] = _interp(v.value, environment, f, v, f"services.{key.value}.{k.value}")
                elif k.value == "labels":
                    svc["data"]["labels"] = _kv(v, environment, f)
                elif k.value == "environment":
                    svc["data"]["environment"] = _kv(v, environment, f)

    ctx = _Ctx(name, environment, env_path, dot)
    out: list[ComposeService] = []
    for sname, svc in services.items():
        bindings: list[PortBinding] = []
        for f, text, node in svc["ports"]:
            for b in _ports(ctx, sname, f, text, node):
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


class _Ctx:
    def __init__(self, project: str, env: dict[str, str], env_path: Path | None, dot: dict[str, str]):
        self.project, self.env, self.env_path, self.dot = project, env, env_path, dot


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


def _where(f: Path, node: yaml.Node) -> str:
    return f"{f}:{node.start_mark.line + 1}"


def _interp(value: str, env: Mapping[str, str], f: Path, node: yaml.Node, path: str) -> str:
    try:
        return substitute(value, env)
    except InterpolationError as exc:
        raise ComposeError(f"{_where(f, node)}: {path}: {exc}; fix the value or set the variable") from None


def _kv(node: yaml.Node, env: Mapping[str, str], f: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            out[str(k.value)] = _interp(str(v.value), env, f, v, str(k.value)) if isinstance(v, yaml.ScalarNode) else ""
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            if isinstance(item, yaml.ScalarNode):
                k, _, v = _interp(str(item.value), env, f, item, "item").partition("=")
                out[k] = v
    return out


# -------------------------------------------------------------------------- ports


def _ports(ctx: _Ctx, service: str, f: Path, text: str, node: yaml.Node) -> list[PortBinding]:
    if not isinstance(node, yaml.SequenceNode):
        raise ComposeError(f"{_where(f, node)}: services.{service}.ports: must be a list; fix the indentation")
    out: list[PortBinding] = []
    for i, item in enumerate(node.value):
        where = f"{f.name}:{item.start_mark.line + 1}: services.{service}.ports[{i}]"
        try:
            if isinstance(item, yaml.ScalarNode):
                b = _short(ctx, service, f, text, item)
            elif isinstance(item, yaml.MappingNode):
                b = _long(ctx, service, f, text, item)
            else:
                raise ValueError("must be a string like \"8080:80\" or a mapping with target:/published:")
        except (ValueError, InterpolationError) as exc:
            raise ComposeError(f"{f.parent}/{where}: {exc}; fix the port entry") from None
        if b is not None:
            out.append(b)
    return out


_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


def _range(text: str, what: str) -> tuple[int, int | None]:
    m = _RANGE.match(text.strip())
    if not m:
        raise ValueError(f"{what} {text!r} is not a port or a range like 8000-8005")
    lo, hi = int(m.group(1)), int(m.group(2)) if m.group(2) else None
    for p in (lo, hi):
        if p is not None and not 0 < p <= 65535:
            raise ValueError(f"{what} {p} is outside 1-65535")
    if hi is not None and hi < lo:
        raise ValueError(f"{what} range {text!r} ends before it starts")
    return lo, (hi if hi != lo else None)


def split_short(spec: str) -> tuple[str, tuple[int, int] | None, str, str]:
    """`[ip:][host:]container[/proto]` -> (host_ip, (start, end) span of the host part in spec, container, proto).

    The host span is None when no host port is given (ephemeral)."""
    proto = "tcp"
    body = spec
    if "/" in spec:
        body, proto = spec.rsplit("/", 1)
    ip = ""
    offset = 0
    if body.startswith("["):
        close = body.find("]")
        if close < 0 or body[close + 1 : close + 2] != ":":
            raise ValueError(f"{spec!r}: an IPv6 address needs the form [::1]:8080:80")
        ip, offset = body[1:close], close + 2
        rest = body[offset:]
        parts = rest.split(":")
        if len(parts) == 1:
            raise ValueError(f"{spec!r}: an address needs a host port, e.g. [::1]:8080:80")
    else:
        rest = body
        parts = rest.split(":")
        if len(parts) > 3:  # unbracketed IPv6 address
            ip = ":".join(parts[:-2])
            offset = len(ip) + 1
            parts = parts[-2:]
        elif len(parts) == 3:
            ip, offset = parts[0], len(parts[0]) + 1
            parts = parts[1:]
    if len(parts) == 1:
        return ip, None, parts[0], proto
    host, container = parts
    if host == "":
        return ip, None, container, proto
    return ip, (offset, offset + len(host)), container, proto


def _short(ctx: _Ctx, service: str, f: Path, text: str, node: yaml.ScalarNode) -> PortBinding | None:
    value, segs = interpolate(str(node.value), ctx.env)
    ip, span, container, proto = split_short(value)
    if proto not in ("tcp", "udp"):
        raise ValueError(f"protocol {proto!r} is not tcp or udp")
    target, target_end = _range(container, "container port")
    if span is None:
        return None  # ephemeral: docker picks a free host port
    port, port_end = _range(value[span[0] : span[1]], "host port")
    origin = _origin(ctx, f, text, node, segs, span)
    return _binding(ctx, service, ip, port, port_end, target, target_end, proto, origin, None)


def _long(ctx: _Ctx, service: str, f: Path, text: str, node: yaml.MappingNode) -> PortBinding | None:
    fields: dict[str, yaml.Node] = {str(k.value): v for k, v in node.value}

    def val(key: str) -> tuple[str, list[Segment]] | None:
        n = fields.get(key)
        if n is None:
            return None
        if not isinstance(n, yaml.ScalarNode):
            raise ValueError(f"{key}: must be a single value")
        return interpolate(str(n.value), ctx.env)

    t = val("target")
    if t is None:
        raise ValueError("long syntax needs target: (the container port)")
    target, target_end = _range(t[0], "target")
    pub = val("published")
    if pub is None or pub[0].strip() == "":
        return None
    port, port_end = _range(pub[0], "published")
    proto = (val("protocol") or ("tcp", []))[0] or "tcp"
    if proto not in ("tcp", "udp"):
        raise ValueError(f"protocol {proto!r} is not tcp or udp")
    ip = (val("host_ip") or ("", []))[0]
    name = (val("name") or (None, []))[0]
    pnode = fields["published"]
    stripped = pub[0].strip()
    lead = pub[0].find(stripped)
    origin = _origin(ctx, f, text, pnode, pub[1], (lead, lead + len(stripped)))
    return _binding(ctx, service, ip, port, port_end, target, target_end, proto, origin, name)


def _binding(ctx: _Ctx, service: str, ip: str, port: int, port_end: int | None, target: int,
             target_end: int | None, proto: str, origin: PortOrigin, name: str | None) -> PortBinding:
    return PortBinding(
        source=Source.COMPOSE,
        owner=f"compose:{ctx.project}/{service}",
        project=ctx.project,
        service=service,
        host_ip=ip or "0.0.0.0",
        port=port,
        port_end=port_end,
        target=target,
        target_end=target_end,
        protocol=Protocol(proto),
        state=BindingState.DECLARED,
        origin=origin,
        name=name,
    )


def _origin(ctx: _Ctx, f: Path, text: str, node: yaml.Node, segs: list[Segment],
            span: tuple[int, int]) -> PortOrigin:
    """Map the host-port span of the interpolated value back to the file (or the variable)."""
    hs, he = span
    for s in segs:
        if s.var is not None and s.out_start <= hs and he <= s.out_end and s.out_end > s.out_start:
            return _var_origin(ctx, f, text, node, s)
        if s.var is not None and s.out_start < he and hs < s.out_end:
            return _var_origin(ctx, f, text, node, s)
    for s in segs:
        if s.var is None and s.out_start <= hs < s.out_end:
            src = s.src_start + (hs - s.out_start)
            line, col = _file_pos(text, node, src)
            return PortOrigin(file=str(f), line=line, column=col, text=str(node.value)[src : src + he - hs])
    raise ValueError("cannot locate the host port in the file")


def _var_origin(ctx: _Ctx, f: Path, text: str, node: yaml.Node, s: Segment) -> PortOrigin:
    assert s.var is not None
    line, col = _file_pos(text, node, s.src_start)
    in_dot = s.var in ctx.dot and ctx.env_path is not None and ctx.env.get(s.var) == ctx.dot[s.var]
    return PortOrigin(
        file=str(f),
        line=line,
        column=col,
        text=str(node.value)[s.src_start : s.src_end],
        env_var=s.var,
        env_file=str(ctx.env_path) if in_dot else None,
        env_line=env_file_line(ctx.env_path, s.var) if in_dot and ctx.env_path else None,
        default=s.default,
    )


def _file_pos(text: str, node: yaml.Node, value_offset: int) -> tuple[int, int]:
    """1-based (line, column) in the file of character `value_offset` of a scalar's value."""
    raw = text[node.start_mark.index : node.end_mark.index]
    value = str(node.value)
    style = getattr(node, "style", None)
    inner = raw[1:-1] if style in ("'", '"') else raw
    base = node.start_mark.index + (1 if style in ("'", '"') else 0)
    if inner == value:
        idx = base + value_offset
    else:  # escapes or folding: find the same characters in the raw text
        want = value[value_offset : value_offset + 8]
        found = inner.find(want)
        idx = base + (found if found >= 0 else 0)
    line = text.count("\n", 0, idx) + 1
    col = idx - (text.rfind("\n", 0, idx) + 1) + 1
    return line, col


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
