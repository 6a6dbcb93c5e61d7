"""Alert transitions reach their channels: a signed webhook and an email, each once."""

import asyncio
import logging
import time
from email.message import Message as EmailMessage
from typing import Any

import pytest

from tests.notify_support import (
    NotifierProcess,
    WebhookReceiver,
    add_channel,
    alert,
    notifier_settings_for,
    publish,
    run_notifier,
    smtp_server,
    webhook_draft,
    webhook_receiver,
)
from tests.support import NatsServer, bus_client, wait_for
from vigil.bus import Bus
from vigil.messages import AlertState, Culprit
from vigil.streams import ALERTS

SETTLE_S = 30.0


async def settled(bus: Bus, consumer: str = "notifiers", timeout: float = SETTLE_S) -> None:
    """Until the notifiers' consumer has every transition acked: nothing more goes out."""
    stream = ALERTS.stream(bus.subjects)
    deadline = time.monotonic() + timeout
    while True:
        info = await bus.js.consumer_info(stream, consumer)
        if info.num_pending == 0 and info.num_ack_pending == 0:
            return
        assert time.monotonic() < deadline, f"not settled in {timeout} s: {info}"
        await asyncio.sleep(0.05)


def once_each(receiver: WebhookReceiver, count: int) -> None:
    deliveries = [received.delivery for received in receiver.accepted]
    assert len(deliveries) == count, deliveries
    assert len(set(deliveries)) == count, deliveries
    assert receiver.bad_signatures == 0


async def test_a_raised_and_a_resolved_alert_reach_a_webhook_and_an_email(
    nats_server: NatsServer, prefix: str, admin_token: str
) -> None:
    settings = notifier_settings_for(nats_server, prefix)
    with smtp_server() as (mailto, inbox):
        async with (
            webhook_receiver() as receiver,
            bus_client(nats_server, prefix) as bus,
            run_notifier(settings),
        ):
            await add_channel(bus, admin_token, webhook_draft(receiver))
            email = {"name": "ops mail", "target": {"kind": "apprise", "url": mailto}}
            await add_channel(bus, admin_token, email)

            busy = Culprit(
                name="busy-worker", id="0123abcd4567", cpu_percent=187.5, memory_bytes=3 << 20
            )
            last_lines = ["2026-12-06T09:00:00+00:00 out of cheese"]  # as a pod alert has
            raised = alert(1).model_copy(update={"culprits": [busy], "log_lines": last_lines})
            await publish(bus, raised)
            resolved = alert(1).model_copy(update={"state": AlertState.RESOLVED})
            await publish(bus, resolved)

            await wait_for(lambda: len(receiver.accepted) == 2, "two webhook calls", 15)
            await wait_for(lambda: len(inbox) == 2, "two emails", 15)
            await settled(bus)

        once_each(receiver, 2)
        states = sorted(payload["alert"]["state"] for payload in receiver.payloads())
        assert states == ["raised", "resolved"]
        assert {payload["channel"] for payload in receiver.payloads()} == {"hook"}
        first = next(p["alert"] for p in receiver.payloads() if p["alert"]["state"] == "raised")
        assert first["id"] == raised.id
        assert first["culprits"] == [busy.model_dump(mode="json")]
        subjects = sorted(str(message["Subject"]) for message in inbox)
        assert subjects == [f"[RAISED] {raised.id}", f"[RESOLVED] {raised.id}"]
        assert all(message["To"] == "ops@example.com" for message in inbox)
        raised_mail = next(m for m in inbox if str(m["Subject"]).startswith("[RAISED]"))
        plain = raised_mail.get_payload(0)
        assert isinstance(plain, EmailMessage)
        text = plain.get_payload(decode=True).decode()
        assert "CPU at 97.5 % on h1" in text
        assert "busy-worker (0123abcd4567): CPU 187.5 %, memory 3.0 MiB" in text  # the culprit
        words = " ".join(text.split())  # the mail's text wraps the body's lines
        assert "Its last log lines: 2026-12-06T09:00:00+00:00 out of cheese" in words
        assert first["log_lines"] == last_lines


async def test_a_webhook_template_shapes_the_payload_and_filters_pick_the_transitions(
    nats_server: NatsServer, prefix: str, admin_token: str
) -> None:
    template = '{"text": "{{id}} is {{state}} ({{channel}})", "value": "{{value}}", "n": 1}'
    settings = notifier_settings_for(nats_server, prefix)
    async with (
        webhook_receiver() as receiver,
        bus_client(nats_server, prefix) as bus,
        run_notifier(settings),
    ):
        only_raised_cpu_7 = {"states": ["raised"], "alert_ids": "host:*:cpu:7"}
        draft = webhook_draft(receiver, target={"template": template}, filter=only_raised_cpu_7)
        await add_channel(bus, admin_token, draft)
        for changed in (alert(6), alert(7), alert(7, AlertState.RESOLVED)):
            await publish(bus, changed)
        await wait_for(lambda: len(receiver.accepted) == 1, "the one matching transition")
        await settled(bus)

    once_each(receiver, 1)
    assert receiver.payloads() == [
        {"text": "host:h1:cpu:7 is raised (hook)", "value": 97.5, "n": 1}
    ]


async def test_a_receiver_down_for_a_while_gets_every_notification_afterwards_once(
    nats_server: NatsServer, prefix: str, admin_token: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "vigil_notifier")
    settings = notifier_settings_for(nats_server, prefix)
    async with (
        webhook_receiver() as receiver,
        bus_client(nats_server, prefix) as bus,
        run_notifier(settings),
    ):
        await add_channel(bus, admin_token, webhook_draft(receiver))
        await receiver.stop()  # down: connections refused

        for n in range(5):
            await publish(bus, alert(n))
            await publish(bus, alert(n, AlertState.RESOLVED))

        def failures() -> int:
            return sum("failed (attempt" in record.getMessage() for record in caplog.records)

        await wait_for(lambda: failures() >= 30, "three failed attempts per transition", 20)
        assert not receiver.accepted
        await receiver.start()  # back, on the same port

        await wait_for(lambda: len(receiver.accepted) == 10, "every transition", 20)
        await settled(bus)

    once_each(receiver, 10)
    secret_parts = ("T0KEN-in-the-path", "query-secret-123", receiver.secret)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert not [part for part in secret_parts if part in logged], logged


async def test_two_replicas_share_the_work_and_deliver_each_transition_once(
    nats_server: NatsServer, prefix: str, admin_token: str
) -> None:
    settings = notifier_settings_for(nats_server, prefix)
    async with (
        webhook_receiver() as receiver,
        bus_client(nats_server, prefix) as bus,
        run_notifier(settings) as first,
        run_notifier(settings) as second,
    ):
        await add_channel(bus, admin_token, webhook_draft(receiver))
        for n in range(20):
            await publish(bus, alert(n))
            await publish(bus, alert(n, AlertState.RESOLVED))
        await wait_for(lambda: len(receiver.accepted) == 40, "every transition", 20)
        await settled(bus)
        shares = [replica.delivery.delivered for replica in (first, second) if replica.delivery]

    once_each(receiver, 40)
    assert sum(shares) == 40
    assert all(share > 0 for share in shares), shares


async def test_a_notifier_killed_mid_delivery_loses_nothing_and_sends_nothing_twice(
    nats_server: NatsServer, prefix: str, admin_token: str
) -> None:
    options: dict[str, Any] = {"send_timeout_s": 1.0}
    async with webhook_receiver() as receiver, bus_client(nats_server, prefix) as bus:
        first = NotifierProcess(nats_server, prefix, **options)
        second = NotifierProcess(nats_server, prefix, **options)
        try:
            await first.start()
            await add_channel(bus, admin_token, webhook_draft(receiver))
            receiver.hold = True  # the calls arrive and are never answered
            for n in range(3):
                await publish(bus, alert(n))
            await wait_for(lambda: len(receiver.held) == 3, "three calls in flight", 15)

            first.kill()  # mid-delivery: sent, not answered, not marked
            receiver.hold = False
            await second.start()
            await publish(bus, alert(3))  # one more, after the restart
            await wait_for(lambda: len(receiver.accepted) == 4, "every transition", 30)
            await settled(bus)
        finally:
            first.kill()
            second.stop()

    once_each(receiver, 4)
    assert set(receiver.held) < {received.delivery for received in receiver.accepted}


async def test_alerts_raised_while_no_notifier_runs_are_delivered_when_one_starts(
    nats_server: NatsServer, prefix: str, admin_token: str
) -> None:
    settings = notifier_settings_for(nats_server, prefix)
    async with webhook_receiver() as receiver, bus_client(nats_server, prefix) as bus:
        async with run_notifier(settings):  # makes the durable consumer
            await add_channel(bus, admin_token, webhook_draft(receiver))
        for n in range(3):  # none runs now
            await publish(bus, alert(n))
        async with run_notifier(settings):
            await wait_for(lambda: len(receiver.accepted) == 3, "the alerts kept for it", 15)
            await settled(bus)

    once_each(receiver, 3)


async def test_a_channel_that_keeps_failing_holds_up_no_other(
    nats_server: NatsServer, prefix: str, admin_token: str
) -> None:
    settings = notifier_settings_for(nats_server, prefix, max_pending=4)
    async with (
        webhook_receiver() as healthy,
        webhook_receiver() as broken,
        bus_client(nats_server, prefix) as bus,
        run_notifier(settings),
    ):
        await add_channel(bus, admin_token, webhook_draft(healthy))
        await add_channel(bus, admin_token, webhook_draft(broken, name="broken"))
        await broken.stop()
        for n in range(3):
            await publish(bus, alert(n))
        await wait_for(lambda: len(healthy.accepted) == 3, "the healthy channel's three", 10)
        # those three wait for their retries; the bound on pending ones lets a fourth in
        await publish(bus, alert(3))
        await wait_for(lambda: len(healthy.accepted) == 4, "the fourth too", 10)
        await broken.start()
        await wait_for(lambda: len(broken.accepted) == 4, "the broken one's, once back", 20)
        await settled(bus)

    once_each(healthy, 4)
    once_each(broken, 4)
