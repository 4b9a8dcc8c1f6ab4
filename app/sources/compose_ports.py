"""Compose `ports:` entries: short and long syntax, ranges, host_ip, udp, and the exact origin of each number.

Split from compose.py: given a service's `ports:` YAML node, produce PortBindings
whose PortOrigin points at the characters a remap must edit.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import yaml

from portside.app.errors import ComposeError
from portside.app.models import BindingState, PortBinding, PortOrigin, Protocol, Source
from portside.app.sources.interpolate import (
    InterpolationError,
    Segment,
    env_file_line,
    interpolate,
    substitute,
)


class ProjectEnv:
    """The project name and the variables its ports interpolate from."""

    def __init__(self, project: str, env: dict[str, str], env_path: Path | None, dot: dict[str, str]):
        self.project, self.env, self.env_path, self.dot = project, env, env_path, dot


def where(f: Path, node: yaml.Node) -> str:
    return f"{f}:{node.start_mark.line + 1}"


def interp(value: str, env: Mapping[str, str], f: Path, node: yaml.Node, path: str) -> str:
    try:
        return substitute(value, env)
    except InterpolationError as exc:
        raise ComposeError(f"{where(f, node)}: {path}: {exc}; fix the value or set the variable") from None




def parse_ports(ctx: ProjectEnv, service: str, f: Path, text: str, node: yaml.Node) -> list[PortBinding]:
    if not isinstance(node, yaml.SequenceNode):
        raise ComposeError(f"{where(f, node)}: services.{service}.ports: must be a list; fix the indentation")
    out: list[PortBinding] = []
    for i, item in enumerate(node.value):
        here = f"{f.name}:{item.start_mark.line + 1}: services.{service}.ports[{i}]"
        try:
            if isinstance(item, yaml.ScalarNode):
                b = _short(ctx, service, f, text, item)
            elif isinstance(item, yaml.MappingNode):
                b = _long(ctx, service, f, text, item)
            else:
                raise ValueError("must be a string like \"8080:80\" or a mapping with target:/published:")
        except (ValueError, InterpolationError) as exc:
            raise ComposeError(f"{f.parent}/{here}: {exc}; fix the port entry") from None
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


def _short(ctx: ProjectEnv, service: str, f: Path, text: str, node: yaml.ScalarNode) -> PortBinding | None:
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


def _long(ctx: ProjectEnv, service: str, f: Path, text: str, node: yaml.MappingNode) -> PortBinding | None:
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


def _binding(ctx: ProjectEnv, service: str, ip: str, port: int, port_end: int | None, target: int,
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


def _origin(ctx: ProjectEnv, f: Path, text: str, node: yaml.Node, segs: list[Segment],
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


def _var_origin(ctx: ProjectEnv, f: Path, text: str, node: yaml.Node, s: Segment) -> PortOrigin:
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
