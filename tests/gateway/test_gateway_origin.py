"""Cross-site WebSocket hijacking: a page of another site cannot open a socket with a
visitor's credentials; the gateway's own pages, configured origins and clients that
are not browsers (no Origin) can."""

import pytest
from websockets.asyncio.client import connect
from websockets.typing import Origin

from tests.support import closed_with, receive, serve_gateway
from vigil_auth.app import AuthService
from vigil_gateway.settings import GatewaySettings


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://evil.example", False),
        ("null", False),  # a sandboxed frame or a file
        ("http://127.0.0.1:3000", True),  # the gateway's own host, another port (a proxy)
        ("https://dash.example.com", True),  # configured
        (None, True),  # not a browser: a CLI or a script
    ],
)
async def test_only_allowed_origins_open_sockets(
    auth_service: AuthService,
    gateway_settings: GatewaySettings,
    admin_token: str,
    origin: str | None,
    allowed: bool,
) -> None:
    settings = gateway_settings.model_copy(update={"allowed_origins": ["https://dash.example.com"]})
    async with serve_gateway(settings) as address:
        url = f"ws://{address}/ws?token={admin_token}"
        async with connect(url, origin=Origin(origin) if origin else None) as ws:
            if allowed:
                assert (await receive(ws))["type"] == "connected"
            else:
                code, reason = await closed_with(ws)
                assert code == 1008
                assert "allowed_origins" in reason
