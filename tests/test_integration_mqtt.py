"""MQTT integration against Debian's real mosquitto (subprocess on free ports) with paho-mqtt as client."""

from __future__ import annotations

import json
import re
import ssl
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from portside.app.config import Config
from portside.app.models import ComposeProject, ComposeService, Snapshot
from portside.app.state import State
from portside.integrators import engine
from portside.integrators.mqtt import MqttIntegrator, check_password, hash_password
from tests.conftest import free_port, require, wait_listening

ALICE_PW = "alice: $ecret ü"


@pytest.fixture
def broker_setup(tmp_path: Path) -> dict[str, Any]:
    plain, tls = free_port(), free_port()
    cfg = tmp_path / "portside.yaml"
    cfg.write_text(json.dumps({"integrations": {"mqtt": {
        "output_dir": str(tmp_path / "broker"),
        "plain_port": plain, "tls_port": tls, "plain_localhost_only": True,
        "users": [
            {"name": "alice", "password": ALICE_PW, "acl": ["readwrite sensors/#", "read alerts/#"]},
            {"name": "bob", "acl": ["readwrite bob/+"]},
        ],
    }}}))
    return {"config": str(cfg), "plain": plain, "tls": tls, "dir": tmp_path / "broker" / "mosquitto"}


@pytest.fixture
def mosquitto(broker_setup: dict[str, Any], cli: Any, spawn: Any) -> dict[str, Any]:
    require("mosquitto")
    code, out, err = cli("integrate", "mqtt", "--config", broker_setup["config"])
    assert code == 0, err
    conf = broker_setup["dir"] / "mosquitto.conf"
    # TEST-ONLY wrapper: root mosquitto drops to user `mosquitto`, which cannot enter pytest's 0700
    # tmp dir; the generated config itself is used unchanged below this line.
    test_conf = broker_setup["dir"].parent / "test-only.conf"
    test_conf.write_text("user root\nlog_dest stdout\n" + conf.read_text())
    proc = spawn("mosquitto", "-c", str(test_conf), port=broker_setup["tls"], timeout=10)
    wait_listening(broker_setup["plain"], proc, proc.log, timeout=10)
    return {**broker_setup, "proc": proc, "out": out}


class Client:
    def __init__(self, port: int, user: str, password: str, ca: Path | None) -> None:
        import paho.mqtt.client as mqtt

        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        if ca:
            self.c.tls_set(ca_certs=str(ca), cert_reqs=ssl.CERT_REQUIRED)
        self.c.username_pw_set(user, password)
        self.connected = threading.Event()
        self.messages: list[tuple[str, bytes]] = []
        self.got = threading.Event()
        self.acks: dict[int, Any] = {}
        self.acked = threading.Event()
        self.c.on_connect = lambda _c, _u, _f, rc, _p: (setattr(self, "rc", rc), self.connected.set())
        self.c.on_message = lambda _c, _u, m: (self.messages.append((m.topic, m.payload)), self.got.set())
        self.c.on_publish = lambda _c, _u, mid, rc, _p: (self.acks.__setitem__(mid, rc), self.acked.set())
        self.subscribed = threading.Event()
        self.c.on_subscribe = lambda *_a: self.subscribed.set()
        self.c.connect("localhost", port)
        self.c.loop_start()
        assert self.connected.wait(5)

    def publish(self, topic: str) -> Any:
        self.acked.clear()
        info = self.c.publish(topic, b"hello", qos=1)
        assert self.acked.wait(5)
        return self.acks[info.mid]

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def test_hash_matches_mosquitto_passwd(tmp_path: Path) -> None:
    require("mosquitto_passwd")
    pwfile = tmp_path / "pw"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(pwfile), "u", ALICE_PW], check=True)
    real = pwfile.read_text().strip().split(":", 1)[1]
    assert check_password(ALICE_PW, real) and not check_password("nope", real)
    import base64

    salt = base64.b64decode(real.split("$")[3])
    assert hash_password(ALICE_PW, salt) == real  # byte-identical to what mosquitto_passwd writes
    assert re.fullmatch(r"\$7\$101\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==", hash_password("x"))


def test_real_mosquitto_tls_acl_and_passwords(mosquitto: dict[str, Any], cli: Any, isolated_env: Path) -> None:
    d: Path = mosquitto["dir"]
    assert ALICE_PW not in mosquitto["out"]
    assert {p.name for p in d.iterdir()} == {"mosquitto.conf", "passwd", "acl", "certs"}
    for secret in (d / "passwd", d / "certs" / "server.key"):
        assert secret.stat().st_mode & 0o777 == 0o600
    assert "alice:$7$101$" in (d / "passwd").read_text() and ALICE_PW not in (d / "passwd").read_text()
    assert f"listener {mosquitto['plain']} 127.0.0.1" in (d / "mosquitto.conf").read_text()
    ca = d / "certs" / "ca.crt"

    alice = Client(mosquitto["tls"], "alice", ALICE_PW, ca)  # TLS, verifying the generated CA by name
    assert not alice.rc.is_failure
    try:
        alice.c.subscribe("sensors/#", qos=1)
        assert alice.subscribed.wait(5)
        assert not alice.publish("sensors/kitchen").is_failure
        assert alice.got.wait(5) and alice.messages == [("sensors/kitchen", b"hello")]
        denied = alice.publish("alerts/fire")  # read-only for alice
        assert denied.is_failure and denied.value == 0x87  # Not authorized
        assert alice.publish("elsewhere/x").value == 0x87
    finally:
        alice.close()

    wrong = Client(mosquitto["tls"], "alice", "wrong", ca)
    assert wrong.rc.is_failure
    wrong.close()

    # bob's password was generated and kept in the state store; it works on the plain listener
    with State(isolated_env) as st:
        bob_pw = st.integration_secrets("mqtt", "global")["password:bob"]
    bob = Client(mosquitto["plain"], "bob", bob_pw, None)
    assert not bob.rc.is_failure and not bob.publish("bob/x").is_failure
    bob.close()

    # a client that does not trust the CA is refused by its own TLS check
    other = Path(mosquitto["dir"]).parent / "other-ca.pem"
    from portside.integrators.tls import generate_ca

    other.write_text(generate_ca("stranger").cert)
    with pytest.raises(ssl.SSLError):
        Client(mosquitto["tls"], "alice", ALICE_PW, other)

    code, out, err = cli("verify", "mqtt", "--config", mosquitto["config"], "--json")
    report = json.loads(out)
    assert code == 0, report["checks"]
    assert {c["name"] for c in report["checks"]} == {"connect", "publish+receive", "acl", "wrong password refused"}
    assert "TLS, CA verified" in report["checks"][0]["detail"]

    # re-running is a no-op: same salts, same CA and certificate
    before = {p: p.read_bytes() for p in d.rglob("*") if p.is_file()}
    code, out, _ = cli("integrate", "mqtt", "--config", mosquitto["config"], "--json")
    assert code == 0 and json.loads(out)["noop"] is True
    assert {p: p.read_bytes() for p in d.rglob("*") if p.is_file()} == before


def test_verify_fails_when_broker_is_down(broker_setup: dict[str, Any], cli: Any) -> None:
    code, _, _ = cli("integrate", "mqtt", "--config", broker_setup["config"])
    assert code == 0
    code, out, _ = cli("verify", "mqtt", "--config", broker_setup["config"], "--json")
    report = json.loads(out)
    assert code == 1 and report["checks"][0]["name"] == "connect" and not report["checks"][0]["ok"]
    code, out, _ = cli("integrations", "--json")
    assert json.loads(out)["integrations"][0]["status"] == "error"


def test_container_broker_gets_mount_and_container_paths(tmp_path: Path) -> None:
    proj = tmp_path / "iot"
    proj.mkdir()
    (proj / "compose.yaml").write_text("services:\n  broker:\n    image: eclipse-mosquitto:2\n")
    snap = Snapshot(projects=[ComposeProject(name="iot", project_dir=str(proj), compose_files=[str(proj / "compose.yaml")],
                                             services=[ComposeService(project="iot", service="broker", project_dir=str(proj),
                                                                      compose_files=[str(proj / "compose.yaml")],
                                                                      image="eclipse-mosquitto:2")])])
    integ = MqttIntegrator()
    with State(tmp_path / "st") as st:
        ctx = engine.make_context(integ, snap, st, Config(), proj)
        prepared = engine.prepare(integ, snap, integ.Settings(), ctx)
    edits = {Path(e.path).name: e for e in prepared.plan.edits}
    assert "password_file /mosquitto/config/passwd" in edits["mosquitto.conf"].new_text
    assert "./portside/mosquitto:/mosquitto/config" in edits["compose.mqtt.yaml"].new_text
    assert ctx.scope == "iot" and integ.detect(snap).providers[0].name == "iot/broker"


def test_settings_validation_messages() -> None:
    integ = MqttIntegrator()
    with pytest.raises(engine.SettingsError, match=r"users\.0\.acl.*read\|write"):
        engine.validate_settings(integ, {"users": [{"name": "a", "acl": ["publish x"]}]}, "cfg")
    with pytest.raises(engine.SettingsError, match="certificates=files needs ca_file"):
        engine.validate_settings(integ, {"cert_source": "files"}, "cfg")
    with pytest.raises(engine.SettingsError, match=r"\(got \*\*\*\*\*\*\*\*\)"):
        engine.validate_settings(integ, {"users": [{"name": "a", "password": 5}]}, "cfg")
