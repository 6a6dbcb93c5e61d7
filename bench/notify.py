"""From an alert published to its webhook received: the notifier against a naive
forwarder, in the same run.

A real nats-server, the notifier as a process (its default settings), a webhook channel
to a receiver on 127.0.0.1 that checks each signature. Alerts are published on
`alerts.host` as the collector publishes a threshold crossing; the baseline is a naive
forwarder in this process (a core NATS subscription that POSTs each alert, signed, with
the same HTTP client, to a second receiver: no JetStream consumer, no marker, no
retry). Two runs: one alert at a time (each waits for both receivers: the latency of a
lone alert), then a burst of `--burst` alerts at once. Prints p50, p95 and max per path;
the target is <= 2 s.

    .venv/bin/python bench/notify.py [--alerts 100] [--burst 500]
"""

import argparse
import asyncio
import hashlib
import hmac
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
from nats.aio.msg import Msg

from tests.notify_support import NotifierProcess, WebhookReceiver, alert, webhook_receiver
from tests.support import NatsServer, bus_client
from vigil.bus import Bus
from vigil.messages import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    AlertChanged,
    ChannelFilter,
    WebhookTarget,
    utc_now,
)
from vigil.records import Records
from vigil.streams import NOTIFY_CHANNELS
from vigil_notifier.channel import ChannelRecord
from vigil_notifier.settings import NotifierSettings

TARGET_S = 2.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def add_webhook(bus: Bus, receiver: WebhookReceiver) -> None:
    """The channel, written where the notifier keeps channels (the harness may)."""
    target = WebhookTarget(url=receiver.url, secret=receiver.secret)
    record = ChannelRecord(
        id="0123456789abcdef",
        name="bench",
        target=target,
        filter=ChannelFilter(),
        created_by="bench",
        created_at=utc_now(),
    )
    channels = await Records.open(bus, NOTIFY_CHANNELS, ChannelRecord)
    await channels.create(record.id, record)


async def naive_forwarder(bus: Bus, receiver: WebhookReceiver, http: aiohttp.ClientSession) -> None:
    """The baseline: each alert POSTed, signed, as it passes on the bus."""

    async def forward(msg: Msg) -> None:
        body = msg.data
        digest = hmac.new(receiver.secret.encode(), body, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: f"sha256={digest}",
            DELIVERY_HEADER: AlertChanged.model_validate_json(body).id,
        }
        async with http.post(receiver.url, data=body, headers=headers) as answer:
            answer.raise_for_status()

    await bus.nc.subscribe(bus.subjects.alerts("host"), cb=forward)


def latencies(receiver: WebhookReceiver, published: dict[str, float]) -> list[float]:
    found: list[float] = []
    for received in receiver.accepted:
        payload = received.payload
        alert_id = payload["alert"]["id"] if "alert" in payload else payload["id"]
        found.append(received.at - published[alert_id])
    return found


async def until_received(receivers: list[WebhookReceiver], count: int, within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while any(len(receiver.accepted) < count for receiver in receivers):
        if time.monotonic() > deadline:
            got = [len(receiver.accepted) for receiver in receivers]
            raise SystemExit(f"not every alert arrived in {within_s} s: {got} of {count}")
        await asyncio.sleep(0.001)


def report(name: str, values: list[float]) -> None:
    print(
        f"  {name:<22} n={len(values):<4} p50 {percentile(values, 0.5) * 1000:7.1f} ms"
        f"   p95 {percentile(values, 0.95) * 1000:7.1f} ms   max {max(values) * 1000:7.1f} ms"
    )


async def run(alerts: int, burst: int) -> None:
    with tempfile.TemporaryDirectory() as store:
        nats = NatsServer(Path(store) / "nats")
        nats.start()
        prefix = "bench"
        defaults = {
            name: getattr(NotifierSettings.model_construct(), name)
            for name in ("send_timeout_s", "ack_wait_s", "retry_backoff_s", "max_attempts")
        }
        notifier = NotifierProcess(nats, prefix, **defaults)
        try:
            async with (
                bus_client(nats, prefix) as bus,
                webhook_receiver() as notified,
                webhook_receiver() as forwarded,
                aiohttp.ClientSession() as http,
            ):
                await add_webhook(bus, notified)
                await notifier.start()
                await naive_forwarder(bus, forwarded, http)
                receivers = [notified, forwarded]

                published: dict[str, float] = {}
                for n in range(alerts):  # one at a time
                    changed = alert(n)
                    published[changed.id] = time.monotonic()
                    await bus.publish(bus.subjects.alerts("host"), changed)
                    await until_received(receivers, n + 1, 30)
                print(f"one alert at a time ({alerts} alerts):")
                report("notifier", latencies(notified, published))
                report("naive forwarder", latencies(forwarded, published))
                lone = percentile(latencies(notified, published), 0.95)

                for receiver in receivers:
                    receiver.accepted.clear()
                published.clear()
                started = time.monotonic()
                burst_alerts = [alert(n) for n in range(alerts, alerts + burst)]
                for changed in burst_alerts:
                    published[changed.id] = started
                subject = bus.subjects.alerts("host")
                await asyncio.gather(*(bus.publish(subject, changed) for changed in burst_alerts))
                await until_received(receivers, burst, 120)
                print(f"a burst of {burst} alerts:")
                report("notifier", latencies(notified, published))
                report("naive forwarder", latencies(forwarded, published))
                spent = max(r.at for r in notified.accepted) - started
                print(f"  notifier: {burst / spent:.0f} deliveries/s over the burst")
                worst = max(latencies(notified, published))
                verdict = "met" if lone <= TARGET_S else "MISSED"
                print(
                    f"target <= {TARGET_S:g} s from alert to webhook: {verdict} "
                    f"(p95 alone {lone * 1000:.1f} ms; worst in the burst {worst:.2f} s)"
                )
        finally:
            notifier.stop()
            nats.stop()


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--alerts", type=int, default=100)
    parser.add_argument("--burst", type=int, default=500)
    args = parser.parse_args()
    asyncio.run(run(args.alerts, args.burst))


if __name__ == "__main__":
    main()
