"""The services of a project across `include:` and `extends:`, as Compose v2 assembles them.

- `include:` (Compose 2.20+): each entry (`- path` or a mapping with `path:`,
  `project_directory:`, `env_file:`) loads other compose files as part of the
  project. Their variables come from the including project's environment, then
  from the included project's own `.env` (in its project directory, by default
  the folder of its first file). A service name defined twice is an error.
- `extends:` (`extends: base` or `{service: base, file: common.yaml}`): the
  service starts from the other one (recursively), then its own keys apply;
  `ports:` add up (duplicates once).

Every mapping that contributes to a service is kept as a `Part` with its file,
text and variables, so each port still points at the characters that declare it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from portside.app.errors import ComposeError
from portside.app.sources.compose_ports import interp, where
from portside.app.sources.interpolate import read_env_file

Reader = Callable[[Path], tuple[yaml.Node | None, str]]


@dataclass(frozen=True)
class EnvCtx:
    """The variables one file interpolates with: effective values, the `.env` path and its values."""

    environment: dict[str, str]
    env_path: Path | None
    dot: dict[str, str]


@dataclass(frozen=True)
class Part:
    """One mapping that contributes keys to a service."""

    file: Path
    text: str
    node: yaml.MappingNode
    env: EnvCtx


def child(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if k.value == key:
                return v
    return None


def collect_services(files: list[Path], env: EnvCtx, read: Reader) -> dict[str, list[Part]]:
    """Service name -> its parts in merge order (extended bases first, then each file's own)."""
    return _collect(files, env, read, ())


def _collect(files: list[Path], env: EnvCtx, read: Reader, including: tuple[Path, ...]) -> dict[str, list[Part]]:
    docs = [(f, *read(f)) for f in files]
    services: dict[str, list[Part]] = {}
    origin: dict[str, Path] = {}
    for f, root, _text in docs:
        for paths, sub_env in _includes(f, root, env):
            if paths[0].resolve() in including:
                raise ComposeError(f"{paths[0]}: include: includes itself (through {f}); remove the cycle")
            sub = _collect(paths, sub_env, read, (*including, *(p.resolve() for p in files)))
            for name, parts in sub.items():
                if name in services:
                    raise ComposeError(
                        f"{parts[-1].file}: services.{name}: also defined by {origin[name]}; "
                        "rename one of them (Compose refuses the include)"
                    )
                services[name], origin[name] = parts, parts[-1].file
    own: dict[str, list[Part]] = {}
    for f, root, text in docs:
        svcs = child(root, "services")
        if svcs is None:
            continue
        if not isinstance(svcs, yaml.MappingNode):
            raise ComposeError(f"{where(f, svcs)}: services: must be a mapping of service names")
        for key, node in svcs.value:
            name = str(key.value)
            if not isinstance(node, yaml.MappingNode):
                if isinstance(node, yaml.ScalarNode) and node.value in ("", "~", "null"):
                    own.setdefault(name, [])
                    continue
                raise ComposeError(f"{where(f, node)}: services.{name}: must be a mapping")
            own.setdefault(name, []).extend(_extends(f, text, root, name, node, env, read, ()))
    for name, parts in own.items():
        if name in services:
            first = parts[-1].file if parts else files[0]
            raise ComposeError(
                f"{first}: services.{name}: also defined by the included {origin[name]}; rename one of them"
            )
        services[name] = parts
    return services


def _includes(f: Path, root: yaml.Node | None, env: EnvCtx) -> list[tuple[list[Path], EnvCtx]]:
    node = child(root, "include")
    if node is None:
        return []
    if not isinstance(node, yaml.SequenceNode):
        raise ComposeError(f"{where(f, node)}: include: must be a list of files")
    out = []
    for i, item in enumerate(node.value):
        here = f"include[{i}]"

        def texts(n: yaml.Node | None, what: str, here: str = here) -> list[str]:
            return _texts(f, env, n, f"{here}.{what}")

        if isinstance(item, yaml.ScalarNode):
            paths, pdir, env_files = texts(item, "path"), None, []
        elif isinstance(item, yaml.MappingNode):
            paths = texts(child(item, "path"), "path")
            pd = texts(child(item, "project_directory"), "project_directory")
            pdir, env_files = (pd[0] if pd else None), texts(child(item, "env_file"), "env_file")
        else:
            raise ComposeError(f"{where(f, item)}: {here}: must be a path or a mapping with path:")
        if not paths:
            raise ComposeError(f"{where(f, item)}: {here}: needs path:")
        files = [_rel(f.parent, p) for p in paths]
        for p in files:
            if not p.is_file():
                raise ComposeError(f"{where(f, item)}: {here}: {p} does not exist; fix the path")
        project_dir = _rel(f.parent, pdir) if pdir else files[0].parent
        dot_files = [_rel(f.parent, e) for e in env_files] or [project_dir / ".env"]
        dot: dict[str, str] = {}
        for e in dot_files:
            if e.is_file():
                dot.update(read_env_file(e))
        env_path = dot_files[-1] if dot_files[-1].is_file() else None
        out.append((files, EnvCtx({**dot, **env.environment}, env_path, dot)))
    return out


def _texts(f: Path, env: EnvCtx, n: yaml.Node | None, path: str) -> list[str]:
    if n is None:
        return []
    vals = n.value if isinstance(n, yaml.SequenceNode) else [n]
    if not all(isinstance(v, yaml.ScalarNode) for v in vals):
        raise ComposeError(f"{where(f, n)}: {path}: must be a path or a list of paths")
    return [interp(str(v.value), env.environment, f, v, path) for v in vals]


def _rel(base: Path, p: str) -> Path:
    q = Path(p).expanduser()
    return q if q.is_absolute() else base / q


def _extends(f: Path, text: str, root: yaml.Node | None, name: str, node: yaml.MappingNode, env: EnvCtx,
             read: Reader, stack: tuple[tuple[Path, str], ...]) -> list[Part]:
    ext = child(node, "extends")
    own = Part(f, text, node, env)
    if ext is None:
        return [own]
    if isinstance(ext, yaml.ScalarNode):
        base_name, base_file = interp(str(ext.value), env.environment, f, ext, f"services.{name}.extends"), f
    elif isinstance(ext, yaml.MappingNode):
        s, fl = child(ext, "service"), child(ext, "file")
        if not isinstance(s, yaml.ScalarNode):
            raise ComposeError(f"{where(f, ext)}: services.{name}.extends: needs service:")
        base_name = interp(str(s.value), env.environment, f, s, f"services.{name}.extends.service")
        base_file = f
        if isinstance(fl, yaml.ScalarNode):
            base_file = _rel(f.parent, interp(str(fl.value), env.environment, f, fl, f"services.{name}.extends.file"))
    else:
        raise ComposeError(f"{where(f, ext)}: services.{name}.extends: must be a service name or a mapping")
    key = (base_file.resolve(), base_name)
    if key in stack:
        raise ComposeError(f"{where(f, ext)}: services.{name}.extends: circular ({base_name} extends back)")
    if base_file.resolve() == f.resolve():
        base_root, base_text = root, text
    else:
        if not base_file.is_file():
            raise ComposeError(f"{where(f, ext)}: services.{name}.extends.file: {base_file} does not exist")
        base_root, base_text = read(base_file)
    base = child(child(base_root, "services"), base_name)
    if not isinstance(base, yaml.MappingNode):
        raise ComposeError(
            f"{where(f, ext)}: services.{name}.extends: no service {base_name!r} in {base_file.name}; fix the name"
        )
    return [*_extends(base_file, base_text, base_root, base_name, base, env, read, (*stack, key)), own]


_SEXAGESIMAL = re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+$")


def yaml11_warnings(f: Path, service: str, ports: yaml.Node) -> list[str]:
    """Unquoted `- 22:22`: YAML 1.1 (docker-compose v1) reads a base-60 number, Compose v2 a port."""
    out = []
    if isinstance(ports, yaml.SequenceNode):
        for i, item in enumerate(ports.value):
            if isinstance(item, yaml.ScalarNode) and item.style is None and _SEXAGESIMAL.match(str(item.value)):
                out.append(
                    f"{where(f, item)}: services.{service}.ports[{i}]: {item.value} unquoted is a base-60 number "
                    f"to YAML 1.1 (docker-compose v1 publishes no such port); quote it: \"{item.value}\""
                )
    return out
