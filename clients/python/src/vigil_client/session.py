"""The credentials a client currently holds, and refreshing them.

One `Session` is shared by every transport of a client: a refresh (before expiry, or
after the gateway refused the access token) happens once, under a lock, and every
transport uses the new token from then on. `on_refresh` lets the owner keep them (the
CLI writes them back to its config file).
"""

import asyncio
import time
from collections.abc import Callable

import httpx
from pydantic import ValidationError

from vigil.messages import TokensIssued
from vigil_client import routes
from vigil_client.credentials import ApiKey, Credentials, Tokens
from vigil_client.errors import AuthenticationFailed, Refused, Unreachable


class Session:
    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        on_refresh: Callable[[Tokens], None] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self._on_refresh = on_refresh
        self._lock = asyncio.Lock()

    def headers(self) -> dict[str, str]:
        return self.credentials.headers()

    @property
    def refreshable(self) -> bool:
        return isinstance(self.credentials, Tokens) and self.credentials.refresh_token is not None

    @property
    def refresh_due(self) -> float | None:
        """Unix time at which the access token should be refreshed; None for API keys."""
        if isinstance(self.credentials, ApiKey) or not self.refreshable:
            return None
        return self.credentials.refresh_due()

    async def refresh(self, http: httpx.AsyncClient, stale: Credentials | None = None) -> Tokens:
        """New tokens for the refresh token. With `stale`, a caller that saw those
        credentials refused: if another caller refreshed meanwhile, keep the new ones."""
        async with self._lock:
            current = self.credentials
            if stale is not None and current is not stale and isinstance(current, Tokens):
                return current
            if isinstance(current, ApiKey):
                raise AuthenticationFailed("the API key was refused (revoked or expired?)")
            if current.refresh_token is None:
                raise AuthenticationFailed("the access token expired and cannot be refreshed")
            url = self.base_url + routes.REFRESH
            try:
                answer = await http.post(url, json={"refresh_token": current.refresh_token})
            except httpx.HTTPError as exc:
                raise Unreachable(self.base_url, f"refresh: {exc}") from None
            if answer.status_code in (400, 401, 403, 422):
                raise AuthenticationFailed("the session ended (refresh refused): log in again")
            if answer.status_code != 200:
                raise Refused(str(answer.status_code), f"refresh failed: {answer.text[:200]}")
            try:
                tokens = Tokens.issued(TokensIssued.model_validate_json(answer.content))
            except ValidationError:
                raise Refused("INVALID_MESSAGE", "refresh: an answer that is not tokens") from None
            self.credentials = tokens
            if self._on_refresh is not None:
                self._on_refresh(tokens)
            return tokens

    def seconds_until_refresh(self) -> float | None:
        due = self.refresh_due
        return None if due is None else max(0.0, due - time.time())
