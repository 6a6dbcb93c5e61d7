"""One client that stops reading never delays the others; what it misses on a stream
channel is dropped from its own bounded outbox and counted exactly in `gap` messages;
on a journal channel nothing is dropped: it is closed with 4008 and resumes."""

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import ClientConnection, connect

from tests.stuck_client import StuckClient
from tests.support import raise_alert, receive, receive_until, send, serve_gateway
from vigil.bus import Bus
from vigil.channels import CHANNELS, ChannelKind, ChannelSpec, Source
from vigil.messages import DeployEvent, DeployState, DeployStep, StepState
from vigil.streams import DEPLOY_EVENTS
from vigil_auth.app import AuthService
from vigil_gateway.delivery import catchup
from vigil_gateway.settings import GatewaySettings

READERS = 100
ALERT_COUNT = 200
OUTBOX_LIMIT = 8
# Loopback buffers take megabytes before a writer blocks, so the stuck client also
# watches a second source that sends it a few ~900 KB alerts first (NATS takes 1 MB).
BULK_COUNT = 8
BULK_PADDING = "x" * 900_000


async def subscribed(url: str, *sources: str, **options: Any) -> ClientConnection:
    ws = await connect(url, **options)
    await receive(ws)
    for source in sources:
        await send(ws, {"type": "subscribe", "channel": "alerts", "params": {"source": source}})
        await receive_until(ws, lambda m: m["type"] == "subscribed")
    return ws


HOST = "alerts?source=host"
BULK = "alerts?source=bulk"


def read_stuck(client: StuckClient, expected: dict[str, int]) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    accounted = dict.fromkeys(expected, 0)
    while accounted != expected:
        message = client.receive()
        if message["type"] in {"update", "gap"}:
            seen.append(message)
            accounted[message["channel"]] += message.get("dropped", 1)
    return seen


async def read_all(ws: ClientConnection, expected: dict[str, int]) -> list[dict[str, Any]]:
    """Every update and gap, until each channel's `expected` count is accounted for."""
    seen: list[dict[str, Any]] = []
    accounted = dict.fromkeys(expected, 0)
    while accounted != expected:
        message = await receive_until(ws, lambda m: m["type"] in {"update", "gap"}, timeout=20)
        seen.append(message)
        accounted[message["channel"]] += message["dropped"] if message["type"] == "gap" else 1
    return seen


async def test_a_client_that_stops_reading_delays_no_one_and_its_gaps_are_exact(
    auth_service: AuthService, gateway_settings: GatewaySettings, admin_token: str, alerts_bus: Bus
) -> None:
    settings = gateway_settings.model_copy(  # one user holds all 101 sockets here
        update={
            "outbox_limit": OUTBOX_LIMIT,
            "max_handshakes_per_s": 1000,
            "max_connections_per_user": 200,
            "share_rate_limit": False,
        }
    )
    async with (
        serve_gateway(settings) as address,
        httpx.AsyncClient(base_url=f"http://{address}") as http,
    ):
        url = f"ws://{address}/ws?token={admin_token}"
        port = int(address.rsplit(":", 1)[1])
        stuck = await asyncio.to_thread(StuckClient, port, admin_token)  # blocking socket
        for source in ("bulk", "host"):
            stuck.send({"type": "subscribe", "channel": "alerts", "params": {"source": source}})
        readers = [await subscribed(url, "host") for _ in range(READERS)]
        try:
            for n in range(BULK_COUNT):
                await raise_alert(alerts_bus, n, "bulk", BULK_PADDING)
            started = time.monotonic()
            reading = [asyncio.create_task(read_all(ws, {HOST: ALERT_COUNT})) for ws in readers]
            for n in range(ALERT_COUNT):
                await raise_alert(alerts_bus, n, "host")
            everyone = await asyncio.wait_for(asyncio.gather(*reading), 60)
            took = time.monotonic() - started

            families = text_string_to_metric_families((await http.get("/metrics")).text)
            depth = {s.name: s.value for f in families for s in f.samples}
            expected = {HOST: ALERT_COUNT, BULK: BULK_COUNT}
            stuck_messages = await asyncio.to_thread(read_stuck, stuck, expected)
        finally:
            stuck.close()
            for ws in readers:
                await ws.close()

    for messages in everyone:  # every reader got every alert, in order, no gap
        assert [m["type"] for m in messages] == ["update"] * ALERT_COUNT
        assert [m["data"]["message"] for m in messages] == [
            f"alert {n}" for n in range(ALERT_COUNT)
        ]
    assert took < 30, f"the readers took {took:.1f} s"
    # The stuck socket's outbox never held more than its limit (plus control frames).
    assert depth["vigil_gateway_queue_depth_max"] <= OUTBOX_LIMIT + 2
    on_host = [m for m in stuck_messages if m["channel"] == HOST]
    gaps = [m["dropped"] for m in on_host if m["type"] == "gap"]
    updates = [m["data"]["value"] for m in on_host if m["type"] == "update"]
    assert gaps, "the stuck client should have lost alerts to its bounded outbox"
    assert len(updates) + sum(gaps) == ALERT_COUNT  # exact: every alert seen or counted
    assert updates == sorted(updates)
    assert updates[-1] == ALERT_COUNT - 1  # the newest always arrives


@pytest.fixture
def live_journal(monkeypatch: pytest.MonkeyPatch) -> str:
    """A journal channel of live events only, beside `deploy` (which replays each
    subscriber's history from the start, then hands it over to its shared feed)."""
    spec = ChannelSpec(
        name="test.journal",
        description="deploy d1's journal, live only",
        params={},
        sources=lambda s, p: [Source(s.deploy_events("d1"), ChannelKind.JOURNAL, DeployEvent)],
        kind=ChannelKind.JOURNAL,
    )
    monkeypatch.setitem(CHANNELS, spec.name, spec)
    return spec.name


@pytest.mark.parametrize("replayed", [False, True], ids=["live-journal", "deploy-journal"])
async def test_a_journal_client_that_falls_behind_is_closed_4008_and_resumes_losing_nothing(
    auth_service: AuthService,
    gateway_settings: GatewaySettings,
    admin_token: str,
    alerts_bus: Bus,
    live_journal: str,
    replayed: bool,
) -> None:
    """On a live journal, and on `deploy` once its history (its first step: a deploy
    has a journal before anyone watches it) is read and the shared feed has taken the
    socket over."""
    settings = gateway_settings.model_copy(update={"outbox_limit": OUTBOX_LIMIT})
    subscribe: dict[str, Any] = {"type": "subscribe", "channel": live_journal}
    first = 0
    if replayed:
        subscribe = {"type": "subscribe", "channel": "deploy", "params": {"id": "d1"}}
        await alerts_bus.publish(alerts_bus.subjects.deploy_events("d1"), step(0))
        first = 1
    async with (
        serve_gateway(settings) as address,
        httpx.AsyncClient(base_url=f"http://{address}") as http,
    ):
        stuck = await stuck_client(address, admin_token, subscribe)
        if replayed:
            await handed_over(http, 1)
        try:
            await publish_steps(alerts_bus, first)  # megabytes: past loopback's buffers
            before, code = await asyncio.to_thread(stuck.receive_until_closed)
        finally:
            stuck.close()
        assert code == 4008
        seen = [(m["cursor"], m["data"]["percent"]) for m in before if m["type"] == "update"]
        assert seen, "the stuck client read nothing before its close"

        async with connect(f"ws://{address}/ws?token={admin_token}") as ws:
            await receive(ws)
            await send(ws, subscribe | {"since": seen[-1][0]})  # paced from JetStream now
            while len(seen) < JOURNAL_COUNT:
                update = await receive_until(ws, lambda m: m["type"] == "update")
                seen.append((update["cursor"], update["data"]["percent"]))
    assert_whole_journal(seen)


async def test_a_replayed_journal_goes_at_the_readers_pace_never_past_its_outbox(
    auth_service: AuthService, gateway_settings: GatewaySettings, admin_token: str, alerts_bus: Bus
) -> None:
    settings = gateway_settings.model_copy(update={"outbox_limit": OUTBOX_LIMIT})
    subscribe = {"type": "subscribe", "channel": "deploy", "params": {"id": "d1"}}
    async with (
        serve_gateway(settings) as address,
        httpx.AsyncClient(base_url=f"http://{address}") as http,
    ):
        await publish_steps(alerts_bus)  # history: replayed at the reader's pace
        stuck = await stuck_client(address, admin_token, subscribe)
        try:
            await asyncio.sleep(2 * catchup.HOLD_S)  # the reader stalls: its replay waits
            families = text_string_to_metric_families((await http.get("/metrics")).text)
            depth = {s.name: s.value for f in families for s in f.samples}
            messages = await asyncio.to_thread(stuck.receive_many, JOURNAL_COUNT)
        finally:
            stuck.close()
    assert depth["vigil_gateway_queue_depth_max"] <= OUTBOX_LIMIT  # JetStream holds the rest
    assert depth["vigil_gateway_replay_consumers"] == 0  # given back while the reader stalls
    assert_whole_journal([(m["cursor"], m["data"]["percent"]) for m in messages])


async def test_a_replay_whose_history_is_purged_meanwhile_is_told_and_goes_on_live(
    auth_service: AuthService, gateway_settings: GatewaySettings, admin_token: str, alerts_bus: Bus
) -> None:
    """The stream is purged while a replay's reader stalls, after the shared feed had
    sent (and held back from it) newer events: the reader gets a `reset` to where the
    stream begins again, then what comes live, never waiting for what is gone."""
    stream = alerts_bus.subjects.stream_name(DEPLOY_EVENTS.base_name)
    settings = gateway_settings.model_copy(update={"outbox_limit": OUTBOX_LIMIT})
    subscribe = {"type": "subscribe", "channel": "deploy", "params": {"id": "d1"}}
    async with serve_gateway(settings) as address:
        await publish_steps(alerts_bus)  # history: the reader stalls in it
        stuck = await stuck_client(address, admin_token, subscribe)
        try:
            await asyncio.sleep(2 * catchup.HOLD_S)  # its replay gives its consumer back
            for n in range(10):  # sent by the shared feed, held back from the reader
                await alerts_bus.publish(alerts_bus.subjects.deploy_events("d1"), step(n))
            await alerts_bus.js.purge_stream(stream)
            begins = (await alerts_bus.js.stream_info(stream)).state.first_seq

            def read_to_the_reset() -> tuple[list[int], dict[str, Any]]:
                cursors = []
                while (message := stuck.receive())["type"] != "reset":
                    if message["type"] == "update":
                        cursors.append(message["cursor"])
                return cursors, message

            replayed, reset = await asyncio.to_thread(read_to_the_reset)
            live = [
                await alerts_bus.publish(alerts_bus.subjects.deploy_events("d1"), step(n))
                for n in range(5)
            ]

            def read_live() -> list[int]:
                return [m["cursor"] for m in stuck.receive_many(len(live))]

            after_reset = await asyncio.to_thread(read_live)
        finally:
            stuck.close()
    assert replayed == list(range(1, len(replayed) + 1))  # in order, from the start
    assert reset["since"] == replayed[-1]
    assert reset["first_cursor"] == begins
    assert after_reset == live


async def stuck_client(address: str, token: str, subscribe: dict[str, Any]) -> StuckClient:
    port = int(address.rsplit(":", 1)[1])
    stuck = await asyncio.to_thread(StuckClient, port, token)  # blocking socket
    stuck.send(subscribe)
    assert (await asyncio.to_thread(stuck.receive))["type"] == "connected"
    assert (await asyncio.to_thread(stuck.receive))["type"] == "subscribed"
    return stuck


async def handed_over(http: httpx.AsyncClient, count: int) -> None:
    """Until `count` sockets have caught up and are on their channel's shared feed."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        families = text_string_to_metric_families((await http.get("/metrics")).text)
        if {s.name: s.value for f in families for s in f.samples}.get(
            "vigil_gateway_handovers_total", 0
        ) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{count} sockets were not handed over in 10 s")


async def publish_steps(bus: Bus, first: int = 0) -> None:
    for n in range(first, JOURNAL_COUNT):
        await bus.publish(bus.subjects.deploy_events("d1"), step(n))


def assert_whole_journal(seen: list[tuple[int, float]]) -> None:
    cursors = [cursor for cursor, _ in seen]
    assert cursors == list(range(cursors[0], cursors[0] + JOURNAL_COUNT))  # no gap, no repeat
    assert [percent for _, percent in seen] == [n * 100 / JOURNAL_COUNT for n in range(len(seen))]


JOURNAL_COUNT = 2000


def step(n: int) -> DeployEvent:
    return DeployEvent(
        deploy_id="d1",
        step=DeployStep.PULL,
        status=StepState.PROGRESS,
        state=DeployState.RUNNING,
        message="pulling " + "x" * 3900,
        percent=n * 100 / JOURNAL_COUNT,
        time=datetime.now(UTC),
    )
