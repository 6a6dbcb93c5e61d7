"""What the client proves who it is with: an API key, or a user's tokens.

Tokens are an access token (a JWT, short-lived) and a refresh token (spent on each
refresh, which gives a new pair). The client reads the access token's expiry from its
`exp` claim (unverified: the gateway verifies; the client only needs to know when to
refresh) so it can refresh before the gateway closes the socket with 4001.
"""

import base64
import json
import time
from dataclasses import dataclass

from vigil.messages import TokensIssued


@dataclass(frozen=True)
class ApiKey:
    key: str

    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.key}

    def query(self) -> dict[str, str]:
        return {"api_key": self.key}


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str | None
    expires_at: float
    """Unix time at which the access token expires."""

    @classmethod
    def issued(cls, tokens: TokensIssued, now: float | None = None) -> "Tokens":
        now = time.time() if now is None else now
        expires_at = jwt_expiry(tokens.access_token) or now + tokens.expires_in
        return cls(tokens.access_token, tokens.refresh_token, expires_at)

    @classmethod
    def of_access_token(cls, token: str) -> "Tokens":
        """A bare access token (no refresh): it works until it expires."""
        return cls(token, None, jwt_expiry(token) or float("inf"))

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}

    def query(self) -> dict[str, str]:
        return {"token": self.access_token}

    def refresh_due(self, now: float | None = None, margin_s: float = 60.0) -> float:
        """Unix time at which to refresh: `margin_s` (at most a fifth of what is left)
        before expiry."""
        now = time.time() if now is None else now
        left = self.expires_at - now
        return self.expires_at - min(margin_s, max(left, 0) / 5)


Credentials = ApiKey | Tokens


def jwt_expiry(token: str) -> float | None:
    """The `exp` claim of a JWT, read without verifying it; None if it has none."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return None
