"""Minimal text edits of compose files and `.env` files (pure: text in, text out).

A port edit changes exactly the characters of the port: comments, quoting,
indentation and ordering survive, and `git diff` shows one changed line. The
position comes from `PortOrigin` (1-based line and column of the text as
written), and the edit refuses when the text found there is not what the
parser saw (the file changed since).
"""

from __future__ import annotations

import re


class EditError(ValueError):
    """The text at the recorded position is not what was expected."""


def port_text(port: int, port_end: int | None = None) -> str:
    return f"{port}-{port_end}" if port_end is not None and port_end != port else str(port)


def _offset(text: str, line: int, column: int) -> int:
    starts = [0] + [m.end() for m in re.finditer(r"\n", text)]
    if not 1 <= line <= len(starts):
        raise EditError(f"line {line} is beyond the end of the file")
    return starts[line - 1] + column - 1


def replace_at(text: str, line: int, column: int, old: str, new: str) -> str:
    """Replace `old` found at 1-based (line, column) with `new`; nothing else changes."""
    at = _offset(text, line, column)
    found = text[at : at + len(old)]
    if found != old:
        raise EditError(f"line {line} column {column}: expected {old!r}, found {found!r}; the file changed")
    return text[:at] + new + text[at + len(old) :]


def replace_many(text: str, edits: list[tuple[int, int, str, str]]) -> str:
    """Several `replace_at` edits in one file (applied from the end so positions stay valid)."""
    for line, column, old, new in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        text = replace_at(text, line, column, old, new)
    return text


def replace_default(text: str, line: int, column: int, expr: str, new_default: str) -> str:
    """Change the default inside `${VAR:-default}` at (line, column) (when no .env should be touched)."""
    m = re.fullmatch(r"(\$\{[A-Za-z_][A-Za-z0-9_]*:?-)(.*)\}", expr, re.S)
    if not m:
        raise EditError(f"{expr!r} has no default to change")
    return replace_at(text, line, column, expr, f"{m.group(1)}{new_default}}}")


# ----------------------------------------------------------------------- .env

_DEF = re.compile(r"^(?P<lead>\s*(?:export\s+)?)(?P<name>[A-Za-z_][A-Za-z0-9_.]*)(?P<eq>\s*=\s*)(?P<rest>.*)$")


def env_value_span(rest: str) -> tuple[int, int, str]:
    """(start, end, quote) of the value in the part after `=` (quotes and a trailing comment excluded)."""
    if rest[:1] in ("'", '"'):
        q = rest[0]
        i = 1
        while i < len(rest):
            if rest[i] == "\\" and q == '"':
                i += 2
                continue
            if rest[i] == q:
                return 1, i, q
            i += 1
        return 1, len(rest), q
    m = re.search(r"\s+#", rest)
    end = m.start() if m else len(rest.rstrip())
    return 0, end, ""


def set_env_var(text: str | None, name: str, value: str, *, old_text: str | None = None) -> str:
    """Set `name` in a `.env` text (None: the file does not exist yet).

    An existing (last) definition keeps its quoting, `export` and trailing comment;
    when `old_text` is given only that substring of the value is replaced (a
    variable holding `8080:80` keeps its `:80`). A missing variable is appended.
    """
    text = text or ""
    lines = text.splitlines(keepends=True)
    for i in range(len(lines) - 1, -1, -1):
        body = lines[i].rstrip("\r\n")
        m = _DEF.match(body)
        if not m or m.group("name") != name:
            continue
        rest = m.group("rest")
        s, e, _q = env_value_span(rest)
        current = rest[s:e]
        if old_text is not None and old_text in current and old_text != current:
            new_value = current.replace(old_text, value, 1)
        else:
            new_value = value
        new_body = m.group("lead") + name + m.group("eq") + rest[:s] + new_value + rest[e:]
        lines[i] = new_body + lines[i][len(body) :]
        return "".join(lines)
    if text and not text.endswith("\n"):
        text += "\n"
    return f"{text}{name}={value}\n"
