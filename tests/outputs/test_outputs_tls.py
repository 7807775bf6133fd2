"""TLS options of http_output (Falco's keys) and of the HTTP forwarders (falcosidekick's keys),
against a local https receiver with certificates made by openssl for the test."""

from __future__ import annotations

import shutil
import ssl
import subprocess

import pytest
from outputs_helpers import Receiver, make_alert

from pdigpy.outputs import OutputHub

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is needed to make test certificates")


def openssl(*args: str, cwd) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
            "-subj", "/CN=pdigpy test CA", cwd=d)
    (d / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name in ("server", "client"):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", f"/CN={name}", cwd=d)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.crt", "-days", "2", "-extfile", "san.cnf", cwd=d)
    hashed = d / "capath"
    hashed.mkdir()
    shutil.copy(d / "ca.crt", hashed / "ca.pem")
    openssl("rehash", str(hashed), cwd=d)
    return d


def server_context(pki, require_client_cert: bool = False) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki / "server.crt", pki / "server.key")
    if require_client_cert:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(pki / "ca.crt")
    return ctx


@pytest.fixture
def https(pki):
    r = Receiver(ssl_context=server_context(pki)).start()
    yield r
    r.stop()


@pytest.fixture
def https_mtls(pki):
    r = Receiver(ssl_context=server_context(pki, require_client_cert=True)).start()
    yield r
    r.stop()


def deliver(config: dict) -> dict:
    config.setdefault("stderr_output", {"enabled": False})
    config.setdefault("json_output", True)
    config["pdigpy"] = {"retry": {"window": 0.3, "initial_backoff": 0.05, "max_backoff": 0.1}}
    hub = OutputHub.from_config(config)
    hub.start()
    hub.submit(make_alert())
    report = hub.close(5, report=False)
    [name] = report.counters.sinks
    return {"c": report.counters.sinks[name], "error": report.errors.get(name, "")}


def test_http_output_ca_cert(https, pki):
    r = deliver({"http_output": {"enabled": True, "url": https.url, "ca_cert": str(pki / "ca.crt")}})
    assert r["c"].sent == 1 and len(https.accepted) == 1


def test_http_output_ca_bundle_and_ca_path(https, pki):
    assert deliver({"http_output": {"enabled": True, "url": https.url, "ca_bundle": str(pki / "ca.crt")}})["c"].sent == 1
    assert deliver({"http_output": {"enabled": True, "url": https.url, "ca_path": str(pki / "capath")}})["c"].sent == 1


def test_http_output_refuses_an_unknown_ca_unless_insecure(https):
    refused = deliver({"http_output": {"enabled": True, "url": https.url}})
    assert refused["c"].sent == 0 and refused["c"].failed == 1
    assert "CERTIFICATE_VERIFY_FAILED" in refused["error"]
    assert deliver({"http_output": {"enabled": True, "url": https.url, "insecure": True}})["c"].sent == 1


def test_http_output_mtls(https_mtls, pki):
    base = {"enabled": True, "url": https_mtls.url, "ca_cert": str(pki / "ca.crt")}
    without = deliver({"http_output": dict(base)})
    assert without["c"].sent == 0
    with_cert = deliver({"http_output": dict(base, mtls=True, client_cert=str(pki / "client.crt"),
                                             client_key=str(pki / "client.key"))})
    assert with_cert["c"].sent == 1 and len(https_mtls.accepted) == 1


def test_webhook_checkcert_and_extra_ca(https, pki):
    refused = deliver({"forwarders": {"webhook": {"address": https.url}}})
    assert refused["c"].sent == 0 and "CERTIFICATE_VERIFY_FAILED" in refused["error"]
    assert deliver({"forwarders": {"webhook": {"address": https.url, "checkcert": False}}})["c"].sent == 1
    assert deliver({"forwarders": {"webhook": {"address": https.url},
                                   "tlsclient": {"cacertfile": str(pki / "ca.crt")}}})["c"].sent == 1


def test_slack_mutualtls_with_sidekicks_file_names(https_mtls, pki, tmp_path):
    certs = tmp_path / "certs"
    certs.mkdir()
    for src, dst in (("client.crt", "client.crt"), ("client.key", "client.key"), ("ca.crt", "ca.crt")):
        shutil.copy(pki / src, certs / dst)
    r = deliver({"forwarders": {"slack": {"webhookurl": https_mtls.url, "mutualtls": True, "checkcert": False},
                                "mutualtlsfilespath": str(certs)}})
    assert r["c"].sent == 1 and len(https_mtls.accepted) == 1
    r = deliver({"forwarders": {"slack": {"webhookurl": https_mtls.url, "mutualtls": True},
                                "mutualtlsclient": {"certfile": str(pki / "client.crt"),
                                                    "keyfile": str(pki / "client.key"),
                                                    "cacertfile": str(pki / "ca.crt")}}})
    assert r["c"].sent == 1
