"""The alert book (`ALERT_BOOK`): every alert's latest transition, of every source, and
its acknowledgement — what `ctl.alerts.list` answers and an acknowledgement checks.

The replicas share one durable consumer on ALERTS (`alert-book`, from the first alert
the stream keeps), so each transition is written once, by one of them; a replica that
dies leaves its transitions unacked, and another writes them after the ack wait. An
older transition than the one kept (a redelivery after a newer one) changes nothing.
"""

import asyncio
import contextlib
import logging

import nats.errors
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import ValidationError

from vigil.bus import Bus
from vigil.errors import BusUnavailable
from vigil.lifecycle import stop_task
from vigil.messages import AlertChanged, AlertRecord, AlertState
from vigil.records import Records, record_key
from vigil.streams import ALERTS

log = logging.getLogger(__name__)

CONSUMER = "alert-book"
_BATCH = 64
_FETCH_WAIT_S = 1.0
_ACK_WAIT_S = 30.0


def next_record(alert: AlertChanged, kept: AlertRecord | None) -> AlertRecord | None:
    """What the book holds after `alert`; None: `kept` stays (it is newer)."""
    if kept is not None and alert.time < kept.alert.time:
        return None
    acknowledged = alert.acknowledged
    if (
        acknowledged is None
        and kept is not None
        and kept.acknowledged is not None
        and kept.alert.state is AlertState.RAISED
        and alert.state is AlertState.RESOLVED
    ):
        acknowledged = kept.acknowledged  # resolved after an acknowledgement: who, kept
    return AlertRecord(alert=alert, acknowledged=acknowledged)


async def write(book: Records[AlertRecord], alert: AlertChanged) -> None:
    key = record_key(alert.id)
    found = await book.get(key)
    record = next_record(alert, found.value if found is not None else None)
    if record is not None:
        await book.put(key, record)


class BookKeeper:
    def __init__(self, bus: Bus, book: Records[AlertRecord]) -> None:
        self._bus = bus
        self._book = book
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        stream = ALERTS.stream(self._bus.subjects)
        config = ConsumerConfig(
            durable_name=CONSUMER,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=_ACK_WAIT_S,
        )
        with contextlib.suppress(nats.js.errors.BadRequestError):  # made by another replica
            await self._bus.js.add_consumer(stream, config)
        subscription = await self._bus.js.pull_subscribe_bind(durable=CONSUMER, stream=stream)
        self._task = asyncio.create_task(self._take(subscription))

    async def stop(self) -> None:
        if self._task is not None:
            await stop_task(self._task)

    async def _take(self, subscription: "nats.js.JetStreamContext.PullSubscription") -> None:
        while True:
            try:
                batch = await subscription.fetch(_BATCH, timeout=_FETCH_WAIT_S)
            except (nats.errors.TimeoutError, TimeoutError):
                continue
            except (BusUnavailable, nats.errors.Error) as exc:
                log.warning("the alert book waits for the bus: %s", exc)
                await asyncio.sleep(1.0)
                continue
            for msg in batch:
                try:
                    alert = AlertChanged.model_validate_json(msg.data)
                except ValidationError:
                    await msg.term()
                    continue
                try:
                    await write(self._book, alert)
                except (BusUnavailable, nats.errors.Error, TimeoutError) as exc:
                    log.warning("%s not written in the book (again later): %s", alert.id, exc)
                    with contextlib.suppress(nats.errors.Error):
                        await msg.nak(delay=1.0)
                    continue
                with contextlib.suppress(nats.errors.Error):
                    await msg.ack()
