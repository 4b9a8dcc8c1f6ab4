"""Keycloak live mode: upsert a realm's clients through the Admin REST API (httpx).

Realm import only runs on Keycloak's first start and skips a realm that already
exists, so when Keycloak is running and admin credentials are given, portside
creates or updates the clients directly:

    POST /realms/master/protocol/openid-connect/token      (admin-cli, password grant)
    GET  /admin/realms/{realm}                              (404: POST /admin/realms)
    GET  /admin/realms/{realm}/clients?clientId=...         ([]: POST, else PUT .../clients/{id})
    GET/POST /admin/realms/{realm}/clients/{id}/roles       (missing client roles are added)
    GET/POST /admin/realms/{realm}/clients/{id}/protocol-mappers/models (the roles mapper)

Only tested against a local HTTP server that speaks these endpoints; not
against a real Keycloak (the README says so).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx


class KeycloakError(Exception):
    pass


class KeycloakAdmin:
    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        timeout: float = 10.0,
        verify: bool | str = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base = base_url.rstrip("/")
        self._client = httpx.Client(timeout=timeout, verify=verify, transport=transport)
        self._user, self._password = username, password
        self._token: str | None = None

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> KeycloakAdmin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ http

    def token(self) -> str:
        r = self._client.post(
            f"{self.base}/realms/master/protocol/openid-connect/token",
            data={"grant_type": "password", "client_id": "admin-cli",
                  "username": self._user, "password": self._password},
        )
        if r.status_code != 200:
            raise KeycloakError(f"admin login failed: HTTP {r.status_code} (check the admin user/password)")
        try:
            self._token = str(r.json()["access_token"])
        except (ValueError, KeyError):
            raise KeycloakError("admin login: the token endpoint answered without access_token") from None
        return self._token

    def _req(self, method: str, path: str, **kw: Any) -> httpx.Response:
        if self._token is None:
            self.token()
        r = self._client.request(method, f"{self.base}/admin{path}",
                                 headers={"Authorization": f"Bearer {self._token}"}, **kw)
        if r.status_code == 401:  # token expired: log in once more
            self.token()
            r = self._client.request(method, f"{self.base}/admin{path}",
                                     headers={"Authorization": f"Bearer {self._token}"}, **kw)
        return r

    def _ok(self, r: httpx.Response, what: str) -> httpx.Response:
        if r.status_code >= 400:
            raise KeycloakError(f"{what}: HTTP {r.status_code} {r.text[:200]}")
        return r

    # -------------------------------------------------------------- upserts

    def find_client(self, realm: str, client_id: str) -> dict[str, Any] | None:
        r = self._req("GET", f"/realms/{quote(realm)}/clients", params={"clientId": client_id})
        found = self._ok(r, f"find client {client_id}").json()
        return found[0] if found else None

    def ensure_realm(self, realm: str, extra: dict[str, Any] | None = None) -> str:
        """Create the realm when missing; update `extra` top-level keys (e.g. smtpServer) when given."""
        r = self._req("GET", f"/realms/{quote(realm)}")
        if r.status_code == 404:
            self._ok(self._req("POST", "/realms", json={"realm": realm, "enabled": True, **(extra or {})}),
                     f"create realm {realm}")
            return f"created realm {realm}"
        self._ok(r, f"read realm {realm}")
        current = r.json()
        if extra and any(current.get(k) != v for k, v in extra.items()):
            self._ok(self._req("PUT", f"/realms/{quote(realm)}", json={**extra}), f"update realm {realm}")
            return f"updated realm {realm}"
        return f"realm {realm} unchanged"

    def upsert_client(self, realm: str, rep: dict[str, Any], roles: list[str]) -> str:
        """Create or update one client (by clientId), its client roles and its roles mapper."""
        cid = rep["clientId"]
        base = f"/realms/{quote(realm)}/clients"
        found = self._ok(self._req("GET", base, params={"clientId": cid}), f"find client {cid}").json()
        body = {k: v for k, v in rep.items() if k != "protocolMappers"}
        if not found:
            self._ok(self._req("POST", base, json=rep), f"create client {cid}")
            found = self._ok(self._req("GET", base, params={"clientId": cid}), f"find client {cid}").json()
            if not found:
                raise KeycloakError(f"client {cid} was created but cannot be found")
            verb = "created"
        else:
            cur = found[0]
            changed = any(cur.get(k) != v for k, v in body.items() if k != "secret")
            secret_r = self._req("GET", f"{base}/{cur['id']}/client-secret")
            if secret_r.status_code == 200 and secret_r.json().get("value") != rep.get("secret"):
                changed = True
            if changed:
                self._ok(self._req("PUT", f"{base}/{cur['id']}", json={**body, "id": cur["id"]}),
                         f"update client {cid}")
            verb = "updated" if changed else "unchanged"
        uuid = found[0]["id"]
        have = {x["name"] for x in self._ok(self._req("GET", f"{base}/{uuid}/roles"), "list roles").json()}
        for name in roles:
            if name not in have:
                self._ok(self._req("POST", f"{base}/{uuid}/roles", json={"name": name}), f"add role {name}")
                verb = "updated" if verb == "unchanged" else verb
        mappers = self._ok(self._req("GET", f"{base}/{uuid}/protocol-mappers/models"), "list mappers").json()
        names = {m.get("name") for m in mappers}
        for m in rep.get("protocolMappers", []):
            if m["name"] not in names:
                self._ok(self._req("POST", f"{base}/{uuid}/protocol-mappers/models", json=m), "add mapper")
                verb = "updated" if verb == "unchanged" else verb
        return f"{verb} client {cid}"


def upsert_realm(
    admin: KeycloakAdmin, realm_doc: dict[str, Any]
) -> list[str]:
    """Apply a realm import document (as `sso_gen.realm_import` builds it) live."""
    realm = realm_doc["realm"]
    extra = {"smtpServer": realm_doc["smtpServer"]} if "smtpServer" in realm_doc else None
    out = [admin.ensure_realm(realm, extra)]
    client_roles = realm_doc.get("roles", {}).get("client", {})
    for rep in realm_doc.get("clients", []):
        roles = [r["name"] for r in client_roles.get(rep["clientId"], [])]
        out.append(admin.upsert_client(realm, rep, roles))
    return out
