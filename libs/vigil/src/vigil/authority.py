"""The auth service's public keys, asked over the bus: how a service that acts for
users (the collector, the deployer, the gateway) verifies the tokens their requests carry.
"""

from typing import Any

from vigil import ctl
from vigil.bus import Bus
from vigil.errors import BusUnavailable
from vigil.messages import GetSigningKeys
from vigil.operations import Auth
from vigil.tokens import Fetch, KeySet, KeysUnavailable, TokenVerifier

JWKS_MIN_INTERVAL_S = 5.0
"""An unknown `kid` asks auth again at most this often."""


def jwks_of_auth(bus: Bus) -> Fetch:
    async def fetch() -> list[dict[str, Any]]:
        try:
            return (await ctl.call(bus, Auth.JWKS, GetSigningKeys())).keys
        except (BusUnavailable, ctl.Refused, RuntimeError) as exc:
            raise KeysUnavailable("the auth service's signing keys cannot be fetched") from exc

    return fetch


def bus_verifier(bus: Bus, *, min_interval_s: float = JWKS_MIN_INTERVAL_S) -> TokenVerifier:
    """A verifier of Vigil's tokens, with the keys the auth service publishes."""
    settings = bus.settings
    return TokenVerifier(
        KeySet(jwks_of_auth(bus), min_interval_s=min_interval_s),
        issuer=settings.token_issuer,
        audience=settings.token_audience,
    )
