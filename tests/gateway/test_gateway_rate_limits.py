"""The default rate limit protects the gateway from a flood without tripping a person:
a burst then a steady rate, subscriptions counted apart from other requests, shared by
every gateway; seed 003's fixed window stays available (tests/gateway/test_gateway_limits.py).
A dashboard opening every view three times in 30 s is never refused."""

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from playwright.async_api import expect
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import ClientConnection, connect

from tests.browser import chromium, web_dist
from tests.conftest import ADMIN_PASSWORD, collector_settings_for
from tests.docker_engine import Containers
from tests.support import NatsServer, receive, receive_until, run_collector, send, serve_gateway
from vigil_auth.app import AuthService
from vigil_gateway.access.ratelimit import FixedWindow, TokenBucket
from vigil_gateway.settings import GatewaySettings

WAIT_MS = 15_000


def test_a_bucket_takes_its_burst_then_its_rate() -> None:
    bucket = TokenBucket(burst=3, per_s=2.0)
    state, verdicts = None, []
    for _ in range(4):
        state, verdict = bucket.take(state, now=100.0)
        verdicts.append(verdict)
    assert [v.allowed for v in verdicts] == [True, True, True, False]
    assert [v.remaining for v in verdicts[:3]] == [2, 1, 0]
    assert verdicts[3].retry_after_s == pytest.approx(0.5)  # one token at 2 a second
    state, verdict = bucket.take(state, now=100.5)
    assert verdict.allowed
    state, verdict = bucket.take(state, now=1000.0)  # long idle: full again, never more
    assert (verdict.allowed, verdict.remaining) == (True, 2)


def test_a_fixed_window_counts_seed_003s_way() -> None:
    window = FixedWindow(limit=2, window_s=60.0)
    assert window.slot(59.9) != window.slot(60.0)
    state, first = window.take(None, 10.0)
    state, second = window.take(state, 20.0)
    _, third = window.take(state, 30.0)
    assert [first.allowed, second.allowed, third.allowed] == [True, True, False]
    assert third.retry_after_s == pytest.approx(30.0)


async def subscribed_or_refused(ws: ClientConnection, channel: str) -> dict[str, Any]:
    await send(ws, {"type": "subscribe", "channel": channel})
    return await receive_until(ws, lambda m: m["type"] in ("subscribed", "error"))


async def test_the_default_limit_lets_a_busy_client_subscribe_and_ping_freely(
    auth_service: AuthService, gateway_settings: GatewaySettings, admin_token: str
) -> None:
    async with (
        serve_gateway(gateway_settings) as address,
        connect(f"ws://{address}/ws?token={admin_token}") as ws,
    ):
        await receive(ws)
        for _ in range(40):  # a dashboard changing views: 120 requests in a moment
            assert (await subscribed_or_refused(ws, "host.metrics"))["type"] == "subscribed"
            await send(ws, {"type": "unsubscribe", "channel": "host.metrics"})
            await receive_until(ws, lambda m: m["type"] == "unsubscribed")
            await send(ws, {"type": "ping"})
            await receive_until(ws, lambda m: m["type"] == "pong")


async def test_a_flood_is_refused_with_when_to_retry_and_the_kinds_are_apart(
    auth_service: AuthService, gateway_settings: GatewaySettings, admin_token: str
) -> None:
    small = gateway_settings.model_copy(
        update={"rate_limit_subscribe_burst": 3, "rate_limit_subscribe_per_s": 2.0}
    )
    async with (
        serve_gateway(small) as address,
        connect(f"ws://{address}/ws?token={admin_token}") as ws,
    ):
        await receive(ws)
        answers = [await subscribed_or_refused(ws, "host.metrics") for _ in range(4)]
        assert [a["type"] for a in answers] == ["subscribed"] * 3 + ["error"]
        refused = answers[3]
        assert refused["code"] == "RATE_LIMITED"
        assert 0 < refused["retry_after_s"] <= 0.5
        assert re.search(r"retry in [0-9.]+ s", refused["message"])
        await send(ws, {"type": "ping"})  # other requests have a budget of their own
        assert (await receive_until(ws, lambda m: m["type"] in ("pong", "error")))["type"] == "pong"
        await asyncio.sleep(refused["retry_after_s"])  # the time the client was told to wait
        assert (await subscribed_or_refused(ws, "host.metrics"))["type"] == "subscribed"


async def test_a_users_bucket_is_shared_by_every_gateway(
    auth_service: AuthService, gateway_settings: GatewaySettings, admin_token: str
) -> None:
    small = gateway_settings.model_copy(
        update={"rate_limit_subscribe_burst": 4, "rate_limit_subscribe_per_s": 0.01}
    )
    async with serve_gateway(small) as one, serve_gateway(small) as other:
        async with (
            connect(f"ws://{one}/ws?token={admin_token}") as a,
            connect(f"ws://{other}/ws?token={admin_token}") as b,
        ):
            await receive(a)
            await receive(b)
            kinds = [(await subscribed_or_refused(a, "host.metrics"))["type"] for _ in range(3)]
            kinds += [(await subscribed_or_refused(b, "alerts"))["type"] for _ in range(2)]
    assert kinds == ["subscribed"] * 4 + ["error"]


@pytest.fixture
async def dashboard(
    nats_server: NatsServer,
    prefix: str,
    auth_service: AuthService,
    gateway_settings: GatewaySettings,
    containers: Containers,
) -> AsyncIterator[tuple[str, list[str]]]:
    """The dashboard with the default limits, and the views a person clicks through: the
    pages, each of three containers' pages (its logs), and a merged view of one."""
    talk = "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.2; done"
    made = [containers.run(f"talker{n}", "sh", "-c", talk) for n in range(3)]
    settings = gateway_settings.model_copy(update={"web_dir": web_dist()})
    collector = collector_settings_for(nats_server, prefix, docker="on", docker_interval_s=1.0)
    views = [
        "#/",
        "#/containers",
        *(f"#/containers/testhost/{container}" for container, _ in made),
        f"#/logs?name={made[0][1]}",
        "#/deploys",
        "#/alerts",
        "#/admin",
    ]
    async with run_collector(collector), serve_gateway(settings) as address:
        yield address, views


@pytest.mark.browser
async def test_a_dashboard_opening_every_view_three_times_in_30_s_is_never_refused(
    dashboard: tuple[str, list[str]],
) -> None:
    address, views = dashboard
    refusals: list[str] = []
    async with chromium() as browser:
        page = await browser.new_page()
        page.on(
            "websocket",
            lambda ws: ws.on(
                "framereceived",
                lambda frame: (
                    refusals.append(frame)
                    if isinstance(frame, str) and '"RATE_LIMITED"' in frame
                    else None
                ),
            ),
        )
        await page.goto(f"http://{address}/")
        await page.fill("input[name=username]", "admin")
        await page.fill("input[name=password]", ADMIN_PASSWORD)
        await page.click("button[type=submit]")
        connection = page.get_by_test_id("connection")
        await expect(connection).to_have_attribute("data-status", "live", timeout=WAIT_MS)
        started = asyncio.get_running_loop().time()
        for _ in range(3):
            for view in views:
                await page.goto(f"http://{address}/{view}")
                await expect(connection).to_have_attribute("data-status", "live", timeout=WAIT_MS)
                await asyncio.sleep(0.4)  # a person's glance: the view subscribes meanwhile
        took = asyncio.get_running_loop().time() - started
    assert took <= 30, f"the clicks took {took:.0f} s: not the pace under test"
    assert refusals == []
    async with httpx.AsyncClient(base_url=f"http://{address}") as http:
        metrics = (await http.get("/metrics")).text
    samples = {s.name: s.value for f in text_string_to_metric_families(metrics) for s in f.samples}
    assert samples["vigil_gateway_rate_limited_total"] == 0
    assert samples["vigil_gateway_socket_opens_total"] >= 1
