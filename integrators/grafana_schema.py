"""A pydantic model of Grafana's provisioning files (datasources and dashboard providers).

Written from Grafana's documentation ("Provision Grafana": data sources and
dashboards, apiVersion 1). Keys are Grafana's (camelCase), unknown keys are
refused, so a typo fails the round-trip test instead of being ignored by
Grafana at startup.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeleteDatasource(_M):
    name: str
    orgId: int = 1


class Datasource(_M):
    name: str
    type: str
    uid: str = Field(max_length=40, pattern=r"^[A-Za-z0-9_-]+$")
    access: Literal["proxy", "direct"] = "proxy"
    orgId: int = 1
    url: str | None = None
    user: str | None = None
    database: str | None = None
    basicAuth: bool | None = None
    basicAuthUser: str | None = None
    withCredentials: bool | None = None
    isDefault: bool = False
    jsonData: dict[str, Any] = Field(default_factory=dict)
    secureJsonData: dict[str, str] = Field(default_factory=dict)
    version: int | None = None
    editable: bool | None = None


class DatasourcesFile(_M):
    apiVersion: Literal[1]
    deleteDatasources: list[DeleteDatasource] = Field(default_factory=list)
    prune: bool | None = None
    datasources: list[Datasource] = Field(default_factory=list)

    @field_validator("datasources")
    @classmethod
    def _unique(cls, v: list[Datasource]) -> list[Datasource]:
        uids = [d.uid for d in v]
        if len(set(uids)) != len(uids):
            raise ValueError("datasource uids must be unique")
        if sum(d.isDefault for d in v) > 1:
            raise ValueError("only one datasource may be the default")
        return v


class ProviderOptions(_M):
    path: str
    foldersFromFilesStructure: bool | None = None


class DashboardProvider(_M):
    name: str
    orgId: int = 1
    folder: str = ""
    folderUid: str | None = None
    type: Literal["file"] = "file"
    disableDeletion: bool = False
    updateIntervalSeconds: int = 10
    allowUiUpdates: bool = False
    options: ProviderOptions


class DashboardsFile(_M):
    apiVersion: Literal[1]
    providers: list[DashboardProvider]
