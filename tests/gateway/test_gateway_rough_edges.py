"""What a new operator tripped on at the gateway (issue 19): a host that does not exist is
NOT_FOUND, as an unknown container is; a WebSocket to no route is 404, not 403; `/docs`
works on a machine with no way out."""

import re

import httpx
import pytest
from playwright.async_api import expect
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.browser import chromium
from tests.conftest import collector_settings_for
from tests.support import NatsServer, receive, receive_until, run_collector, send, serve_gateway
from vigil_auth.app import AuthService
from vigil_gateway.settings import GatewaySettings

HOST = "testhost"


@pytest.fixture
async def gateway_with_a_host(
    nats_server: NatsServer,
    prefix: str,
    auth_service: AuthService,
    gateway_settings: GatewaySettings,
) -> object:
    async with (
        run_collector(collector_settings_for(nats_server, prefix, host=HOST)),
        serve_gateway(gateway_settings) as address,
    ):
        yield address


@pytest.mark.parametrize("channel", ["host.metrics", "docker.stats", "docker.status"])
async def test_a_host_no_collector_reported_is_not_found_on_every_transport(
    gateway_with_a_host: str, admin_token: str, channel: str
) -> None:
    address = gateway_with_a_host
    async with connect(f"ws://{address}/ws?token={admin_token}") as ws:
        await receive(ws)
        await send(ws, {"type": "subscribe", "channel": "host.metrics"})  # every host
        await receive_until(ws, lambda m: m["type"] == "update", timeout=10)  # HOST reported
        await send(ws, {"type": "subscribe", "channel": channel, "params": {"host": "nohost"}})
        error = await receive_until(ws, lambda m: m["type"] == "error")
    assert error["code"] == "NOT_FOUND"
    assert "no host 'nohost'" in error["message"]
    headers = {"Authorization": f"Bearer {admin_token}"}
    async with httpx.AsyncClient(base_url=f"http://{address}", headers=headers) as http:
        polled = await http.get(f"/api/poll/channels/{channel}", params={"host": "nohost"})
        assert polled.status_code == 404, polled.text
        known = await http.get(f"/api/poll/channels/{channel}", params={"host": HOST})
        assert known.status_code == 200, known.text


async def test_a_websocket_to_no_route_is_404_and_says_so(gateway: str, admin_token: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"ws://{gateway}/ws/no/such/path?token={admin_token}"):
            pass
    response = refused.value.response
    assert response.status_code == 404
    assert b"no WebSocket at /ws/no/such/path" in response.body
    async with connect(f"ws://{gateway}/ws?token={admin_token}") as ws:  # the real one: fine
        assert (await receive(ws))["type"] == "connected"


@pytest.mark.browser
async def test_the_api_docs_render_with_no_way_out(gateway: str) -> None:
    """Chromium on this machine reaches nothing but loopback: the page's scripts and
    styles must come from the gateway itself."""
    async with httpx.AsyncClient(base_url=f"http://{gateway}") as http:
        page_html = (await http.get("/docs")).text
        scripts = re.findall(r'src="([^"]+)"', page_html)
        assert scripts
        assert all(src.startswith("/") for src in scripts), scripts
        for src in scripts:
            assert (await http.get(src)).status_code == 200, src
    async with chromium() as browser:
        page = await browser.new_page()
        outside: list[str] = []
        page.on(
            "request",
            lambda r: outside.append(r.url) if not r.url.startswith(f"http://{gateway}") else None,
        )
        await page.goto(f"http://{gateway}/docs")
        operations = page.locator(".opblock")
        await expect(operations.first).to_be_visible(timeout=15_000)
        assert await operations.count() > 10  # every route, from /openapi.json
    assert outside == []
