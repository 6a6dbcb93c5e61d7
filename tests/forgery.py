"""Tokens made by tests: well-formed, and wrong in exactly one way each."""

import base64
import json
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def claims(**overrides: Any) -> dict[str, Any]:
    """Vigil's access-token claims for an admin, valid for a minute."""
    now = int(time.time())
    values: dict[str, Any] = {
        "iss": "vigil",
        "aud": "vigil",
        "sub": str(uuid.uuid4()),
        "name": "mallory",
        "roles": ["admin"],
        "clusters": ["*"],
        "sid": uuid.uuid4().hex,
        "jti": uuid.uuid4().hex,
        "iat": now,
        "nbf": now,
        "exp": now + 60,
    }
    return values | overrides


def signed(payload: dict[str, Any], key: Ed25519PrivateKey | None = None, kid: str = "k1") -> str:
    """An EdDSA token, by default with a key nobody trusts."""
    return jwt.encode(payload, key or Ed25519PrivateKey.generate(), "EdDSA", headers={"kid": kid})


def unsigned(payload: dict[str, Any], kid: str = "k1") -> str:
    """`alg: none`: no signature at all."""
    header = {"alg": "none", "typ": "JWT", "kid": kid}
    return f"{_b64(header)}.{_b64(payload)}."


def _b64(part: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()
