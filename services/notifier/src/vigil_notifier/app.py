"""The notifier service: delivers alert transitions to channels (`delivery`) and answers
`ctl.notify.*` (`handlers`).

Every replica does both: requests in one queue group, transitions from one durable
consumer that the replicas share, so scaling out shares the work and a replica that
dies leaves nothing undelivered (its transitions are redelivered to the others).
"""

import asyncio
import logging
import uuid

from vigil.audit_trail import AuditTrail
from vigil.authority import bus_verifier
from vigil.broker import ServiceBroker
from vigil.bus import Bus
from vigil.bus_doc import DESCRIPTIONS
from vigil.busauth.permissions import ServiceRole
from vigil.messages import DeadLetter, Silence
from vigil.records import Records
from vigil.streams import (
    ALERT_SILENCES,
    ALERTS,
    AUDIT,
    NOTIFY_CHANNELS,
    NOTIFY_DEAD_LETTERS,
    NOTIFY_DELIVERIES,
)
from vigil_notifier import apprise_target
from vigil_notifier.channel import ChannelBook, ChannelRecord, SilenceBook
from vigil_notifier.delivery import Delivery, Sender
from vigil_notifier.handlers import Handlers, serve
from vigil_notifier.markers import Marker, Markers
from vigil_notifier.settings import NotifierSettings

log = logging.getLogger(__name__)


class NotifierService:
    def __init__(self, settings: NotifierSettings) -> None:
        self.settings = settings
        self.replica = f"notifier-{uuid.uuid4().hex[:8]}"
        self.bus = Bus(
            settings,
            name="vigil-notifier",
            role=ServiceRole.NOTIFIER,
            streams=[ALERTS, AUDIT],
            buckets=[NOTIFY_CHANNELS, NOTIFY_DELIVERIES, NOTIFY_DEAD_LETTERS, ALERT_SILENCES],
        )
        self.trail = AuditTrail(self.bus, "notifier")
        self.ready = asyncio.Event()  # set once requests are answered and alerts taken
        self.delivery: Delivery | None = None

    @property
    def healthy(self) -> bool:
        return self.ready.is_set() and self.bus.is_connected

    async def run(self) -> None:
        """Serve until cancelled; then stop taking alerts (those in hand finish, within a
        grace) and drain."""
        await asyncio.to_thread(apprise_target.warm_up)
        await self.bus.connect()
        broker = ServiceBroker(self.bus, self.settings, description=DESCRIPTIONS["notify"])
        sender = Sender(self.settings)
        try:
            channels = await Records.open(self.bus, NOTIFY_CHANNELS, ChannelRecord)
            dead_letters = await Records.open(self.bus, NOTIFY_DEAD_LETTERS, DeadLetter)
            markers = Markers(
                await Records.open(self.bus, NOTIFY_DELIVERIES, Marker),
                self.replica,
                self.settings.lease_s,
            )
            handlers = Handlers(channels, dead_letters, sender, self.trail)
            serve(broker, handlers, bus_verifier(self.bus))
            await broker.start()
            book = ChannelBook(channels, self.bus.js, NOTIFY_CHANNELS.stream(self.bus.subjects))
            silences = SilenceBook(
                await Records.open(self.bus, ALERT_SILENCES, Silence),
                self.bus.js,
                ALERT_SILENCES.stream(self.bus.subjects),
            )
            self.delivery = Delivery(
                self.bus, self.settings, book, markers, dead_letters, sender, silences
            )
            await self.delivery.start()
            self.ready.set()
            log.info("notifying as %s", self.replica)
            await asyncio.Event().wait()
        finally:
            self.ready.clear()
            try:
                if self.delivery is not None:
                    await self.delivery.stop()
            finally:
                try:
                    await broker.stop()
                    await self.trail.close()  # the last channel changes, within a grace
                finally:
                    try:
                        await sender.close()
                    finally:
                        await self.bus.close()


def build_app(settings: NotifierSettings) -> NotifierService:
    return NotifierService(settings)
