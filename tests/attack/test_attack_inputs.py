"""Every malformed input is a 4xx that says what was wrong, never a 500 (issue #18):
raw requests with hostile values in every path and query parameter of every REST
route, over-long API keys wherever a key is read, malformed names, and cursors and
options of every stream (polling, SSE, WebSocket) out of any sane range."""

import asyncio
import json
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.alerter_support import alerter_settings_for, run_alerter
from tests.docker_support import announce_container
from tests.history_support import history_settings_for, run_history
from tests.notify_support import notifier_settings_for, run_notifier
from tests.support import (
    NatsServer,
    bus_client,
    closed_with,
    receive,
    receive_until,
    send,
    serve_gateway,
)
from vigil_auth.app import AuthService
from vigil_deployer.app import DeployerService
from vigil_gateway.settings import GatewaySettings

HOSTILE = [
    "a" * 600,
    "%00",
    "..",
    "a b",
    "\u00e9\u200b",
    "-1",
    "99999999999999999999999999999999",
    "nan",
    "inf",
    "1e999",
    " ",
    "a.b",
    "*",
    ">",
    "%2F",
    "0",
    "true",
]


@pytest.mark.timeout(180)
async def test_hostile_values_in_every_rest_parameter_are_never_a_5xx(
    nats_server: NatsServer,
    prefix: str,
    auth_service: AuthService,
    deployer: DeployerService,
    admin_token: str,
    gateway_settings: GatewaySettings,
) -> None:
    admin = {"Authorization": f"Bearer {admin_token}"}
    failures: list[tuple[str, str, str, int, str]] = []
    async with (
        run_notifier(notifier_settings_for(nats_server, prefix)),  # every service a route asks
        run_alerter(alerter_settings_for(nats_server, prefix)),
        run_history(history_settings_for(nats_server, prefix)),
        serve_gateway(gateway_settings) as address,
        httpx.AsyncClient(base_url=f"http://{address}", timeout=20, headers=admin) as http,
    ):
        spec = (await http.get("/openapi.json")).json()
        tried = 0
        for path, operations in spec["paths"].items():
            if path.startswith("/sse/") or path == "/api/auth/logout":
                continue  # streams that do not end; the session the test runs in
            for method, operation in operations.items():
                parameters = operation.get("parameters", [])
                for value in HOSTILE:
                    url = path
                    for parameter in parameters:
                        if parameter["in"] == "path":
                            url = url.replace(f"{{{parameter['name']}}}", value.strip() or "x")
                    query = {p["name"]: value for p in parameters if p["in"] == "query"}
                    body = {} if method in ("post", "put", "patch") else None
                    answer = await http.request(method.upper(), url, params=query, json=body)
                    tried += 1
                    if answer.status_code >= 500:
                        failures.append((method, path, value[:12], answer.status_code, answer.text))
    assert tried > 300
    assert not failures, failures[:10]


@pytest.mark.parametrize("where", ["header", "query"])
async def test_an_api_key_too_long_is_a_401_over_http_and_4001_on_a_socket(
    auth_service: AuthService, gateway_settings: GatewaySettings, where: str
) -> None:
    key = "vk_" + "a" * 600
    as_header = {"X-API-Key": key} if where == "header" else {}
    as_query = {"api_key": key} if where == "query" else {}
    async with (
        serve_gateway(gateway_settings) as address,
        httpx.AsyncClient(base_url=f"http://{address}", timeout=10) as http,
    ):
        for path in ("/api/auth/me", "/api/poll/channels/alerts", "/sse/channels/alerts"):
            answer = await http.get(path, headers=as_header, params=as_query)
            assert answer.status_code == 401, (path, answer.text)
            assert "API key is malformed" in answer.json()["detail"]["message"]
        url = f"ws://{address}/ws" + (f"?api_key={key}" if as_query else "")
        async with connect(url, additional_headers=as_header) as ws:
            code, reason = await closed_with(ws)
    assert code == 4001
    assert "API key is malformed" in reason


async def test_a_malformed_user_name_is_a_422_naming_it(
    auth_service: AuthService, gateway_settings: GatewaySettings, admin_token: str
) -> None:
    admin = {"Authorization": f"Bearer {admin_token}"}
    async with (
        serve_gateway(gateway_settings) as address,
        httpx.AsyncClient(base_url=f"http://{address}", timeout=10, headers=admin) as http,
    ):
        for name in ("a b", "*", "%00", "x" * 200, "\u00e9"):
            answer = await http.post(f"/api/auth/users/{name}/disable")
            assert answer.status_code == 422, (name, answer.text)
            detail = answer.json()["detail"]
            assert detail["code"] == "INVALID_MESSAGE"
            assert detail["message"].startswith("username: ")
        answer = await http.delete("/api/auth/keys/" + "k" * 100)
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"]["message"].startswith("key_id: ")


async def stream_answer(http: httpx.AsyncClient, path: str, **options: Any) -> tuple[int, str]:
    """The status of a stream request, and its body (a refusal) or its first events."""
    async with http.stream("GET", path, **options) as response:
        if response.status_code != 200:
            return response.status_code, (await response.aread()).decode()
        text = ""
        try:
            async with asyncio.timeout(1.5):
                async for chunk in response.aiter_text():
                    text += chunk
        except TimeoutError:
            pass
        return 200, text


@pytest.mark.timeout(120)
async def test_cursors_and_options_out_of_range_are_refused_or_reset_never_broken(
    nats_server: NatsServer,
    prefix: str,
    auth_service: AuthService,
    admin_token: str,
    gateway_settings: GatewaySettings,
) -> None:
    """Huge cursors on an empty stream (a `reset` to its start, not a NATS error), on a
    merged view (a time past any date: nothing after it), and options that are not
    numbers: polling and SSE say 4xx or reset; a socket goes on answering."""
    admin = {"Authorization": f"Bearer {admin_token}"}
    huge = str(10**30)
    async with (
        bus_client(nats_server, prefix) as bus,
        serve_gateway(gateway_settings) as address,
        httpx.AsyncClient(base_url=f"http://{address}", timeout=10, headers=admin) as http,
    ):
        await announce_container(bus, "inputhost", "abcabcabcabc", "target", {"app": "x"})
        for channel, params in (
            ("alerts", {"source": "nothing-yet"}),
            ("logs.merged", {"label": "app=x"}),
        ):
            for since in (huge, str(2**64), str(2**63)):
                polled = await http.get(
                    f"/api/poll/channels/{channel}", params=params | {"since": since}
                )
                assert polled.status_code == 200, (channel, since, polled.text)
                status, text = await stream_answer(
                    http, f"/sse/channels/{channel}", params=params | {"since": since}
                )
                assert status == 200, text
                assert "UNAVAILABLE" not in text, text  # no NATS error told as an outage
        for channel, options in (
            ("alerts", {"since": "12abc"}),
            ("alerts", {"since": "-5"}),
            ("host.metrics", {"interval_s": "nan"}),
            ("host.metrics", {"interval_s": "inf"}),
            ("host.metrics", {"interval_s": "1e999"}),
            ("host.metrics", {"delta": "maybe"}),
        ):
            status, text = await stream_answer(http, f"/sse/channels/{channel}", params=options)
            assert status == 422, (options, text)
            polled = await http.get(f"/api/poll/channels/{channel}", params=options)
            assert polled.status_code == (422 if "since" in options else 200), polled.text
        status, text = await stream_answer(
            http, "/sse/channels/alerts", headers={"Last-Event-ID": "not-a-cursor"}
        )
        assert status == 422, text
        async with connect(f"ws://{address}/ws?token={admin_token}") as ws:
            await receive(ws)
            for since in (10**30, 2**64):
                for channel, params in (
                    ("alerts", {"source": "nothing-yet"}),
                    ("logs.merged", {"label": "app=x"}),
                ):
                    await send(
                        ws,
                        {"type": "subscribe", "channel": channel, "params": params, "since": since},
                    )
                    answer = await receive_until(ws, lambda m: m["type"] in {"subscribed", "error"})
                    assert answer["type"] == "subscribed", answer
                    await send(ws, {"type": "unsubscribe", "channel": channel, "params": params})
                    left = await receive_until(ws, lambda m: m["type"] in {"unsubscribed", "error"})
                    assert left["type"] == "unsubscribed", left
            await send(ws, {"type": "ping"})
            pong = await receive_until(ws, lambda m: m["type"] in {"pong", "error"})
            assert pong["type"] == "pong", json.dumps(pong)
