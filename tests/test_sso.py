"""SSO (Keycloak OIDC): realm import, consumer settings in their documented form, and
the live Admin-REST upsert against a local HTTP server that speaks the endpoints used
(no Keycloak is available here; the README says what that does and does not prove)."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from portside.integrators.keycloak_api import KeycloakAdmin, KeycloakError, upsert_realm
from portside.integrators.sso_gen import (
    CONSUMERS,
    Client,
    Endpoints,
    Roles,
    Target,
    User,
    consumer_config,
    realm_import,
    smtp_server,
)

EP = Endpoints("https://auth.example.test", "home")


def clients() -> list[Client]:
    return [
        Client("grafana", "grafana", "https://grafana.example.test", "g-secret"),
        Client("gitea", "gitea", "https://git.example.test", "t-secret"),
    ]


def test_realm_import_clients_roles_smtp_users() -> None:
    smtp = smtp_server({"host": "mail.example.test", "port": 587, "user": "u", "password": "p",
                        "security": "starttls", "from_address": "noreply@example.test", "from_name": "Home"})
    doc = realm_import("home", clients(), Roles(), smtp=smtp,
                       users=[User("alice", "alice@example.test", "admin", "pw")])
    doc = json.loads(json.dumps(doc))
    by_id = {c["clientId"]: c for c in doc["clients"]}
    g = by_id["grafana"]
    assert g["protocol"] == "openid-connect" and g["standardFlowEnabled"] is True
    assert g["secret"] == "g-secret" and g["publicClient"] is False
    assert g["redirectUris"] == ["https://grafana.example.test/login/generic_oauth"]
    assert g["webOrigins"] == ["https://grafana.example.test"]
    assert by_id["gitea"]["redirectUris"] == ["https://git.example.test/user/oauth2/keycloak/callback"]
    mapper = g["protocolMappers"][0]
    assert mapper["protocolMapper"] == "oidc-usermodel-client-role-mapper"
    assert mapper["config"]["claim.name"] == "roles"
    assert mapper["config"]["usermodel.clientRoleMapping.clientId"] == "grafana"
    assert [r["name"] for r in doc["roles"]["client"]["grafana"]] == ["admin", "editor", "viewer"]
    assert doc["smtpServer"] == {
        "host": "mail.example.test", "port": "587", "from": "noreply@example.test", "fromDisplayName": "Home",
        "ssl": "false", "starttls": "true", "auth": "true", "user": "u", "password": "p",
    }
    assert doc["users"][0]["clientRoles"] == {"gitea": ["admin"], "grafana": ["admin"]}
    assert smtp_server(None) is None


def test_consumer_settings_in_documented_form() -> None:
    g = consumer_config(clients()[0], EP, Roles())
    assert g.env["GF_AUTH_GENERIC_OAUTH_AUTH_URL"] == "https://auth.example.test/realms/home/protocol/openid-connect/auth"
    assert g.env["GF_AUTH_GENERIC_OAUTH_TOKEN_URL"].endswith("/realms/home/protocol/openid-connect/token")
    assert g.env["GF_AUTH_GENERIC_OAUTH_API_URL"].endswith("/realms/home/protocol/openid-connect/userinfo")
    assert g.env["GF_SERVER_ROOT_URL"] == "https://grafana.example.test/"
    assert "contains(roles[*], 'admin') && 'Admin'" in g.env["GF_AUTH_GENERIC_OAUTH_ROLE_ATTRIBUTE_PATH"]
    assert g.secret_env == {"GF_AUTH_GENERIC_OAUTH_CLIENT_SECRET": "g-secret"}
    assert "CLIENT_SECRET" not in "".join(g.env)

    t = consumer_config(clients()[1], EP, Roles(), target=Target("stack", "gitea", "stack-gitea-1"))
    assert t.script and "docker compose -p stack exec -T -e PORTSIDE_OIDC_SECRET -u git gitea sh -c" in t.script
    assert "--auto-discover-url https://auth.example.test/realms/home/.well-known/openid-configuration" in t.script
    assert clients()[1].secret not in t.script and t.secret_file == clients()[1].secret + "\n"

    nc = consumer_config(Client("nextcloud", "nextcloud", "https://cloud.example.test", "s"), EP, Roles())
    assert nc.script and "occ user_oidc:provider" in nc.script and "--discoveryuri=" in nc.script
    o = consumer_config(Client("outline", "outline", "https://wiki.example.test", "s"), EP, Roles())
    assert {"OIDC_CLIENT_ID", "OIDC_AUTH_URI", "OIDC_TOKEN_URI", "OIDC_USERINFO_URI", "OIDC_DISPLAY_NAME", "OIDC_SCOPES"} <= set(o.env)
    v = consumer_config(Client("vaultwarden", "vaultwarden", "https://vault.example.test", "s"), EP, Roles())
    assert v.env["SSO_AUTHORITY"] == "https://auth.example.test/realms/home" and v.secret_env == {"SSO_CLIENT_SECRET": "s"}
    p = consumer_config(Client("portainer", "portainer", "https://portainer.example.test", "s"), EP, Roles())
    assert p.env == {} and p.steps and "Settings > Authentication > OAuth" in p.steps
    assert CONSUMERS["n8n"].support == "unsupported"
    with pytest.raises(ValueError):
        consumer_config(Client("n8n", "n8n", "https://n8n.example.test", "s"), EP, Roles())


# ------------------------------------------------------------ live mode (fake server)


class FakeKeycloak:
    """An in-memory server for the Admin REST endpoints keycloak_api uses."""

    def __init__(self) -> None:
        self.realms: dict[str, dict[str, Any]] = {"master": {"rep": {"realm": "master"}, "clients": {}}}
        self.token = uuid.uuid4().hex
        self.log: list[str] = []

    def handler(self) -> type[BaseHTTPRequestHandler]:
        kc = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def _send(self, code: int, body: Any = None) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_POST(self) -> None:
                self._dispatch("POST")

            def do_GET(self) -> None:
                self._dispatch("GET")

            def do_PUT(self) -> None:
                self._dispatch("PUT")

            def _dispatch(self, method: str) -> None:
                u = urlparse(self.path)
                parts = [p for p in u.path.split("/") if p]
                raw = self._body()
                kc.log.append(f"{method} {u.path}")
                if parts == ["realms", "master", "protocol", "openid-connect", "token"]:
                    form = parse_qs(raw.decode())
                    ok = form.get("client_id") == ["admin-cli"] and form.get("username") == ["admin"] \
                        and form.get("password") == ["admin-pw"] and form.get("grant_type") == ["password"]
                    return self._send(200, {"access_token": kc.token}) if ok else self._send(401, {"error": "invalid_grant"})
                if len(parts) == 4 and parts[0] == "realms" and parts[2:] == [".well-known", "openid-configuration"]:
                    if parts[1] not in kc.realms:
                        return self._send(404)
                    return self._send(200, {"issuer": f"http://{self.headers['Host']}/realms/{parts[1]}"})
                if parts[:1] != ["admin"] or self.headers.get("Authorization") != f"Bearer {kc.token}":
                    return self._send(401)
                body = json.loads(raw) if raw else None
                rest = parts[2:]
                if rest == [] and method == "POST":
                    if body["realm"] in kc.realms:
                        return self._send(409)
                    kc.realms[body["realm"]] = {"rep": body, "clients": {}}
                    return self._send(201)
                realm = kc.realms.get(rest[0])
                if realm is None:
                    return self._send(404, {"error": "Realm not found."})
                if len(rest) == 1:
                    if method == "PUT":
                        realm["rep"].update(body)
                        return self._send(204)
                    return self._send(200, realm["rep"])
                clients = realm["clients"]
                if rest[1:] == ["clients"]:
                    if method == "GET":
                        want = parse_qs(u.query).get("clientId", [None])[0]
                        return self._send(200, [c["rep"] for c in clients.values() if want in (None, c["rep"]["clientId"])])
                    cid = uuid.uuid4().hex
                    rep = {k: v for k, v in body.items() if k != "protocolMappers"}
                    clients[cid] = {"rep": {**rep, "id": cid}, "secret": body.get("secret"),
                                    "roles": [], "mappers": list(body.get("protocolMappers", []))}
                    return self._send(201)
                c = clients.get(rest[2])
                if c is None:
                    return self._send(404)
                tail = rest[3:]
                if tail == [] and method == "PUT":
                    c["rep"] = {k: v for k, v in body.items() if k not in ("secret",)}
                    c["secret"] = body.get("secret", c["secret"])
                    return self._send(204)
                if tail == ["client-secret"]:
                    return self._send(200, {"type": "secret", "value": c["secret"]})
                if tail == ["roles"]:
                    if method == "GET":
                        return self._send(200, [{"name": n} for n in c["roles"]])
                    c["roles"].append(body["name"])
                    return self._send(201)
                if tail == ["protocol-mappers", "models"]:
                    if method == "GET":
                        return self._send(200, c["mappers"])
                    c["mappers"].append(body)
                    return self._send(201)
                return self._send(404)

        return H


@pytest.fixture
def fake_keycloak() -> Iterator[tuple[str, FakeKeycloak]]:
    kc = FakeKeycloak()
    server = ThreadingHTTPServer(("127.0.0.1", 0), kc.handler())
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", kc
    finally:
        server.shutdown()
        server.server_close()


def test_live_upsert_creates_realm_clients_roles_then_is_idempotent(fake_keycloak) -> None:
    url, kc = fake_keycloak
    doc = realm_import("home", clients(), Roles(), smtp=smtp_server({"host": "mail", "port": 25, "security": "none"}))
    with KeycloakAdmin(url, "admin", "admin-pw") as admin:
        assert upsert_realm(admin, doc) == ["created realm home", "created client gitea", "created client grafana"]
    realm = kc.realms["home"]
    assert realm["rep"]["smtpServer"]["host"] == "mail"
    by_id = {c["rep"]["clientId"]: c for c in realm["clients"].values()}
    assert by_id["grafana"]["secret"] == "g-secret"
    assert by_id["grafana"]["rep"]["redirectUris"] == ["https://grafana.example.test/login/generic_oauth"]
    assert sorted(by_id["grafana"]["roles"]) == ["admin", "editor", "viewer"]
    assert by_id["grafana"]["mappers"][0]["config"]["claim.name"] == "roles"

    # a second run changes nothing; a changed URL or secret updates the existing client (no duplicate)
    with KeycloakAdmin(url, "admin", "admin-pw") as admin:
        assert upsert_realm(admin, doc) == ["realm home unchanged", "unchanged client gitea", "unchanged client grafana"]
        moved = [Client("grafana", "grafana", "https://dash.example.test", "g-secret"), clients()[1]]
        out = upsert_realm(admin, realm_import("home", moved, Roles(), smtp=doc["smtpServer"]))
        assert out == ["realm home unchanged", "unchanged client gitea", "updated client grafana"]
    assert len(realm["clients"]) == 2
    by_id = {c["rep"]["clientId"]: c for c in realm["clients"].values()}
    assert by_id["grafana"]["rep"]["redirectUris"] == ["https://dash.example.test/login/generic_oauth"]


def test_live_upsert_refuses_bad_credentials(fake_keycloak) -> None:
    url, _kc = fake_keycloak
    with KeycloakAdmin(url, "admin", "wrong") as admin, pytest.raises(KeycloakError, match="admin login failed: HTTP 401"):
        upsert_realm(admin, realm_import("home", clients(), Roles()))
