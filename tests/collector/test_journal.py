"""The host's systemd journal as a log source, on a real journal (`journal_support`):
a unit's lines at most as verbose as asked, live, redacted, followed while leased and
resumed after the last line sent; selectors that do not fit are refused saying why."""

import asyncio
import collections
from collections.abc import Callable
from typing import Any

import psutil
from nats.js.api import ConsumerConfig, DeliverPolicy
from websockets.asyncio.client import ClientConnection, connect

from tests.journal_support import Entry, Journal
from tests.support import (
    NatsServer,
    bus_client,
    collector_settings_for,
    receive,
    receive_until,
    run_collector,
    send,
    serve_gateway,
    wait_for,
)
from vigil import ctl
from vigil.journal import JournalSelection
from vigil.messages import ErrorCode, FollowJournal, JournalBatch
from vigil.operations import Logs
from vigil_gateway.delivery.polling import fetch
from vigil_gateway.settings import GatewaySettings

SELECTION = "unit=demo.service,priority<=warning"
VIEW = {"journal": SELECTION, "host": "testhost"}
PRIVATE_KEY = "key:\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----\nafter"


async def subscribe(ws: ClientConnection, channel: str, params: dict[str, str]) -> dict[str, Any]:
    await send(ws, {"type": "subscribe", "channel": channel, "params": params})
    return await receive_until(ws, lambda m: m["type"] in {"subscribed", "error"})


async def lines_until(
    ws: ClientConnection, done: Callable[[list[str]], bool], timeout: float = 15.0
) -> list[dict[str, Any]]:
    """The view's lines (no markers) until `done` holds for their texts."""
    lines: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while not done([line["text"] for line in lines]):
            message = await receive(ws, timeout=timeout)
            if message["type"] == "update":
                lines += [line for line in message["data"]["lines"] if not line.get("marker")]
    return lines


def journalctls() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True) if p.name() == "journalctl"]


async def test_a_units_lines_come_live_redacted_and_stop_with_the_lease_then_resume_once(
    nats_server: NatsServer,
    prefix: str,
    journal: Journal,
    gateway_settings: GatewaySettings,
    admin_token: str,
) -> None:
    journal.write(
        Entry("before", priority=4),
        Entry("before, too chatty", priority=6),
        Entry("before, another unit", unit="other.service", priority=3),
    )
    collector = collector_settings_for(nats_server, prefix, journal_directory=journal.directory)
    settings = gateway_settings.model_copy(update={"merge_window_s": 0.3, "log_lease_s": 1.5})
    async with run_collector(collector) as running, serve_gateway(settings) as address:
        url = f"ws://{address}/ws?token={admin_token}"
        async with connect(url) as ws:
            await receive(ws)
            assert (await subscribe(ws, "logs.merged", VIEW))["type"] == "subscribed"
            first = await lines_until(ws, lambda texts: "before" in texts)
            journal.write(
                Entry("live error", priority=3),
                Entry("live debug", priority=7),
                Entry("live, another unit", unit="other.service", priority=0),
                Entry("db at postgres://app:hunter2@db/app", priority=4),
                Entry(PRIVATE_KEY, priority=4),
            )
            live = await lines_until(ws, lambda texts: any("after" in t for t in texts))
        # Nobody watches: the lease lapses, journalctl is stopped.
        await wait_for(lambda: not running.journal.following, "the follower to stop")  # type: ignore[union-attr]
        await wait_for(lambda: not journalctls(), "journalctl to end")
        # What was written meanwhile comes, unless older than five minutes (a long gap
        # would flood the stream).
        journal.write(Entry("long ago", priority=4, age_s=600))
        journal.write(Entry("while nobody watched", priority=4))
        async with connect(url) as ws:
            await receive(ws)
            assert (await subscribe(ws, "logs.merged", VIEW))["type"] == "subscribed"
            again = await lines_until(ws, lambda texts: "while nobody watched" in texts)

    assert [line["text"] for line in first] == ["before"]
    texts = [line["text"] for line in live]
    assert texts == [
        "live error",
        "db at postgres://app:[REDACTED]@db/app",
        "key:\n[REDACTED]\n[REDACTED]\n[REDACTED]\nafter",
    ]
    error = live[0]
    assert (error["host"], error["name"], error["unit"]) == ("testhost", "demo", "demo.service")
    assert (error["priority"], error["stream"]) == (3, "stderr")
    assert live[1]["stream"] == "stdout"
    assert [line["text"] for line in again] == ["while nobody watched"]
    # The stream holds each line once: the second follower started after the first's last.
    async with bus_client(nats_server, prefix) as bus:
        subject = bus.subjects.journal_logs("testhost", JournalSelection.parse(SELECTION).token)
        config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
        messages, _ = await fetch(bus, subject, config, 1000)
    stored = [
        line.text for msg in messages for line in JournalBatch.model_validate_json(msg.data).lines
    ]
    assert collections.Counter(stored) == collections.Counter(["before", *texts, again[0]["text"]])


async def test_journal_selectors_that_do_not_fit_are_refused_saying_why(
    nats_server: NatsServer,
    prefix: str,
    journal: Journal,
    gateway_settings: GatewaySettings,
    admin_token: str,
) -> None:
    refusals = {
        ("logs.merged", "unit=a.service,unit=b.service"): "each at most once",
        ("logs.merged", "priority<=loud"): "priority<=LEVEL",
        ("logs.merged", "unit=$(reboot)"): "unit=NAME",
        ("logs.merged", "unit=" + "a" * 400): "longer than 300",
        ("host.journal", "priority<=8"): "priority<=LEVEL",
    }
    collector = collector_settings_for(nats_server, prefix, journal_directory=journal.directory)
    async with (
        run_collector(collector),
        serve_gateway(gateway_settings) as address,
        connect(f"ws://{address}/ws?token={admin_token}") as ws,
    ):
        await receive(ws)
        for (channel, selector), reason in refusals.items():
            answer = await subscribe(ws, channel, {"journal": selector, "host": "testhost"})
            assert (answer["type"], answer["code"]) == ("error", "INVALID_MESSAGE"), answer
            assert reason in answer["message"], answer
        no_host = await subscribe(ws, "logs.merged", {"journal": "all"})
        assert "give host too" in no_host["message"], no_host
        unknown = await subscribe(ws, "host.journal", {"host": "nohost"})
        assert unknown["code"] == "NOT_FOUND", unknown
        # The canonical form is what is joined: the order of the terms makes no difference.
        turned = await subscribe(
            ws, "logs.merged", {"journal": "priority<=4,unit=x*", "host": "testhost"}
        )
        assert turned["type"] == "subscribed", turned
        assert "journal=unit=x*,priority<=warning" in turned["channel"], turned

    # A collector whose journal is not there refuses the lease, saying so.
    missing = journal.directory / "gone"
    collector = collector_settings_for(nats_server, prefix, journal_directory=missing)
    async with run_collector(collector), bus_client(nats_server, prefix) as bus:
        request = FollowJournal(host="testhost", holder="test", lease_s=5)
        try:
            await ctl.call(bus, Logs.JOURNAL_FOLLOW, request)
        except ctl.Refused as exc:
            refused = exc
        assert refused.code is ErrorCode.UNAVAILABLE
        assert str(missing) in refused.message
