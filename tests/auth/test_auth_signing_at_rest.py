"""Signing keys at rest: encrypted with the secret file's keys, read back, migrated, rotated.

The bucket is read here as an intruder on the bus would: the raw bytes of the KV record.
"""

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import stat
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import jwt
import pytest
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from jwt.algorithms import OKPAlgorithm
from pydantic import ValidationError

from tests.support import (
    NatsServer,
    auth_settings_for,
    run_auth,
    verify_access_token,
    wait_for,
)
from vigil import ctl
from vigil.bus import Bus
from vigil.messages import GetSigningKeys, Login
from vigil.operations import Auth
from vigil.streams import SIGNING_KEYS
from vigil_auth.errors import SecretFileInvalid, SigningKeysUnreadable
from vigil_auth.settings import AuthSettings

ADMIN_PASSWORD = "admin-password-1"
LOGIN = Login(username="admin", password=ADMIN_PASSWORD)


@contextlib.asynccontextmanager
async def intruder(nats_server: NatsServer, prefix: str) -> AsyncIterator[Bus]:
    """A bus client that reads the SIGNING_KEYS bucket directly (and calls auth)."""
    bus = Bus(nats_server.harness(prefix), name="test-intruder", buckets=[SIGNING_KEYS])
    await bus.connect()
    try:
        yield bus
    finally:
        await bus.close()


async def stored_ring(bus: Bus) -> tuple[bytes, int]:
    """The ring's KV record as stored: its bytes and revision."""
    entry = await (await bus.kv(SIGNING_KEYS)).get("ring")
    assert entry.value is not None
    assert entry.revision is not None
    return entry.value, entry.revision


def write_keys(path: Path, *keys: bytes) -> None:
    path.write_text("# test secret\n" + "".join(key.decode() + "\n" for key in keys))


def raw(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def thumbprint(private_key: Ed25519PrivateKey) -> str:
    """RFC 7638, as the older version named its keys."""
    public = OKPAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    members = {name: public[name] for name in ("crv", "kty", "x")}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return b64(hashlib.sha256(canonical).digest())


def opened_with(record: bytes, key: bytes) -> list[bytes]:
    """The raw private keys of a stored ring, decrypted with `key` (InvalidToken if not)."""
    fernet = Fernet(key)
    return [fernet.decrypt(k["encrypted_private_key"].encode()) for k in json.loads(record)["keys"]]


async def login_and_verify(bus: Bus) -> str:
    tokens = await ctl.call(bus, Auth.LOGIN, LOGIN)
    jwks = (await ctl.call(bus, Auth.JWKS, GetSigningKeys())).keys
    assert verify_access_token(tokens.access_token, jwks)["name"] == "admin"
    return tokens.access_token


# -- what the bucket holds -------------------------------------------------------------


async def test_the_bucket_holds_no_private_key_in_clear_and_tokens_verify(
    nats_server: NatsServer, prefix: str, tmp_path: Path
) -> None:
    secret_file = tmp_path / "secret"
    key = Fernet.generate_key()
    write_keys(secret_file, key)
    settings = auth_settings_for(
        nats_server, prefix, admin_password=ADMIN_PASSWORD, signing_key_secret_file=secret_file
    )
    async with run_auth(settings), intruder(nats_server, prefix) as bus:
        token = await login_and_verify(bus)
        record, _ = await stored_ring(bus)

    stored = json.loads(record)["keys"]
    assert [k.get("private_key") for k in stored] == [None]
    (private,) = opened_with(record, key)  # the file's key opens it: it is the signing key
    private_key = Ed25519PrivateKey.from_private_bytes(private)
    assert stored[0]["kid"] == thumbprint(private_key)
    jwk = OKPAlgorithm.to_jwk(private_key, as_dict=True)
    for form in (private, private.hex().encode(), b64(private).encode(), jwk["d"].encode()):
        assert form not in record
    # The token is signed by exactly that key.
    jwt.decode(token, private_key.public_key(), algorithms=["EdDSA"], audience="vigil")


async def test_a_first_start_makes_an_owner_only_secret_file(
    nats_server: NatsServer, prefix: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    secret_file = tmp_path / "made" / "here" / "secret"
    settings = auth_settings_for(
        nats_server, prefix, admin_password=ADMIN_PASSWORD, signing_key_secret_file=secret_file
    )
    async with contextlib.AsyncExitStack() as replicas, intruder(nats_server, prefix) as bus:
        await asyncio.gather(*(replicas.enter_async_context(run_auth(settings)) for _ in "ab"))
        await login_and_verify(bus)
        record, _ = await stored_ring(bus)

    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(secret_file.parent.stat().st_mode) == 0o700
    lines = [line for line in secret_file.read_text().splitlines() if not line.startswith("#")]
    assert len(lines) == 1  # one key, though two replicas started together
    assert opened_with(record, lines[0].encode())
    assert [path.name for path in secret_file.parent.iterdir()] == ["secret"]  # no drafts left
    assert caplog.text.count(f"made {secret_file}") == 1
    assert lines[0] not in caplog.text


# -- migration and rotation ------------------------------------------------------------


async def test_a_ring_stored_in_clear_by_an_older_version_is_encrypted_at_the_next_refresh(
    nats_server: NatsServer, prefix: str, tmp_path: Path
) -> None:
    legacy = Ed25519PrivateKey.generate()
    kid = thumbprint(legacy)
    older = {  # exactly what the older version wrote
        "keys": [
            {
                "kid": kid,
                "private_key": b64(raw(legacy)),
                "created_at": datetime.now(UTC).isoformat(),
                "retired_at": None,
            }
        ]
    }
    secret_file = tmp_path / "secret"
    settings = auth_settings_for(
        nats_server, prefix, admin_password=ADMIN_PASSWORD, signing_key_secret_file=secret_file
    )
    async with intruder(nats_server, prefix) as bus:
        await (await bus.kv(SIGNING_KEYS)).put("ring", json.dumps(older).encode())
        async with run_auth(settings):  # no secret file yet: none is needed, one is made
            token = await login_and_verify(bus)
            record, _ = await stored_ring(bus)

    assert b64(raw(legacy)).encode() not in record
    (key,) = [line for line in secret_file.read_text().splitlines() if not line.startswith("#")]
    assert opened_with(record, key.encode()) == [raw(legacy)]
    assert json.loads(record)["keys"][0]["kid"] == kid  # the same key: sessions live on
    assert jwt.get_unverified_header(token)["kid"] == kid


async def test_rotating_the_secret_reencrypts_the_ring_across_two_replicas(
    nats_server: NatsServer, prefix: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret_file = tmp_path / "secret"
    old, new = Fernet.generate_key(), Fernet.generate_key()
    write_keys(secret_file, old)
    settings = auth_settings_for(
        nats_server,
        prefix,
        admin_password=ADMIN_PASSWORD,
        signing_key_secret_file=secret_file,
        signing_key_check_s=0.05,
    )
    async with (
        intruder(nats_server, prefix) as bus,
        contextlib.AsyncExitStack() as replica_a,
        contextlib.AsyncExitStack() as replica_b,
    ):
        await replica_a.enter_async_context(run_auth(settings))
        before = await login_and_verify(bus)
        record, _ = await stored_ring(bus)
        (signing_key,) = opened_with(record, old)

        # 1. Prepend the new key; replica B starts with it and re-encrypts the ring.
        write_keys(secret_file, new, old)
        await replica_b.enter_async_context(run_auth(settings))
        record, _ = await stored_ring(bus)
        assert opened_with(record, new) == [signing_key]
        with pytest.raises(InvalidToken):
            opened_with(record, old)
        # Replica A, not restarted yet, cannot read it: it says so and signs on.
        await wait_for(lambda: "cannot read the signing keys" in caplog.text, "A's complaint")
        for _ in range(4):
            await login_and_verify(bus)

        # 2. Restart the replicas: both read the ring and agree.
        await replica_a.aclose()
        await replica_a.enter_async_context(run_auth(settings))
        await replica_b.aclose()
        await replica_b.enter_async_context(run_auth(settings))
        caplog.clear()
        for _ in range(4):
            await login_and_verify(bus)
        assert "cannot read the signing keys" not in caplog.text

        # 3. Drop the old key and restart again: nothing needs it any more.
        write_keys(secret_file, new)
        await replica_a.aclose()
        await replica_a.enter_async_context(run_auth(settings))
        await replica_b.aclose()
        await replica_b.enter_async_context(run_auth(settings))
        jwks = (await ctl.call(bus, Auth.JWKS, GetSigningKeys())).keys
        assert verify_access_token(before, jwks)["name"] == "admin"  # issued before it all
        await login_and_verify(bus)
        assert "cannot read the signing keys" not in caplog.text


# -- refusals --------------------------------------------------------------------------


async def test_a_wrong_secret_file_stops_the_start_and_leaves_the_ring_alone(
    nats_server: NatsServer, prefix: str, tmp_path: Path
) -> None:
    secret_file = tmp_path / "secret"
    key = Fernet.generate_key()
    write_keys(secret_file, key)
    settings = auth_settings_for(
        nats_server, prefix, admin_password=ADMIN_PASSWORD, signing_key_secret_file=secret_file
    )
    async with intruder(nats_server, prefix) as bus:
        async with run_auth(settings):
            await login_and_verify(bus)
        record, revision = await stored_ring(bus)

        write_keys(secret_file, Fernet.generate_key())  # not the one it was encrypted with
        with pytest.raises(SigningKeysUnreadable) as unreadable:
            async with run_auth(settings):
                pass
        assert "VIGIL_AUTH_SIGNING_KEY_SECRET_FILE" in str(unreadable.value)

        secret_file.unlink()  # lost: never a new file, never a new ring
        with pytest.raises(SecretFileInvalid) as missing:
            async with run_auth(settings):
                pass
        assert "does not exist" in str(missing.value)
        assert "encrypted" in str(missing.value)
        assert not secret_file.exists()

        secret_file.write_text(key.decode()[:-2] + "\n")  # a mangled key: named, not shown
        with pytest.raises(SecretFileInvalid) as mangled:
            async with run_auth(settings):
                pass
        assert "line 1 is not a Fernet key" in str(mangled.value)
        assert key.decode()[:-2] not in str(mangled.value)

        secret_file.write_text("# nothing but a comment\n")
        with pytest.raises(SecretFileInvalid, match="holds no key"):
            async with run_auth(settings):
                pass

        assert await stored_ring(bus) == (record, revision)  # untouched throughout


def test_production_needs_the_secret_file_and_development_an_explicit_opt_out() -> None:
    creds = Path("/run/secrets/auth.creds")  # production needs NATS creds too
    with pytest.raises(ValidationError, match="VIGIL_AUTH_SIGNING_KEY_SECRET_FILE must be set"):
        AuthSettings(environment="production", nats_creds=creds)
    with pytest.raises(ValidationError, match="VIGIL_AUTH_SIGNING_KEYS_IN_CLEAR=true"):
        AuthSettings(environment="development")
    with pytest.raises(ValidationError, match="refused in production"):
        AuthSettings(environment="production", nats_creds=creds, signing_keys_in_clear=True)
    with pytest.raises(ValidationError, match="set one"):
        AuthSettings(signing_keys_in_clear=True, signing_key_secret_file=Path("/tmp/x"))
    assert AuthSettings(environment="development", signing_keys_in_clear=True)
    assert AuthSettings(
        environment="production", nats_creds=creds, signing_key_secret_file=Path("/run/s")
    )


async def test_opted_out_keys_are_stored_in_clear_and_an_encrypted_ring_is_refused(
    nats_server: NatsServer, prefix: str, tmp_path: Path
) -> None:
    in_clear = auth_settings_for(
        nats_server,
        prefix,
        admin_password=ADMIN_PASSWORD,
        signing_key_secret_file=None,
        signing_keys_in_clear=True,
    )
    async with intruder(nats_server, prefix) as bus:
        async with run_auth(in_clear):
            await login_and_verify(bus)
        record, _ = await stored_ring(bus)
        assert json.loads(record)["keys"][0]["private_key"]

        encrypted = in_clear.model_copy(
            update={"signing_key_secret_file": tmp_path / "secret", "signing_keys_in_clear": False}
        )
        async with run_auth(encrypted):  # the opt-out ends: the ring is encrypted
            await login_and_verify(bus)
        with pytest.raises(SigningKeysUnreadable, match="is not set"):
            async with run_auth(in_clear):  # and cannot go back to clear silently
                pass
