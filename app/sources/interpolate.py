"""Compose variable interpolation that remembers where every output character came from.

Syntax as compose implements it: `$VAR`, `${VAR}`, `${VAR:-default}` (unset or
empty), `${VAR-default}` (unset), `${VAR:?err}` / `${VAR?err}` (required),
`${VAR:+alt}` / `${VAR+alt}`, and `$$` for a literal `$`. Defaults may nest
(`${A:-${B:-80}}`). Values come from `env`; compose passes the process
environment over the project's `.env` (see `project_environment`).

`interpolate()` returns the text and a list of `Segment`s mapping output spans
back to the input: a literal span, or a variable expression. A remap uses that
to edit exactly the characters of a port, or the variable that produced it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class InterpolationError(ValueError):
    """Bad syntax or a required variable missing; the message is one line."""


@dataclass(frozen=True)
class Segment:
    out_start: int
    out_end: int
    src_start: int  # offset in the input text of the literal / the whole `${...}` expression
    src_end: int
    var: str | None = None  # None: literal text
    default: str | None = None  # the raw default text of `:-` / `-`, if any
    from_default: bool = False  # the value is the default (variable unset/empty)


def interpolate(text: str, env: Mapping[str, str]) -> tuple[str, list[Segment]]:
    out: list[str] = []
    segs: list[Segment] = []
    pos = 0
    n = len(text)
    lit_start = 0

    def flush_literal(end: int) -> None:
        if end > lit_start:
            o = sum(len(s) for s in out)
            out.append(text[lit_start:end])
            segs.append(Segment(o, o + end - lit_start, lit_start, end))

    while pos < n:
        if text[pos] != "$":
            pos += 1
            continue
        nxt = text[pos + 1] if pos + 1 < n else ""
        if nxt == "$":  # `$$` -> `$`
            flush_literal(pos)
            o = sum(len(s) for s in out)
            out.append("$")
            segs.append(Segment(o, o + 1, pos, pos + 2))
            pos += 2
            lit_start = pos
            continue
        if nxt == "{":
            end = _matching_brace(text, pos + 1)
            value, var, default, from_default = _expand_braced(text[pos + 2 : end], env)
            flush_literal(pos)
            o = sum(len(s) for s in out)
            out.append(value)
            segs.append(Segment(o, o + len(value), pos, end + 1, var, default, from_default))
            pos = end + 1
            lit_start = pos
            continue
        m = _NAME.match(text, pos + 1)
        if m:
            flush_literal(pos)
            value = env.get(m.group(0), "")
            o = sum(len(s) for s in out)
            out.append(value)
            segs.append(Segment(o, o + len(value), pos, m.end(), m.group(0)))
            pos = m.end()
            lit_start = pos
            continue
        raise InterpolationError(f"invalid interpolation format in {text!r}: a lone '$' (write '$$' for a literal $)")
    flush_literal(n)
    return "".join(out), segs


def substitute(text: str, env: Mapping[str, str]) -> str:
    return interpolate(text, env)[0]


def _matching_brace(text: str, open_at: int) -> int:
    depth = 0
    for i in range(open_at, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
    raise InterpolationError(f"invalid interpolation format in {text!r}: missing '}}'")


def _expand_braced(body: str, env: Mapping[str, str]) -> tuple[str, str, str | None, bool]:
    m = _NAME.match(body)
    if not m:
        raise InterpolationError(f"invalid interpolation format in '${{{body}}}': bad variable name")
    name, rest = m.group(0), body[m.end() :]
    value = env.get(name)
    if rest == "":
        return (value or ""), name, None, False
    for op in (":-", ":?", ":+", "-", "?", "+"):
        if rest.startswith(op):
            arg = rest[len(op) :]
            break
    else:
        raise InterpolationError(f"invalid interpolation format in '${{{body}}}'")
    missing = value is None or (op.startswith(":") and value == "")
    if op.endswith("-"):
        if missing:
            return substitute(arg, env), name, arg, True
        return value or "", name, arg, False
    if op.endswith("?"):
        if missing:
            why = substitute(arg, env) or "is not set"
            raise InterpolationError(f"required variable {name} is missing a value: {why}")
        return value or "", name, None, False
    # `+`: the alternative when set
    return (substitute(arg, env) if not missing else ""), name, None, False


# ------------------------------------------------------------------------- .env


def read_env_file(path: Path) -> dict[str, str]:
    """Values of a `.env` as compose v1 reads it (python-dotenv, with ${} expansion)."""
    from dotenv import dotenv_values

    values = dotenv_values(dotenv_path=path, encoding="utf-8-sig", interpolate=True)
    return {k: (v if v is not None else "") for k, v in values.items()}


_ENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=")


def env_file_line(path: Path, name: str) -> int | None:
    """1-based line of the (last) definition of `name` in a `.env`, or None."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except OSError:
        return None
    found = None
    for i, line in enumerate(lines, 1):
        m = _ENV_LINE.match(line)
        if m and m.group(1) == name:
            found = i
    return found


def project_environment(
    project_dir: Path, env: Mapping[str, str] | None = None
) -> tuple[dict[str, str], Path | None, dict[str, str]]:
    """(effective environment, the .env path if present, the .env values alone).

    The process environment (or `env`) wins over `.env`, as compose does.
    """
    process = dict(os.environ if env is None else env)
    env_path = project_dir / ".env"
    dot: dict[str, str] = {}
    if env_path.is_file():
        dot = read_env_file(env_path)
    else:
        env_path = None  # type: ignore[assignment]
    return {**dot, **process}, env_path, dot
