"""No spelling of a credential's name keeps it in the access log (issue #18): the
gateway reads `?%74oken=` as `token` (as Starlette decodes names), so the log's
redaction decodes names too — percent-encoded once or twice, in any case, after `&`
or `;` — through uvicorn's real access log of HTTP requests and WebSocket handshakes."""

import logging
import secrets

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.support import receive, serve_gateway
from vigil_auth.app import AuthService
from vigil_gateway.access.redaction import redact
from vigil_gateway.settings import GatewaySettings

SPELLINGS = [
    "token",
    "%74oken",
    "TOKEN",
    "%54%4F%4B%45%4E",
    "%2574oken",  # twice encoded
    "api%5Fkey",
    "Api_Key",
    "access%5ftoken",
    "refresh_%74oken",
    "%20token",
]


@pytest.mark.parametrize("name", SPELLINGS)
def test_every_spelling_of_a_credential_name_is_redacted(name: str) -> None:
    for line in (
        f"GET /x?{name}=SECRET HTTP/1.1",
        f"/x?a=1&{name}=SECRET",
        f"/x?a=1;{name}=SECRET",
    ):
        assert "SECRET" not in redact(line), line
        assert "[redacted]" in redact(line)


def test_other_parameters_are_left_as_they_are() -> None:
    line = "/api/poll/channels/docker.logs?container=web&grep=token&since=4&tok%65n_count=2"
    assert redact(line) == line


async def test_the_access_log_keeps_no_credential_however_its_name_is_encoded(
    auth_service: AuthService,
    gateway_settings: GatewaySettings,
    admin_token: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="uvicorn.access")
    caplog.set_level(logging.INFO, logger="uvicorn.error")
    fakes = {name: secrets.token_hex(12) for name in SPELLINGS}
    async with (
        serve_gateway(gateway_settings, log_level="info") as address,
        httpx.AsyncClient(base_url=f"http://{address}") as http,
    ):
        for name, fake in fakes.items():
            await http.get(f"/api/auth/me?{name}={fake}")
            await http.get(f"/healthz?x=1;{name}={fake}")
        # The encoded name is a real credential to the gateway: its socket opens.
        async with connect(f"ws://{address}/ws?%74oken={admin_token}") as ws:
            assert (await receive(ws))["type"] == "connected"
        answer = await http.get(f"/api/auth/me?%2574oken=x&%74oken={admin_token}")
        assert answer.status_code == 200, answer.text
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "WebSocket /ws?%74oken=[redacted]" in logged  # uvicorn's lines are there, blanked
    assert "/api/auth/me?%74oken=[redacted]" in logged
    leaked = [name for name, fake in fakes.items() if fake in logged]
    assert not leaked, f"kept in the log: {leaked}"
    assert admin_token not in logged
    assert admin_token.split(".")[-1] not in logged
