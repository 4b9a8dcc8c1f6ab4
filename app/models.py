"""Domain models: the vocabulary of snapshots, plans, state and the JSON reports.

Pure pydantic, no I/O and no Textual. Field names are what users' scripts read
from `--json`, so they are chosen to be stable and self-explanatory.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum, StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


def utcnow() -> datetime:
    return datetime.now(UTC)


def plain(value: Any) -> Any:
    """`model.model_dump(mode="json")` without pydantic's serializer: models, enums, datetimes,
    lists and dicts become JSON values. The headless reports use it so that printing a snapshot
    never builds a schema (tests/test_models_plain.py holds it equal to model_dump)."""
    if isinstance(value, BaseModel):
        return {name: plain(getattr(value, name)) for name in type(value).model_fields}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value


class Frozen(BaseModel):
    # defer_build: a schema is built the first time a class validates, so headless
    # commands that only construct (never validate) engine answers never pay for it.
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


# --------------------------------------------------------------------------- ports


class Source(StrEnum):
    """Where a port binding was seen."""

    DOCKER = "docker"  # a container (running or stopped) publishes it
    SWARM = "swarm"  # a swarm service publishes it (ingress: every node)
    COMPOSE = "compose"  # a compose file on disk declares it
    HOST = "host"  # a non-Docker process listens on it
    REGISTRY = "registry"  # the registry assigns it (intended)
    RESERVED = "reserved"  # the config reserves it


class Protocol(StrEnum):
    TCP = "tcp"
    UDP = "udp"


class BindingState(StrEnum):
    RUNNING = "running"  # live container / swarm task publishing it
    STOPPED = "stopped"  # container exists but is not running
    DECLARED = "declared"  # compose file wants it; no container holds it yet
    LISTENING = "listening"  # host process holds it
    ASSIGNED = "assigned"  # registry entry
    RESERVED = "reserved"  # config reservation
    PROFILE_GATED = "profile-gated"  # compose service of a profile that is not active: taken only when enabled


class PortOrigin(Frozen):
    """Where a declared port number comes from, so a remap edits exactly that place.

    For a literal in a compose file: `file`, `line`, `column` (1-based) and `text`
    (the characters of the number as written). When the number comes from
    `${VAR}` interpolation: `file`/`line`/`column`/`text` locate the whole
    `${...}` expression in the compose file, `env_var` names the variable,
    `env_file` the `.env` that defines it (None when only a `${VAR:-default}`
    default exists or the process environment sets it) and `env_line` its line there.
    """

    file: str
    line: int
    column: int
    text: str
    env_var: str | None = None
    env_file: str | None = None
    env_line: int | None = None
    default: str | None = None  # the `:-default` / `-default` text, if any


class PortBinding(Frozen):
    """One claim on a host port (or range) by one owner."""

    source: Source
    owner: str  # stable id: "container:<name>", "compose:<project>/<service>", "pid:<n>", ...
    container: str | None = None
    container_id: str | None = None
    project: str | None = None
    service: str | None = None
    host_ip: str = "0.0.0.0"
    port: int = Field(ge=0, le=65535)
    port_end: int | None = Field(default=None, ge=0, le=65535)  # inclusive; None: single port
    target: int | None = None  # container-side port
    target_end: int | None = None
    protocol: Protocol = Protocol.TCP
    state: BindingState
    pid: int | None = None
    process: str | None = None
    origin: PortOrigin | None = None
    name: str | None = None  # registry key / long-syntax `name:`

    @property
    def last_port(self) -> int:
        return self.port_end if self.port_end is not None else self.port

    @property
    def is_wildcard(self) -> bool:
        return self.host_ip in ("", "0.0.0.0", "::", "*")

    def label(self) -> str:
        """Human label for the owner: `myproj/web`, `nginx (container)`, `python3 (pid 42)`."""
        if self.project and self.service:
            return f"{self.project}/{self.service}"
        if self.container:
            return self.container
        if self.process:
            return f"{self.process} (pid {self.pid})" if self.pid else self.process
        return self.owner

    def port_text(self) -> str:
        p = f"{self.port}-{self.port_end}" if self.port_end not in (None, self.port) else str(self.port)
        return f"{p}/{self.protocol.value}"


# ---------------------------------------------------------------------- containers


class HealthState(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"
    STARTING = "starting"
    UNKNOWN = "unknown"


class ContainerInfo(Frozen):
    id: str
    name: str
    image: str
    state: str  # docker's: running, exited, created, paused, restarting, dead
    status: str = ""  # docker's human text: "Up 3 minutes (healthy)"
    health: HealthState | None = None  # from HEALTHCHECK, None when it has none
    project: str | None = None
    service: str | None = None
    working_dir: str | None = None
    config_files: list[str] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)
    ports: list[PortBinding] = Field(default_factory=list)
    created: datetime | None = None

    @property
    def running(self) -> bool:
        return self.state in ("running", "restarting", "paused")


class SwarmService(Frozen):
    id: str
    name: str
    image: str
    mode: str = "replicated"  # replicated / global
    replicas: int | None = None
    running_tasks: int | None = None
    ports: list[PortBinding] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)


class ComposeService(Frozen):
    project: str
    service: str
    project_dir: str
    compose_files: list[str]
    image: str | None = None
    container_name: str | None = None
    ports: list[PortBinding] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)
    environment: dict[str, str] = Field(default_factory=dict)
    profiles: list[str] = Field(default_factory=list)  # `profiles:`; [] = always on


class ComposeProject(Frozen):
    name: str
    project_dir: str
    compose_files: list[str]
    env_file: str | None = None
    services: list[ComposeService] = Field(default_factory=list)
    profiles: list[str] = Field(default_factory=list)  # active (COMPOSE_PROFILES)
    warnings: list[str] = Field(default_factory=list)  # what Compose would warn about, with the fix


class SourceStatus(Frozen):
    ok: bool
    error: str | None = None
    detail: str | None = None  # e.g. "unix:///var/run/docker.sock (20.10.24)"


class Snapshot(Frozen):
    """The world at one instant. Analysis and plans are pure functions of this."""

    taken_at: datetime = Field(default_factory=utcnow)
    containers: list[ContainerInfo] = Field(default_factory=list)
    swarm_services: list[SwarmService] = Field(default_factory=list)
    projects: list[ComposeProject] = Field(default_factory=list)
    bindings: list[PortBinding] = Field(default_factory=list)
    sources: dict[str, SourceStatus] = Field(default_factory=dict)


# ----------------------------------------------------------------------- conflicts


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class ConflictKind(StrEnum):
    DECLARED_VS_LIVE = "declared-vs-live"
    DECLARED_VS_DECLARED = "declared-vs-declared"
    STOPPED_VS_LIVE = "stopped-vs-live"
    HOST_PROCESS = "host-process"
    SWARM_INGRESS = "swarm-ingress"
    REGISTRY_DRIFT = "registry-drift"
    RESERVED = "reserved"
    OUT_OF_RANGE = "out-of-range"
    PRIVILEGED = "privileged"


class Conflict(Frozen):
    kind: ConflictKind
    severity: Severity
    protocol: Protocol
    port: int
    port_end: int | None = None
    host_ip: str
    parties: list[PortBinding]
    message: str
    fix: str | None = None  # one line: what would resolve it

    @property
    def key(self) -> str:
        """Stable identity for tables and idempotent reports."""
        owners = ",".join(sorted(p.owner for p in self.parties))
        return f"{self.kind.value}|{self.protocol.value}|{self.host_ip}|{self.port}|{owners}"


# ---------------------------------------------------------------------------- plans


class FileEdit(Frozen):
    """Replace (or create) one file. `old_sha256` None means the file must not exist yet."""

    path: str
    old_sha256: str | None
    new_text: str
    mode: int | None = None  # e.g. 0o600 for secrets; None keeps the existing mode (0644 new)
    secret: bool = False  # never print the contents unredacted
    delete: bool = False  # remove the file instead (undo of a created file)
    description: str = ""
    uid: int | None = None  # owner for the container user that reads it (None keeps the existing owner)
    gid: int | None = None


class DockerActionKind(StrEnum):
    COMPOSE_UP = "compose-up"  # docker compose up -d <services>


class DockerAction(Frozen):
    kind: DockerActionKind
    project_dir: str
    compose_files: list[str] = Field(default_factory=list)
    services: list[str] = Field(default_factory=list)
    description: str = ""


def registry_key(project: str, service: str, target: int | str | None, protocol: str = "tcp") -> str:
    """Registry key of one service port: `project/service/target/protocol`."""
    return f"{project}/{service}/{target if target is not None else '-'}/{protocol}"


class PortMove(Frozen):
    """One binding moving from one host port to another (remap plans)."""

    owner: str
    project: str | None = None
    service: str | None = None
    target: int | None = None
    protocol: Protocol = Protocol.TCP
    old_port: int
    old_port_end: int | None = None
    new_port: int
    new_port_end: int | None = None
    reason: str = ""


class Plan(Frozen):
    kind: str  # "remap", "integration:<kind>", "undo"
    title: str
    reason: str = ""
    edits: list[FileEdit] = Field(default_factory=list)
    actions: list[DockerAction] = Field(default_factory=list)
    moves: list[PortMove] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.edits and not self.actions


# ------------------------------------------------------------------------ decisions


class Decision(Frozen):
    """An applied plan, as the audit log keeps it."""

    id: int | None = None
    at: datetime = Field(default_factory=utcnow)
    actor: str  # user@host
    kind: str
    title: str
    reason: str = ""
    moves: list[PortMove] = Field(default_factory=list)
    diff: str = ""
    files: list[str] = Field(default_factory=list)
    backups: dict[str, str | None] = Field(default_factory=dict)  # path -> backup (None: was new)
    hashes: dict[str, str | None] = Field(default_factory=dict)  # path -> sha256 after apply
    actions: list[str] = Field(default_factory=list)  # docker actions run, with their outcome
    undone_by: int | None = None
    status: str = "applied"  # pending (write-ahead, files being replaced) / applied / rolled-back


# --------------------------------------------------------------------- integrations


class IntegrationStatus(StrEnum):
    CONFIGURING = "configuring"
    ACTIVE = "active"
    INACTIVE = "inactive"
    ERROR = "error"
    DRIFTED = "drifted"


class WrittenFile(Frozen):
    path: str
    sha256: str
    secret: bool = False


class IntegrationRecord(Frozen):
    kind: str
    scope: str = "global"  # compose project name, or "global"
    status: IntegrationStatus = IntegrationStatus.CONFIGURING
    settings: dict[str, Any] = Field(default_factory=dict)  # secrets redacted
    files: list[WrittenFile] = Field(default_factory=list)
    health: str | None = None
    applied_at: datetime | None = None
    version: int = 0
    error: str | None = None


# --------------------------------------------------------------------------- health


class HealthSample(Frozen):
    target: str  # stable target id, e.g. "http:myproj/web" or "docker:<name>"
    status: HealthState
    at: datetime = Field(default_factory=utcnow)
    latency_ms: float | None = None
    error: str | None = None
    detail: str | None = None
