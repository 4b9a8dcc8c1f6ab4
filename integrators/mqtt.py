"""MQTT with Mosquitto 2: users with real PBKDF2 password hashes, per-user ACLs, TLS with a private CA.

Writes `mosquitto/` in the output dir: `mosquitto.conf`, `passwd`
(`user:$7$101$<salt>$<PBKDF2-HMAC-SHA512>`, exactly what `mosquitto_passwd`
writes), `acl`, `certs/ca.crt`, `certs/server.crt`, `certs/server.key`.
Passwords left empty are generated once; the hashes' salts, the CA and the
server certificate are kept in the state store so a re-run is a no-op. When
the project runs the eclipse-mosquitto image, the compose override mounts the
directory at /mosquitto/config (the image's entrypoint chowns it to the
`mosquitto` user, who must be able to read the 0600 files; for Debian's
mosquitto, `chown -R mosquitto: <dir>` once: portside keeps the owner).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import ssl
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from portside.app.models import Plan, Snapshot
from portside.integrators.base import (
    Check,
    Detection,
    PlanContext,
    container_user,
    file_edit,
    secret_field,
)
from portside.integrators.catalog import detect
from portside.integrators.override import override_edits
from portside.integrators.tls import Pem, cert_names, generate_ca, generate_server_cert

ITERATIONS = 101  # mosquitto_passwd's default for $7$
SALT_LEN = 12
CONTAINER_DIR = "/mosquitto/config"
_ACL = re.compile(r"^(read|write|readwrite|deny)\s+(\S.*)$")


def hash_password(password: str, salt: bytes | None = None) -> str:
    """Mosquitto 2 password hash: `$7$101$<b64 salt>$<b64 PBKDF2-HMAC-SHA512(password, salt, 101, 64)>`."""
    salt = salt if salt is not None else os.urandom(SALT_LEN)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, ITERATIONS, 64)
    return f"$7${ITERATIONS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def check_password(password: str, hashed: str) -> bool:
    parts = hashed.split("$")
    if len(parts) != 5 or parts[1] != "7":
        return False
    salt = base64.b64decode(parts[3])
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, int(parts[2]), 64)
    return hmac.compare_digest(base64.b64encode(digest).decode(), parts[4])


class MqttUser(BaseModel):
    name: str = Field(title="User", pattern=r"^[^:\s]+$", description="Login name (no ':' or spaces).")
    password: str | None = secret_field(None, title="Password", description="Empty: generated once and kept in the state store.")
    acl: list[str] = Field(default_factory=list, title="Topic ACL", description="Entries 'read|write|readwrite|deny <topic>' (wildcards + and # work).")

    @field_validator("acl")
    @classmethod
    def _acl(cls, v: list[str]) -> list[str]:
        for entry in v:
            if not _ACL.match(entry.strip()):
                raise ValueError(f"'{entry}' should be 'read|write|readwrite|deny <topic>'")
        return [e.strip() for e in v]


class MqttSettings(BaseModel):
    users: list[MqttUser] = Field(
        default_factory=lambda: [MqttUser(name="portside", acl=["readwrite #"])],
        title="Users", description="Users with their passwords and topic ACLs.", min_length=1,
    )
    plain_listener: bool = Field(True, title="Plain listener", description="Accept unencrypted MQTT (port below).")
    plain_port: int = Field(1883, ge=1, le=65535, title="Plain port")
    plain_localhost_only: bool = Field(True, title="Plain on localhost only", description="Bind the plain listener to 127.0.0.1 (default; other containers and hosts use TLS). Off: every interface, unencrypted.")
    tls_listener: bool = Field(True, title="TLS listener", description="Accept MQTT over TLS (port below).")
    tls_port: int = Field(8883, ge=1, le=65535, title="TLS port")
    cert_source: Literal["generate", "files"] = Field("generate", title="Certificates", description="generate: a private CA and a server certificate; files: use the files below.")
    hostnames: list[str] = Field(default_factory=lambda: ["localhost", "127.0.0.1"], title="Broker names", description="DNS names / IPs clients use (the server certificate's SANs; the broker's compose service name is added).")
    ca_file: str | None = Field(None, title="CA file", description="With certificates=files: the CA certificate (PEM).")
    cert_file: str | None = Field(None, title="Certificate file", description="With certificates=files: the server certificate (PEM).")
    key_file: str | None = Field(None, title="Key file", description="With certificates=files: the server key (PEM).")
    config_dir: str | None = Field(None, title="Broker config dir", description="Where the broker sees these files; default /mosquitto/config for the eclipse-mosquitto image, else the output dir.")
    verify_host: str = Field("127.0.0.1", title="Verify via", description="Host verify connects to (must be one of the broker names for TLS).")

    @field_validator("users")
    @classmethod
    def _unique(cls, v: list[MqttUser]) -> list[MqttUser]:
        names = [u.name for u in v]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"user names must be unique ({', '.join(sorted(dup))})")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> MqttSettings:
        if not (self.plain_listener or self.tls_listener):
            raise ValueError("enable the plain or the TLS listener (or both)")
        if self.plain_listener and self.tls_listener and self.plain_port == self.tls_port:
            raise ValueError("plain and TLS listeners need different ports")
        if self.tls_listener and self.cert_source == "files":
            missing = [n for n in ("ca_file", "cert_file", "key_file") if not getattr(self, n)]
            if missing:
                raise ValueError(f"certificates=files needs {', '.join(missing)}")
        if self.tls_listener and self.cert_source == "generate" and not self.hostnames:
            raise ValueError("give at least one broker name for the server certificate")
        return self


def render_acl(users: list[MqttUser]) -> str:
    lines = ["# Generated by portside (integration: mqtt). Per-user topic ACLs; anything not listed is denied.\n"]
    for u in users:
        lines.append(f"\nuser {u.name}\n")
        for entry in u.acl:
            access, topic = _ACL.match(entry).groups()  # type: ignore[union-attr]
            lines.append(f"topic {access} {topic}\n")
    return "".join(lines)


def render_conf(s: MqttSettings, conf_dir: str) -> str:
    out = [
        "# Generated by portside (integration: mqtt). Do not edit: re-run `portside integrate mqtt`.\n",
        "per_listener_settings false\n",
        "allow_anonymous false\n",
        f"password_file {conf_dir}/passwd\n",
        f"acl_file {conf_dir}/acl\n",
    ]
    if s.plain_listener:
        bind = " 127.0.0.1" if s.plain_localhost_only else ""
        out += ["\n# plain MQTT\n", f"listener {s.plain_port}{bind}\n", "protocol mqtt\n"]
    if s.tls_listener:
        out += [
            "\n# MQTT over TLS\n",
            f"listener {s.tls_port}\n",
            "protocol mqtt\n",
            f"cafile {conf_dir}/certs/ca.crt\n",
            f"certfile {conf_dir}/certs/server.crt\n",
            f"keyfile {conf_dir}/certs/server.key\n",
            "tls_version tlsv1.2\n",
        ]
    return "".join(out)


class MqttIntegrator:
    kind = "mqtt"
    title = "MQTT (Mosquitto)"
    Settings = MqttSettings

    def detect(self, snapshot: Snapshot) -> Detection:
        providers, consumers = detect(snapshot, "mqtt")
        return Detection(providers=providers, consumers=consumers)

    def _broker_service(self, snapshot: Snapshot, ctx: PlanContext) -> str | None:
        for p in self.detect(snapshot).providers:
            if p.project == ctx.scope and p.catalog_id == "mosquitto" and p.service:
                return p.service
        return None

    def passwords(self, s: MqttSettings, kept: dict[str, str]) -> dict[str, str]:
        """Each user's password: given, else kept, else generated."""
        return {u.name: u.password or kept.get(f"password:{u.name}") or secrets.token_urlsafe(18) for u in s.users}

    def plan(self, snapshot: Snapshot, settings: Any, ctx: PlanContext) -> tuple[Plan, dict[str, str]]:
        s: MqttSettings = settings
        kept = dict(ctx.secrets)
        keep: dict[str, str] = {}
        out = ctx.output_dir / "mosquitto"
        broker = self._broker_service(snapshot, ctx)
        if broker and broker not in s.hostnames:  # containers verify the broker by its service name
            s = s.model_copy(update={"hostnames": [*s.hostnames, broker]})
        owner = container_user("mosquitto") if broker else None  # the image's user reads them
        conf_dir = s.config_dir or (CONTAINER_DIR if broker else str(out))
        pw = self.passwords(s, kept)
        lines = []
        for u in s.users:
            if not u.password:
                keep[f"password:{u.name}"] = pw[u.name]
            old = kept.get(f"hash:{u.name}", "")
            hashed = old if old and check_password(pw[u.name], old) else hash_password(pw[u.name])
            keep[f"hash:{u.name}"] = hashed
            lines.append(f"{u.name}:{hashed}\n")
        edits = [  # never world-readable: Mosquitto 2.0 warns about (and will refuse) such passwd/acl files
            file_edit(out / "mosquitto.conf", render_conf(s, conf_dir), owner=owner, mode=0o640,
                      description="Mosquitto config"),
            file_edit(out / "passwd", "".join(lines), secret=True, owner=owner,
                      description="password file (PBKDF2-SHA512 hashes)"),
            file_edit(out / "acl", render_acl(s.users), owner=owner, mode=0o640, description="per-user topic ACLs"),
        ]
        warnings = [f"user {u.name} has no ACL entries: it can connect but not publish or subscribe"
                    for u in s.users if not u.acl]
        if s.tls_listener:
            ca, server = self._certs(s, kept, keep)
            edits += [
                file_edit(out / "certs" / "ca.crt", ca.cert, owner=owner, mode=0o644,
                          description="CA certificate (give it to clients)"),
                file_edit(out / "certs" / "server.crt", server.cert, owner=owner, description="server certificate"),
                file_edit(out / "certs" / "server.key", server.key, secret=True, owner=owner, description="server key"),
            ]
        if broker and ctx.project_dir is not None:
            rel = os.path.relpath(out, ctx.project_dir)
            edits += override_edits(ctx, self.kind, {}, {}, {broker: {"volumes": [f"./{rel}:{CONTAINER_DIR}"]}})
        listeners = [f"{s.plain_port}" if s.plain_listener else "", f"{s.tls_port}/tls" if s.tls_listener else ""]
        title = f"Mosquitto: {len(s.users)} user(s), listeners {' '.join(x for x in listeners if x)}"
        return Plan(kind="integration:mqtt", title=title, reason="broker with hashed passwords, ACLs and TLS",
                    edits=edits, warnings=warnings), keep

    def _certs(self, s: MqttSettings, kept: dict[str, str], keep: dict[str, str]) -> tuple[Pem, Pem]:
        if s.cert_source == "files":
            def read(p: str | None) -> str:
                return Path(os.path.expanduser(p or "")).read_text(encoding="utf-8")
            try:
                return Pem(read(s.ca_file), ""), Pem(read(s.cert_file), read(s.key_file))
            except OSError as exc:
                from portside.app.errors import ConfigError

                raise ConfigError(f"mqtt: cannot read certificate file {exc.filename} ({exc.strerror})") from None
        if kept.get("ca.crt") and kept.get("ca.key"):
            ca = Pem(kept["ca.crt"], kept["ca.key"])
        else:
            ca = generate_ca("portside MQTT CA")
        server = Pem(kept.get("server.crt", ""), kept.get("server.key", ""))
        if not server.cert or sorted(cert_names(server.cert)) != sorted(s.hostnames) or kept.get("ca.crt") != ca.cert:
            server = generate_server_cert(ca, list(s.hostnames))
        keep.update({"ca.crt": ca.cert, "ca.key": ca.key, "server.crt": server.cert, "server.key": server.key})
        return ca, server

    def verify(self, snapshot: Snapshot, settings: Any, ctx: PlanContext) -> list[Check]:
        s: MqttSettings = settings
        pw = self.passwords(s, ctx.secrets)
        user = next((u for u in s.users if any(_ACL.match(a).group(1) == "readwrite" for a in u.acl)), None)  # type: ignore[union-attr]
        if user is None:
            return [Check("user", False, "no user has a readwrite ACL entry to test with")]
        allowed = next(a for a in user.acl if a.startswith("readwrite"))
        topic = _concrete(_ACL.match(allowed).group(2))  # type: ignore[union-attr]
        tls = s.tls_listener
        port = s.tls_port if tls else s.plain_port
        ca = str(ctx.output_dir / "mosquitto" / "certs" / "ca.crt") if tls else None
        return mqtt_checks(s.verify_host, port, ca, user.name, pw[user.name], topic, _denied_topic(user))


def _concrete(pattern: str) -> str:
    parts = [("portside" if p == "+" else p) for p in pattern.split("/")]
    if parts and parts[-1] == "#":
        parts[-1:] = ["portside", "verify"]
    return "/".join(parts)


def _denied_topic(user: MqttUser) -> str | None:
    """A topic no ACL entry of `user` allows writing to (None when `#` allows everything)."""
    candidate = f"portside-denied-{uuid.uuid4().hex[:8]}/verify"
    for entry in user.acl:
        access, pattern = _ACL.match(entry).groups()  # type: ignore[union-attr]
        if access in ("write", "readwrite") and _topic_matches(pattern, candidate):
            return None
    return candidate


def _topic_matches(pattern: str, topic: str) -> bool:
    pp, tp = pattern.split("/"), topic.split("/")
    for i, p in enumerate(pp):
        if p == "#":
            return True
        if i >= len(tp) or (p != "+" and p != tp[i]):
            return False
    return len(pp) == len(tp)


def mqtt_checks(host: str, port: int, ca_file: str | None, user: str, password: str, topic: str,
                denied: str | None, timeout: float = 5.0) -> list[Check]:
    """Connect (TLS verifying `ca_file` when given), pub/sub on `topic`, refused on `denied`, wrong password refused."""
    import paho.mqtt.client as mqtt

    def client() -> Any:
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"portside-{uuid.uuid4().hex[:8]}",
                        protocol=mqtt.MQTTv5)
        if ca_file:
            c.tls_set(ca_certs=ca_file, cert_reqs=ssl.CERT_REQUIRED)
        return c

    def connect(c: Any, pw: str) -> tuple[bool, str]:
        done = threading.Event()
        result: dict[str, Any] = {}

        def on_connect(_c: Any, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
            result["rc"] = rc
            done.set()

        c.on_connect = on_connect
        c.username_pw_set(user, pw)
        try:
            c.connect(host, port, keepalive=10)
        except (OSError, ssl.SSLError) as exc:
            return False, f"{host}:{port}: {exc}"
        c.loop_start()
        if not done.wait(timeout):
            return False, f"{host}:{port}: no CONNACK within {timeout:.0f}s"
        rc = result["rc"]
        return (not rc.is_failure), str(rc)

    checks: list[Check] = []
    where = f"{host}:{port}{' (TLS, CA verified)' if ca_file else ''}"
    c = client()
    ok, detail = connect(c, password)
    checks.append(Check("connect", ok, f"{where} as {user}: {detail}"))
    if not ok:
        c.loop_stop()
        return checks
    try:
        got = threading.Event()
        acked: dict[int, Any] = {}
        pub_done = threading.Event()
        c.on_message = lambda _c, _u, m: got.set() if m.topic == topic else None

        def on_publish(_c: Any, _u: Any, mid: int, rc: Any, _p: Any) -> None:
            acked[mid] = rc
            pub_done.set()

        sub_done = threading.Event()
        c.on_publish = on_publish
        c.on_subscribe = lambda *_a: sub_done.set()
        c.subscribe(topic, qos=1)
        sub_done.wait(timeout)
        c.publish(topic, b"portside verify", qos=1)
        checks.append(Check("publish+receive", got.wait(timeout), f"on {topic}"))
        if denied is None:
            checks.append(Check("acl", True, f"{user} may publish anywhere ('#'): no denied topic to test"))
        else:
            info = c.publish(denied, b"portside verify", qos=1)
            deadline = time.monotonic() + timeout
            while info.mid not in acked and time.monotonic() < deadline:
                pub_done.wait(0.1)
                pub_done.clear()
            rc = acked.get(info.mid)
            refused = rc is not None and rc.is_failure
            checks.append(Check("acl", refused, f"publish to {denied}: {rc if rc is not None else 'no answer'}"))
    finally:
        c.disconnect()
        c.loop_stop()
    bad = client()
    ok, detail = connect(bad, password + "-wrong")
    bad.disconnect()
    bad.loop_stop()
    checks.append(Check("wrong password refused", not ok, detail))
    return checks
