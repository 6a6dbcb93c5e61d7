"""Journal watchers share one live feed: each reads the history through a consumer of
its own only while it catches up, then the channel's shared feed takes it over at the
JetStream sequence it reached, with nothing lost or repeated at the hand-over. So more
clients can watch a journal than the stream allows consumers."""

import asyncio
import contextlib
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect

from tests.journal_clients import progress
from tests.support import receive, receive_until, send, serve_gateway
from vigil.bus import Bus
from vigil.streams import DEPLOY_EVENTS
from vigil_auth.app import AuthService
from vigil_gateway.settings import GatewaySettings

WATCHED = "d1"
OTHER = "d2"  # events of another deploy in the same stream: sequences of d1 are not contiguous


def many_sockets(settings: GatewaySettings, **update: object) -> GatewaySettings:
    """One user holds every socket here, each sending its own subscribe."""
    limits = {"max_connections_per_user": 500, "share_rate_limit": False}
    return settings.model_copy(update=limits | update)


async def publish(bus: Bus, deploy_id: str, n: int) -> int:
    return await bus.publish(bus.subjects.deploy_events(deploy_id), progress(deploy_id, n, 1000))


async def watch(
    url: str,
    expected: int,
    *,
    since: int | None = None,
    leave_after: int | None = None,
    got: "asyncio.Queue[list[int]] | None" = None,
    stay: asyncio.Event | None = None,
    notices: list[dict[str, Any]] | None = None,
) -> list[int]:
    """The cursors of the watched deploy's updates, until `expected` of them; with
    `leave_after`, the socket closes after that many and a new one resumes (`since`);
    with `got` and `stay`, they go to `got` and the socket stays open until `stay`;
    errors go to `notices` (without it, an error fails the test)."""
    cursors: list[int] = []
    async with connect(url) as ws:
        await receive(ws)
        subscribe: dict[str, Any] = {"type": "subscribe", "channel": "deploy"}
        subscribe["params"] = {"id": WATCHED}
        if since is not None:
            subscribe["since"] = since
        await send(ws, subscribe)
        while len(cursors) < expected and len(cursors) != leave_after:
            message = await receive_until(ws, lambda m: m["type"] in KINDS, 30)
            if message["type"] == "error" and notices is not None:
                notices.append(message)
                continue
            assert message["type"] == "update", message
            cursors.append(message["cursor"])
        if got is not None and stay is not None:
            await got.put(cursors)
            await stay.wait()
    if len(cursors) < expected:
        cursors += await watch(url, expected - len(cursors), since=cursors[-1])
    return cursors


KINDS = {"update", "gap", "reset", "error"}


async def publish_live(bus: Bus, start: int, count: int, every_s: float) -> list[int]:
    """`count` events of the watched deploy (and one of the other after each), paced."""
    sequences = []
    for n in range(start, start + count):
        sequences.append(await publish(bus, WATCHED, n))
        await publish(bus, OTHER, n)
        await asyncio.sleep(every_s)
    return sequences


async def peak_consumers(bus: Bus, stream: str, peak: list[int]) -> None:
    """Until cancelled: the most consumers the stream had at once, in `peak[0]`."""
    while True:
        peak[0] = max(peak[0], (await bus.js.stream_info(stream)).state.consumer_count)
        await asyncio.sleep(0.02)


async def gauges(address: str) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=f"http://{address}") as http:
        text = (await http.get("/metrics")).text
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}


async def test_more_journal_watchers_than_the_stream_allows_consumers_get_all_of_it(
    auth_service: AuthService, gateway_settings: GatewaySettings, admin_token: str, alerts_bus: Bus
) -> None:
    watchers, history, live = 60, 40, 40
    config = DEPLOY_EVENTS.config(alerts_bus.subjects)
    config.max_consumers = 3  # the shared feed's, and two for replays at a time
    await alerts_bus.js.delete_stream(config.name)  # (a stream's consumer cap is fixed)
    await alerts_bus.js.add_stream(config)
    sequences = [await publish(alerts_bus, WATCHED, n) for n in range(history)]
    # More replays at once than NATS leaves room for: those it refuses are tried again.
    settings = many_sockets(gateway_settings, max_replays=4)
    peak = [0]
    got: asyncio.Queue[list[int]] = asyncio.Queue()
    stay = asyncio.Event()  # every socket stays open until the consumers are counted
    notices: list[dict[str, Any]] = []
    async with serve_gateway(settings) as address:
        url = f"ws://{address}/ws?token={admin_token}"
        sampling = asyncio.create_task(peak_consumers(alerts_bus, config.name or "", peak))
        watching = [
            asyncio.create_task(watch(url, history + live, got=got, stay=stay, notices=notices))
            for _ in range(watchers)
        ]
        try:
            sequences += await publish_live(alerts_bus, history, live, every_s=0.05)
            everyone = [await asyncio.wait_for(got.get(), 60) for _ in range(watchers)]
            after = await gauges(address)
            consumers = (await alerts_bus.js.stream_info(config.name or "")).state.consumer_count
        finally:
            stay.set()
            sampling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampling
            await asyncio.gather(*watching)

    for cursors in everyone:  # the whole journal, in order, once each
        assert cursors == sequences
    assert peak[0] <= 3
    assert consumers == 1, "only the shared feed holds a consumer once all caught up"
    assert after["vigil_gateway_handovers_total"] == watchers
    assert after["vigil_gateway_replay_consumers"] == 0
    assert after["vigil_gateway_catching_up"] == 0
    # Sockets whose replay NATS refused were told so, once each, and got it all anyway.
    assert 0 < len(notices) <= watchers
    for notice in notices:
        assert notice["code"] == "UNAVAILABLE"
        assert notice["channel"] == f"deploy?id={WATCHED}"
        assert "maximum consumers limit reached" in notice["message"]


async def test_events_published_while_clients_catch_up_arrive_once_each_in_order(
    auth_service: AuthService, gateway_settings: GatewaySettings, admin_token: str, alerts_bus: Bus
) -> None:
    """Clients join (and some leave and resume with `since`) while the journal is
    published fast, so hand-overs happen while the shared feed is delivering."""
    clients, history, live = 24, 300, 300
    sequences = []
    for n in range(history):
        sequences.append(await publish(alerts_bus, WATCHED, n))
        await publish(alerts_bus, OTHER, n)
    settings = many_sockets(gateway_settings, max_replays=2)  # some wait their turn
    async with serve_gateway(settings) as address:
        url = f"ws://{address}/ws?token={admin_token}"
        publishing = asyncio.create_task(publish_live(alerts_bus, history, live, every_s=0.003))
        watching = []
        for n in range(clients):
            leave_after = history + 10 * n if n % 2 else None  # odd ones resume mid-way
            watching.append(
                asyncio.create_task(watch(url, history + live, leave_after=leave_after))
            )
            await asyncio.sleep(0.04)  # joining over the live flow
        sequences += await publishing
        everyone = await asyncio.wait_for(asyncio.gather(*watching), 60)
        after = await gauges(address)

    for cursors in everyone:
        assert cursors == sequences
    # Every last socket was handed over; a first one left before or after its own.
    assert clients <= after["vigil_gateway_handovers_total"] <= clients * 3 // 2
