"""The service catalog (integrators/catalog.yaml) and service discovery through it.

`entry_for(image, labels)` says what a service is (catalog entry by image
pattern, overridden/extended by `portside.*` labels); `services(snapshot)`
lists every compose service and standalone container as a `ServiceRef`,
merging a compose declaration with its container. No Textual import.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from functools import cache
from importlib.resources import files
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from portside.app.models import Snapshot
from portside.integrators.base import ServiceRef

LABEL_PREFIX = "portside."


class Endpoint(BaseModel):
    model_config = ConfigDict(extra="forbid")
    port: int | None = None
    path: str = "/"


class Consumption(BaseModel):
    """How a service takes one integration."""

    model_config = ConfigDict(extra="forbid")
    via: Literal["env", "file", "api", "ui"] = "env"
    documented: bool = False
    docs: str | None = None


class Entry(BaseModel):
    model_config = ConfigDict(extra="allow")  # integrator-specific keys (e.g. smtp: {port})
    id: str
    title: str
    images: list[str] = Field(default_factory=list)
    ports: list[int] = Field(default_factory=list)
    health: Endpoint | None = None
    metrics: Endpoint | None = None
    provides: list[str] = Field(default_factory=list)
    consumes: dict[str, Consumption] = Field(default_factory=dict)
    notes: str | None = None

    def extra(self, key: str) -> Any:
        return (self.model_extra or {}).get(key)


@cache
def catalog() -> dict[str, Entry]:
    """Every catalog entry by id (read once from the shipped YAML)."""
    text = files("portside.integrators").joinpath("catalog.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text) or {}
    return {sid: Entry(id=sid, **body) for sid, body in (data.get("services") or {}).items()}


def image_names(image: str) -> list[str]:
    """Names an image is matched by: `docker.io/library/nginx:1` -> ["nginx"]; registry kept and dropped."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)
    if ":" in last[-1]:
        name = name[: len(name) - len(last[-1])] + last[-1].split(":", 1)[0]
    for prefix in ("docker.io/", "index.docker.io/", "registry-1.docker.io/"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    if name.startswith("library/"):
        name = name[len("library/") :]
    out = [name]
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        out.append(rest)
    return out


def match_image(image: str | None) -> Entry | None:
    if not image:
        return None
    names = image_names(image)
    for entry in catalog().values():
        for pattern in entry.images:
            if any(fnmatchcase(n, pattern) for n in names):
                return entry
    return None


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def entry_for(image: str | None, labels: dict[str, str] | None = None) -> Entry | None:
    """The catalog entry for a service, with `portside.*` labels applied (None: unknown)."""
    labels = {k[len(LABEL_PREFIX) :]: v for k, v in (labels or {}).items() if k.startswith(LABEL_PREFIX)}
    labels = {k: v for k, v in labels.items() if not k.startswith("test")}  # the test rig's labels
    base = catalog().get(labels["catalog"]) if "catalog" in labels else None
    base = base or match_image(image)
    if base is None and not labels:
        return None
    data: dict[str, Any] = base.model_dump() if base else {"id": labels.get("catalog") or "custom", "title": ""}
    if "title" in labels:
        data["title"] = labels["title"]
    if "provides" in labels:
        data["provides"] = _csv(labels["provides"])
    if "consumes" in labels:
        given = _csv(labels["consumes"])
        data["consumes"] = {k: data.get("consumes", {}).get(k) or {"via": "env"} for k in given}
    port = int(labels["port"]) if labels.get("port", "").isdigit() else None
    if port is not None:
        data["ports"] = [port, *[p for p in data.get("ports", []) if p != port]]
    for key in ("health", "metrics"):
        if key in labels:
            data[key] = {"port": port or (data.get("ports") or [None])[0], "path": labels[key]}
    # a label-only service counts when it says what it is, provides, consumes, or has metrics to scrape
    if base is None and not (data.get("provides") or data.get("consumes") or "catalog" in labels
                             or "metrics" in labels):
        return None
    data["title"] = data["title"] or data["id"]
    return Entry(**data)


def services(snapshot: Snapshot) -> list[ServiceRef]:
    """Every compose service (with its container, if any) and every standalone container."""
    out: list[ServiceRef] = []
    seen: set[tuple[str, str]] = set()
    by_key = {(c.project, c.service): c for c in snapshot.containers if c.project and c.service}
    for proj in snapshot.projects:
        for svc in proj.services:
            c = by_key.get((proj.name, svc.service))
            labels = {**(c.labels if c else {}), **svc.labels}
            image = svc.image or (c.image if c else None)
            seen.add((proj.name, svc.service))
            out.append(_ref(f"{proj.name}/{svc.service}", image, labels, proj.name, svc.service,
                            proj.project_dir, [b.port for b in svc.ports], c.name if c else None,
                            bool(c and c.running)))
    for c in snapshot.containers:
        if (c.project, c.service) in seen:
            continue
        name = f"{c.project}/{c.service}" if c.project and c.service else c.name
        out.append(_ref(name, c.image, c.labels, c.project, c.service, c.working_dir,
                        [b.port for b in c.ports], c.name, c.running))
    return out


def _ref(name: str, image: str | None, labels: dict[str, str], project: str | None,
         service: str | None, project_dir: str | None, ports: list[int], container: str | None,
         running: bool) -> ServiceRef:
    entry = entry_for(image, labels)
    return ServiceRef(
        name=name,
        catalog_id=entry.id if entry else None,
        project=project,
        service=service,
        project_dir=project_dir,
        image=image,
        ports=tuple(sorted(set(ports))),
        container=container,
        running=running,
        provides=tuple(entry.provides) if entry else (),
        consumes=tuple(entry.consumes) if entry else (),
        labels=tuple(sorted(labels.items())),
    )


def detect(snapshot: Snapshot, kind: str) -> tuple[list[ServiceRef], list[ServiceRef]]:
    """(providers, consumers) of integration `kind` among the stacks."""
    refs = services(snapshot)
    return [r for r in refs if kind in r.provides], [r for r in refs if kind in r.consumes]
