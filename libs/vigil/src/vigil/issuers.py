"""External identity providers (e.g. Keycloak) whose access tokens Vigil accepts.

The gateway verifies such a token at the handshake; for the ctl requests it makes on
that user's behalf, the auth service verifies it again (`ctl.auth.token_exchange`) and
answers with a short-lived token of Vigil's own, since the other services verify only
Vigil's tokens. Both read the same setting (`VIGIL_EXTERNAL_ISSUERS`).
"""

from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import ValidationError

from vigil.access import Principal
from vigil.settings import ExternalIssuer
from vigil.tokens import Fetch, InvalidToken, KeySet, KeysUnavailable, decode, unverified_parts

JWKS_FETCH_TIMEOUT_S = 5.0


class ExternalVerifier:
    """Verifies the tokens of the configured external issuers, each against its JWKS."""

    def __init__(
        self, issuers: list[ExternalIssuer], http: httpx.AsyncClient, *, min_interval_s: float
    ) -> None:
        self._issuers = {
            issuer.issuer: (issuer, KeySet(_fetcher(issuer, http), min_interval_s=min_interval_s))
            for issuer in issuers
        }

    def knows(self, claims: dict[str, Any]) -> bool:
        issuer = claims.get("iss")
        return isinstance(issuer, str) and issuer in self._issuers

    async def verify(self, token: str) -> Principal:
        header, unverified = unverified_parts(token)
        issuer = unverified.get("iss")
        found = self._issuers.get(issuer) if isinstance(issuer, str) else None
        if found is None:
            raise InvalidToken("the token's issuer is not trusted")
        config, keys = found
        claims = await decode(
            token, header, keys, config.algorithms, config.issuer, config.audience
        )
        return external_principal(config, claims)


def _fetcher(issuer: ExternalIssuer, http: httpx.AsyncClient) -> Fetch:
    async def fetch() -> list[dict[str, Any]]:
        try:
            response = await http.get(issuer.jwks_url, timeout=JWKS_FETCH_TIMEOUT_S)
            response.raise_for_status()
            keys: list[dict[str, Any]] = response.json()["keys"]
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            raise KeysUnavailable(f"the JWKS of {issuer.issuer} cannot be fetched") from exc
        return keys

    return fetch


def _claim(claims: dict[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def external_principal(issuer: ExternalIssuer, claims: dict[str, Any]) -> Principal:
    """The principal an external issuer's verified claims map onto."""
    raw_roles = _claim(claims, issuer.roles_claim)
    names = raw_roles if isinstance(raw_roles, list) else []
    roles = sorted(
        {issuer.role_map[n] for n in names if isinstance(n, str) and n in issuer.role_map},
        key=lambda r: r.rank,
    )
    if not roles:
        raise InvalidToken("the token grants no Vigil role")
    clusters: list[str] = []
    if issuer.clusters_claim:
        raw = _claim(claims, issuer.clusters_claim)
        clusters = [c for c in (raw if isinstance(raw, list) else [raw]) if isinstance(c, str)]
    try:
        return Principal(
            kind="user",
            id=f"{issuer.issuer}#{claims['sub']}",
            name=str(_claim(claims, issuer.username_claim) or claims["sub"]),
            roles=roles,
            clusters=clusters,
            expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
        )
    except (ValidationError, ValueError, TypeError):
        raise InvalidToken("the token's claims cannot be mapped") from None
