"""A collector on another machine reaches NATS over TLS, with its creds file and the CA
that signed the server's certificate (README: "A collector per Docker host")."""

import asyncio
import datetime
import ipaddress
import sys
from pathlib import Path

import nats
import nats.errors
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import collector_settings_for
from tests.support import NatsServer, bus_client, run_collector
from vigil.busauth.permissions import ServiceRole
from vigil.messages import HostMetricsSampled

REMOTE_HOST = "remote1"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_tls(folder: Path) -> tuple[Path, Path, Path]:
    """A CA, and a certificate it signed for 127.0.0.1: (ca.pem, server.pem, server.key)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("vigil test CA"))
        .issuer_name(_name("vigil test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name("nats"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@pytest.fixture
def tls_nats(tmp_path: Path) -> tuple[NatsServer, Path]:
    ca, certificate, key = make_tls(tmp_path)
    server = NatsServer(
        store_dir=tmp_path / "nats",
        scheme="tls",
        config=f'tls {{\n  cert_file: "{certificate}"\n  key_file: "{key}"\n}}\n',
    )
    server.start()
    try:
        yield server, ca
    finally:
        server.stop()


async def test_a_remote_collector_publishes_over_tls_with_its_creds_and_the_ca(
    tls_nats: tuple[NatsServer, Path], prefix: str
) -> None:
    server, ca = tls_nats
    server.provision(prefix, nats_ca=ca)
    settings = collector_settings_for(server, prefix, host=REMOTE_HOST, nats_ca=ca)
    async with bus_client(server, prefix, nats_ca=ca) as bus:
        samples: asyncio.Queue[HostMetricsSampled] = asyncio.Queue()

        async def got(msg: nats.aio.msg.Msg) -> None:
            samples.put_nowait(HostMetricsSampled.model_validate_json(msg.data))

        await bus.nc.subscribe(bus.subjects.host_metrics(REMOTE_HOST), cb=got)
        async with run_collector(settings):
            sample = await asyncio.wait_for(samples.get(), 15)
    assert sample.host == REMOTE_HOST


TRY_TO_CONNECT = """
import asyncio, sys
import nats
async def main():
    try:
        await nats.connect(sys.argv[1], user_credentials=sys.argv[2], allow_reconnect=False,
                           max_reconnect_attempts=1, connect_timeout=2)
    except Exception as exc:
        print(f"refused: {type(exc).__name__}: {exc}")
        return
    print("connected")
asyncio.run(main())
"""


async def test_without_the_ca_or_without_tls_the_server_is_not_reached(
    tls_nats: tuple[NatsServer, Path], prefix: str
) -> None:
    """(Each try in a process of its own: nats-py cannot close a client whose TLS
    handshake failed.)"""
    server, _ = tls_nats
    creds = server.service(ServiceRole.COLLECTOR, prefix, host=REMOTE_HOST, provision=False)
    for url in (server.url, server.url.replace("tls://", "nats://")):
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            TRY_TO_CONNECT,
            url,
            str(creds["nats_creds"]),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        out, _ = await asyncio.wait_for(process.communicate(), 30)
        assert out.decode().startswith("refused: "), (url, out)
        assert "CERTIFICATE_VERIFY_FAILED" in out.decode(), (url, out)
