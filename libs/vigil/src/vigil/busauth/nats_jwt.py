"""NATS's decentralised credentials: nkeys, and the JWTs that chain them.

An operator key signs an account's JWT, the account key signs each user's JWT, and a
user proves itself with its JWT plus a signature by its own seed (nats-py reads both
from a `.creds` file). The server holds only the operator's and the account's JWTs:
public documents, so its configuration holds no secret.

The claims are a small JSON document (github.com/nats-io/jwt, v2); the keys and the
signatures are `nkeys`', the library nats-py itself uses for creds. (`nats-jwt` on PyPI
models every claim but calls itself experimental; these few fields are all Vigil needs.)
"""

import base64
import hashlib
import json
import os
import time
from dataclasses import dataclass
from typing import Any, Final

import nkeys

OPERATOR: Final = nkeys.PREFIX_BYTE_OPERATOR
ACCOUNT: Final = nkeys.PREFIX_BYTE_ACCOUNT
USER: Final = nkeys.PREFIX_BYTE_USER

_UNLIMITED = {"subs": -1, "data": -1, "payload": -1}
_ACCOUNT_LIMITS = {"imports": -1, "exports": -1, "wildcards": True, "conn": -1, "leaf": -1}
_JETSTREAM_UNLIMITED = {"mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1}


@dataclass(frozen=True)
class KeyPair:
    """An nkey: a seed (secret) and the public key it derives."""

    seed: bytes

    @classmethod
    def new(cls, kind: int) -> "KeyPair":
        return cls(nkeys.encode_seed(os.urandom(32), kind))

    @property
    def public_key(self) -> str:
        key: bytes = nkeys.from_seed(self.seed).public_key
        return key.decode()

    def sign(self, data: bytes) -> bytes:
        signature: bytes = nkeys.from_seed(self.seed).sign(data)
        return signature


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def encode(subject: str, name: str, nats: dict[str, Any], signer: KeyPair, **claims: Any) -> str:
    """A NATS JWT for `subject`, signed by `signer` (its `iss`)."""
    body: dict[str, Any] = {
        "iat": int(time.time()),
        "iss": signer.public_key,
        "name": name,
        "sub": subject,
        "nats": {**nats, "version": 2},
        **claims,
    }
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).digest()
    body["jti"] = base64.b32encode(digest).decode().rstrip("=")
    header = {"typ": "JWT", "alg": "ed25519-nkey"}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(body).encode())}"
    return f"{signing_input}.{_b64(signer.sign(signing_input.encode()))}"


def operator_jwt(operator: KeyPair, name: str, system_account: str) -> str:
    """The operator, self-signed: the root the server trusts."""
    nats = {"type": "operator", "system_account": system_account}
    return encode(operator.public_key, name, nats, operator)


def account_jwt(operator: KeyPair, account: KeyPair, name: str, *, jetstream: bool) -> str:
    limits: dict[str, Any] = {**_UNLIMITED, **_ACCOUNT_LIMITS}
    if jetstream:
        limits |= _JETSTREAM_UNLIMITED
    return encode(account.public_key, name, {"type": "account", "limits": limits}, operator)


def user_jwt(
    account: KeyPair,
    user: KeyPair,
    name: str,
    *,
    publish: list[str] | None,
    subscribe: list[str] | None,
    allow_responses: bool = False,
    expires_at: int | None = None,
) -> str:
    """A user of `account`; `publish`/`subscribe` None allows every subject."""
    nats: dict[str, Any] = {"type": "user", **_UNLIMITED}
    if publish is not None:
        nats["pub"] = {"allow": publish} if publish else {"deny": [">"]}
    if subscribe is not None:
        nats["sub"] = {"allow": subscribe} if subscribe else {"deny": [">"]}
    if allow_responses:
        nats["resp"] = {"max": 1, "ttl": 0}
    claims = {"exp": expires_at} if expires_at is not None else {}
    return encode(user.public_key, name, nats, account, **claims)


def creds(jwt: str, user: KeyPair) -> str:
    """A `.creds` file, as `nsc` writes it and nats-py reads it."""
    return (
        "-----BEGIN NATS USER JWT-----\n"
        f"{jwt}\n"
        "------END NATS USER JWT------\n\n"
        "************************* IMPORTANT *************************\n"
        "NKEY Seed printed below can be used to sign and prove identity.\n"
        "NKEYs are sensitive and should be treated as secrets.\n\n"
        "-----BEGIN USER NKEY SEED-----\n"
        f"{user.seed.decode()}\n"
        "------END USER NKEY SEED------\n"
    )
