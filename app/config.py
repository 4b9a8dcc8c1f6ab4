"""portside.yaml: the user's configuration, validated by pydantic.

Lookup order: `--config`, `$PORTSIDE_CONFIG`, `./portside.yaml`, then
`$XDG_CONFIG_HOME/portside/config.yaml` (`~/.config/portside/config.yaml`).
No file found means defaults. A bad file raises `ConfigError` whose message is
one line naming the file, the line, the key path and what was expected.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from portside.app.errors import ConfigError

Port = Annotated[int, Field(ge=1, le=65535)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class PortRange(Strict):
    start: Port = Field(8000, description="First port the allocator may hand out.")
    end: Port = Field(9000, description="Last port (inclusive) the allocator may hand out.")

    @model_validator(mode="after")
    def _ordered(self) -> PortRange:
        if self.end < self.start:
            raise ValueError(f"end ({self.end}) must not be below start ({self.start})")
        return self

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and self.start <= port <= self.end


class HealthCheck(Strict):
    name: str = Field(description="Target name shown in the Health screen.")
    url: str | None = Field(None, description="HTTP(S) URL to poll.")
    tcp: str | None = Field(None, description="host:port for a TCP connect check.")
    expect_status: int = Field(200, ge=100, le=599)
    body_contains: str | None = None
    interval: float = Field(15.0, gt=0)
    timeout: float = Field(5.0, gt=0)

    @model_validator(mode="after")
    def _one_target(self) -> HealthCheck:
        if bool(self.url) == bool(self.tcp):
            raise ValueError("give exactly one of url or tcp")
        return self


class Notifications(Strict):
    webhooks: list[str] = Field(default_factory=list, description="URLs that get a JSON POST per event.")
    ntfy: list[str] = Field(default_factory=list, description="ntfy topic URLs (https://ntfy.sh/mytopic).")
    events: list[str] = Field(
        default_factory=lambda: ["health-changed", "port-remapped", "integration-applied"],
        description="Which event kinds are sent.",
    )


class HealthOptions(Strict):
    interval: float = Field(15.0, gt=0, description="Seconds between polls of one target.")
    timeout: float = Field(5.0, gt=0, description="Per-request timeout in seconds.")
    concurrency: int = Field(50, ge=1, le=1000, description="Requests in flight at once.")
    max_body_bytes: int = Field(65536, ge=0, description="Bytes read from a response body at most.")
    slow_ms: float = Field(1000.0, gt=0, description="Latency above which a target is degraded.")
    retention_days: float = Field(7.0, gt=0, description="How long health samples are kept.")
    checks: list[HealthCheck] = Field(default_factory=list)


class Config(Strict):
    """Top level of portside.yaml."""

    stacks: list[str] = Field(
        default_factory=list,
        description="Directories or globs of compose projects to watch (~ and $VARS expand).",
    )
    port_range: PortRange = Field(default_factory=PortRange.model_construct)  # defaults: valid as written
    reserved_ports: list[Port] = Field(default_factory=list, description="Ports never handed out.")
    pinned: list[str] = Field(
        default_factory=list, description="project/service entries whose ports never move."
    )
    allocation: Literal["lowest-free", "same-last-digits"] = Field(
        "lowest-free", description="How the allocator picks a free port."
    )
    rootless: bool | None = Field(
        None, description="Rootless Docker (ports < 1024 need extra setup); None: detect."
    )
    integrations: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Per-integration settings, keyed by kind (email, mqtt, ...)."
    )
    health: HealthOptions = Field(default_factory=HealthOptions.model_construct)  # defaults: valid as written
    notifications: Notifications = Field(default_factory=Notifications.model_construct)  # defaults: valid as written
    keymap: dict[str, str] = Field(
        default_factory=dict, description="Binding id -> key(s), e.g. {remap: 'ctrl+r'}."
    )
    decisions_log: str | None = Field(
        None, description="Also append decisions to this plain-text file."
    )
    symlinks_outside_stacks: Literal["refuse", "allow"] = Field(
        "refuse", description="Edit a symlinked compose/.env file whose target lies outside the watched stacks."
    )

    @field_validator("pinned")
    @classmethod
    def _pinned_shape(cls, v: list[str]) -> list[str]:
        for item in v:
            if "/" not in item:
                raise ValueError(f"'{item}' should be project/service")
        return v

    _source_path: Path | None = PrivateAttr(None)

    @property
    def source_path(self) -> Path | None:
        """The file this config was read from (None: built-in defaults)."""
        return self._source_path


# ------------------------------------------------------------------------ loading


def candidate_paths(explicit: str | None = None) -> list[tuple[Path, bool]]:
    """Paths to try in order, with whether a missing file is an error."""
    if explicit:
        return [(Path(explicit).expanduser(), True)]
    env = os.environ.get("PORTSIDE_CONFIG")
    if env:
        return [(Path(env).expanduser(), True)]
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return [(Path("portside.yaml"), False), (Path(xdg) / "portside" / "config.yaml", False)]


def find_config(explicit: str | None = None) -> Path | None:
    for path, required in candidate_paths(explicit):
        if path.is_file():
            return path
        if required:
            raise ConfigError(f"{path}: config file not found (check --config / $PORTSIDE_CONFIG)")
    return None


def load_config(explicit: str | None = None) -> Config:
    path = find_config(explicit)
    if path is None:
        return Config.model_construct()  # the defaults, valid by construction: no schema to build
    return parse_config(path.read_text(encoding="utf-8"), path)


def parse_config(text: str, path: Path) -> Config:
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}{where}: not valid YAML ({problem}); fix the syntax") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: the top level must be a mapping of keys (stacks:, port_range:, ...)")
    try:
        cfg = Config.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = [str(p) for p in err["loc"]]
        line = _line_of(root, loc)
        key = ".".join(loc) or "(top level)"
        raise ConfigError(f"{path}:{line}: {key}: {_explain(err)}") from None
    cfg._source_path = path
    return cfg


def _explain(err: Any) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return "unknown key; remove it or check its spelling (see README: Configuration)"
    msg = re.sub(r"^Value error, ", "", err["msg"])
    if kind in ("less_than_equal", "greater_than_equal") and "65535" in msg + str(err.get("ctx")):
        return f"{msg} (got {err.get('input')!r}; ports are 1-65535)"
    return f"{msg} (got {err.get('input')!r})"


def _line_of(node: Any, loc: list[str]) -> int:
    """Best line number (1-based) for a pydantic error location in the YAML node tree."""
    line = (node.start_mark.line + 1) if node is not None else 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if str(key.value) == part:
                    line, node = key.start_mark.line + 1, value
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and part.isdigit() and int(part) < len(node.value):
            node = node.value[int(part)]
            line = node.start_mark.line + 1
        else:
            return line
    return line


# ------------------------------------------------------------------------ secrets

_ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


def resolve_secret(value: str | None, *, where: str = "config") -> str | None:
    """A secret value may be literal, `${ENV_VAR}`, or `file:/path/to/secret`."""
    if value is None:
        return None
    m = _ENV_REF.match(value)
    if m:
        if m.group(1) not in os.environ:
            raise ConfigError(f"{where}: environment variable {m.group(1)} is not set")
        return os.environ[m.group(1)]
    if value.startswith("file:"):
        p = Path(value[5:]).expanduser()
        try:
            return p.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{where}: cannot read secret file {p} ({exc.strerror})") from None
    return value


def redact(value: object) -> str:
    return "********" if value else ""
