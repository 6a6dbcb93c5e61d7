"""Forwarded addresses: `X-Forwarded-For` is believed only from the proxies in
`VIGIL_GATEWAY_TRUSTED_PROXIES` (none by default, not even loopback), so a client cannot
pick the address that the audit log and the login guard see.

The gateway listens on 127.0.0.1; clients connect from other loopback addresses
(127.0.0.2, 127.0.1.7: all of 127/8 is this machine) to play a proxy or a stranger."""

import logging
from collections.abc import AsyncIterator
from ipaddress import ip_network

import httpx
import pydantic
import pytest
from websockets.asyncio.client import connect

from tests.support import closed_with, serve_gateway
from vigil_auth.app import AuthService
from vigil_gateway.settings import GatewaySettings

SPOOFED = "1.2.3.4"
PROXY = "127.0.0.2"
PROXY_NETWORK = "127.0.1.0/24"


@pytest.fixture
async def behind_proxies(
    auth_service: AuthService, gateway_settings: GatewaySettings
) -> AsyncIterator[str]:
    """A gateway that trusts one proxy address and one proxy network."""
    trusted = [ip_network(PROXY), ip_network(PROXY_NETWORK)]
    settings = gateway_settings.model_copy(update={"trusted_proxies": trusted})
    async with serve_gateway(settings) as address:
        yield address


def audited_addresses(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The `from=` of every audit record, in order."""
    found = []
    for record in caplog.records:
        if record.name == "vigil_gateway.audit":
            found.append(record.getMessage().split(" from=", 1)[1].split(" ", 1)[0])
    return found


def failed_login_messages(caplog: pytest.LogCaptureFixture, username: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "vigil_auth.audit"
        and r.getMessage().startswith("refused auth.login")
        and f":{username}(" in r.getMessage()
    ]


async def refused_from(gateway: str, source: str, forwarded_for: str) -> None:
    """A request without credentials from `source`, claiming to forward `forwarded_for`."""
    transport = httpx.AsyncHTTPTransport(local_address=source)
    async with httpx.AsyncClient(base_url=f"http://{gateway}", transport=transport) as http:
        answer = await http.get("/api/deploys", headers={"X-Forwarded-For": forwarded_for})
    assert answer.status_code == 401, answer.text


async def failed_login_from(gateway: str, source: str, username: str) -> None:
    transport = httpx.AsyncHTTPTransport(local_address=source)
    async with httpx.AsyncClient(base_url=f"http://{gateway}", transport=transport) as http:
        answer = await http.post(
            "/api/auth/token",
            json={"username": username, "password": "not-the-password"},
            headers={"X-Forwarded-For": SPOOFED, "X-Real-IP": SPOOFED},
        )
    assert answer.status_code == 401, answer.text


async def test_by_default_a_loopback_client_cannot_choose_its_address(
    gateway: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await refused_from(gateway, "127.0.0.1", SPOOFED)
    await failed_login_from(gateway, "127.0.0.1", "mallory")
    assert audited_addresses(caplog) == ["127.0.0.1"]
    [failed] = failed_login_messages(caplog, "mallory")
    assert "127.0.0.1" in failed
    assert SPOOFED not in failed


async def test_forwarded_for_is_believed_from_a_trusted_proxy_and_ignored_from_others(
    behind_proxies: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await refused_from(behind_proxies, "127.0.0.1", SPOOFED)  # a stranger
    await refused_from(behind_proxies, PROXY, SPOOFED)  # the trusted address
    await refused_from(behind_proxies, "127.0.1.7", "5.6.7.8")  # inside the trusted network
    await refused_from(behind_proxies, "127.0.0.3", "5.6.7.8")  # next to the proxy, not it
    assert audited_addresses(caplog) == ["127.0.0.1", SPOOFED, "5.6.7.8", "127.0.0.3"]

    # What the login guard counts failures by.
    await failed_login_from(behind_proxies, "127.0.0.1", "stranger")
    await failed_login_from(behind_proxies, PROXY, "proxied")
    [stranger] = failed_login_messages(caplog, "stranger")
    [proxied] = failed_login_messages(caplog, "proxied")
    assert "127.0.0.1" in stranger
    assert SPOOFED not in stranger
    assert SPOOFED in proxied


async def test_a_websocket_handshake_is_audited_with_the_same_rule(
    behind_proxies: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="vigil_gateway.audit")
    for source in ("127.0.0.1", PROXY):
        async with connect(
            f"ws://{behind_proxies}/ws",
            additional_headers={"X-Forwarded-For": SPOOFED},
            local_addr=(source, 0),
        ) as ws:
            assert (await closed_with(ws))[0] == 1008  # no credentials
    assert audited_addresses(caplog) == ["127.0.0.1", SPOOFED]


@pytest.mark.parametrize("value", ['["nginx"]', '["10.0.0.1/8"]', '"10.0.0.1"', '["*"]'])
def test_a_trusted_proxy_that_is_not_an_address_or_network_is_a_start_up_error(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("VIGIL_GATEWAY_TRUSTED_PROXIES", value)
    with pytest.raises(pydantic.ValidationError, match="trusted_proxies"):
        GatewaySettings()


def test_trusted_proxies_are_read_as_a_json_list_of_addresses_and_networks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VIGIL_GATEWAY_TRUSTED_PROXIES", '["172.31.253.2", "fd00::/64"]')
    assert [str(n) for n in GatewaySettings().trusted_proxies] == ["172.31.253.2/32", "fd00::/64"]
    monkeypatch.delenv("VIGIL_GATEWAY_TRUSTED_PROXIES")
    assert GatewaySettings().trusted_proxies == []
