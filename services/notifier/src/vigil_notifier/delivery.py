"""Alert transitions off the ALERTS stream to every matching channel: at least once,
once per channel.

**At least once.** The replicas share one durable pull consumer on ALERTS (explicit
acks), so each transition goes to one of them; it is acked only when every matching
channel has it (or has given up on it). A replica that dies leaves it unacked, and
JetStream delivers it again after `ack_wait_s`, to any replica.

**Once per channel.** Before sending, a replica claims the (transition, channel) marker
(`markers`); a redelivered transition skips the channels already sent and retries only
those that failed. The one window left is described there.

**Retries.** A transition whose channel failed is nakked with a delay from
`retry_backoff_s` (by the number of deliveries so far); after `max_attempts` the
channel gets a dead letter (`NOTIFY_DEAD_LETTERS`, visible to admins, error masked)
and the transition is acked. A channel that another replica is sending to is looked
at again when that replica's lease ends. A transition waiting for its retry waits in
JetStream, not in the replica; `max_pending` bounds how many may (the consumer's max
ack pending), so one failing channel holds up no other until that bound.

**Intake.** A replica fetches as many transitions as it has room for
(`max_in_flight`), each handled in a task of its own; the matching channels of one
transition are tried concurrently, and webhooks share one aiohttp session.
"""

import asyncio
import contextlib
import logging
from dataclasses import dataclass

import aiohttp
import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import ValidationError

from vigil.bus import Bus
from vigil.errors import BusUnavailable, RevisionConflict
from vigil.lifecycle import stop_task
from vigil.messages import AlertChanged, AlertState, DeadLetter, WebhookTarget, utc_now
from vigil.records import Records
from vigil.streams import ALERTS
from vigil_notifier import apprise_target, webhook
from vigil_notifier.channel import ChannelBook, ChannelRecord, SilenceBook
from vigil_notifier.errors import DeliveryFailed
from vigil_notifier.markers import Busy, Claimed, Markers, delivery_key
from vigil_notifier.matching import silenced_by
from vigil_notifier.settings import NotifierSettings

log = logging.getLogger(__name__)

_FETCH_WAIT_S = 1.0
_BATCH = 32  # transitions fetched at once, at most
_CONNECTIONS = 100  # webhook connections open at once, at most
_PER_HOST = 16  # ... to one host (a receiver is not flooded by one burst)
_BUS_TRIES = 5  # a marker write after a send is tried this often (a short outage)


@dataclass(frozen=True)
class Outcome:
    """What became of one channel: done (now or before), failed (why), or busy elsewhere."""

    failed: str | None = None
    busy_s: float | None = None


def title_of(alert: AlertChanged) -> str:
    return f"[{_transition(alert)}] {alert.id}"


def _transition(alert: AlertChanged) -> str:
    """What happened: raised, resolved, or to a raised alert, its proposal carried out
    (the transition made then) or an acknowledgement."""
    if alert.state is AlertState.RAISED:
        done = alert.proposal.done if alert.proposal is not None else None
        if done is not None and done.time == alert.time:
            return "ACTED"
        if alert.acknowledged is not None:
            return "ACKNOWLEDGED"
    return alert.state.upper()


def body_of(alert: AlertChanged) -> str:
    where = f"{alert.host}" + (f" (cluster {alert.cluster})" if alert.cluster else "")
    body = (
        f"{alert.message}\n\n{alert.metric} = {alert.value:g} (threshold {alert.threshold:g})"
        f" on {where}, {alert.time.isoformat()}; source {alert.source}."
    )
    for kind, heading in (("container", "containers"), ("process", "processes")):
        busiest = [
            f"- {culprit.name} ({'pid ' if kind == 'process' else ''}{culprit.id}): "
            f"CPU {culprit.cpu_percent:.1f} %, memory {culprit.memory_bytes / 2**20:.1f} MiB"
            for culprit in alert.culprits or []
            if culprit.kind == kind
        ]
        if busiest:
            body += f"\n\nBusiest {heading} then:\n" + "\n".join(busiest)
    if alert.log_lines:
        body += "\n\nIts last log lines:\n" + "\n".join(alert.log_lines)
    return body


class Sender:
    """One attempt to reach a channel, whatever its kind."""

    def __init__(self, settings: NotifierSettings) -> None:
        self._timeout_s = settings.send_timeout_s
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """Made on first use, inside the running loop (aiohttp wants one)."""
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=_CONNECTIONS, limit_per_host=_PER_HOST)
            self._session = aiohttp.ClientSession(connector=connector, trust_env=False)
        return self._session

    async def send(self, channel: ChannelRecord, alert: AlertChanged, delivery: str) -> None:
        target = channel.target
        if isinstance(target, WebhookTarget):
            await webhook.send(self.session, target, alert, channel.name, delivery, self._timeout_s)
        else:
            await apprise_target.send(target.url, title_of(alert), body_of(alert), self._timeout_s)

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()


class Delivery:
    def __init__(
        self,
        bus: Bus,
        settings: NotifierSettings,
        channels: ChannelBook,
        markers: Markers,
        dead_letters: Records[DeadLetter],
        sender: Sender,
        silences: SilenceBook | None = None,
    ) -> None:
        self._bus = bus
        self._silences = silences
        self._settings = settings
        self._channels = channels
        self._markers = markers
        self._dead_letters = dead_letters
        self._sender = sender
        self._room = asyncio.Event()  # set while fewer than `max_in_flight` are in hand
        self._room.set()
        self._handling: set[asyncio.Task[None]] = set()
        self._intake: asyncio.Task[None] | None = None
        self._subscription: JetStreamContext.PullSubscription | None = None
        self.delivered = 0  # notifications that reached a channel (the probe's figures)
        self.silenced = 0  # transitions a silence or maintenance window kept back

    async def start(self) -> None:
        """Make the replicas' durable consumer, or bring it to these settings (the ack
        wait and the pending bound can change; where it starts cannot), and take."""
        settings = self._settings
        stream = ALERTS.stream(self._bus.subjects)
        await self._bus.js.add_consumer(
            stream,
            ConsumerConfig(
                name=settings.consumer,
                durable_name=settings.consumer,
                description="The notifiers: each alert transition to its channels.",
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=settings.ack_wait_s,
                deliver_policy=DeliverPolicy.NEW,
                max_ack_pending=settings.max_pending,
            ),
        )
        self._subscription = await self._bus.js.pull_subscribe_bind(
            durable=settings.consumer, stream=stream
        )
        self._intake = asyncio.create_task(self._take(self._subscription), name="notify-intake")

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stop taking transitions; those in hand finish within `grace_s` (the rest are
        redelivered: nothing acked is unfinished)."""
        if self._intake is not None:
            await stop_task(self._intake)
        if self._handling:
            _, late = await asyncio.wait(self._handling, timeout=grace_s)
            for task in late:
                await stop_task(task)
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            with contextlib.suppress(nats.errors.Error):
                await subscription.unsubscribe()

    async def _take(self, subscription: JetStreamContext.PullSubscription) -> None:
        """Fetch as many transitions as there is room for (what is there now, or the
        first to come within a second), each handled in a task of its own."""
        while True:
            await self._room.wait()
            room = self._settings.max_in_flight - len(self._handling)
            try:
                batch = await subscription.fetch(min(room, _BATCH), timeout=_FETCH_WAIT_S)
            except (nats.errors.TimeoutError, TimeoutError):
                continue
            except nats.errors.Error as exc:  # the bus is away: it reconnects by itself
                log.warning("could not fetch alerts (again in a second): %s", exc)
                await asyncio.sleep(_FETCH_WAIT_S)
                continue
            for msg in batch:
                task = asyncio.create_task(self._handle(msg))
                self._handling.add(task)
                task.add_done_callback(self._done)
            if len(self._handling) >= self._settings.max_in_flight:
                self._room.clear()

    def _done(self, task: asyncio.Task[None]) -> None:
        self._handling.discard(task)
        self._room.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("handling an alert failed", exc_info=task.exception())

    async def _handle(self, msg: Msg) -> None:
        try:
            alert = AlertChanged.model_validate_json(msg.data)
        except ValidationError as exc:
            log.error("dropping a malformed alert on %s: %s", msg.subject, exc)
            await msg.term()
            return
        attempt = msg.metadata.num_delivered or 1
        try:
            channels = await self._channels.current()
            silences = await self._silences.current() if self._silences is not None else []
        except (BusUnavailable, nats.errors.Error, TimeoutError) as exc:
            log.warning("no channel list for %s (retried): %s", alert.id, exc)
            await _settle(msg, self._settings.backoff_s(attempt))
            return
        silence = next((s for s in silences if silenced_by(s, alert)), None)
        if silence is not None:
            kind = "maintenance window" if silence.maintenance else "silence"
            log.info("%s %s not delivered: %s %s", alert.id, alert.state, kind, silence.id)
            self.silenced += 1
            await _settle(msg, None)
            return
        wanted = [channel for channel in channels if channel.wants(alert)]
        outcomes = await asyncio.gather(
            *(self._deliver(alert, channel, attempt) for channel in wanted)
        )
        failed = [outcome for outcome in outcomes if outcome.failed is not None]
        busy = [outcome.busy_s for outcome in outcomes if outcome.busy_s is not None]
        if not failed and not busy:
            await _settle(msg, None)
            return
        delays = list(busy)
        if failed:
            delays.append(self._settings.backoff_s(attempt))
        await _settle(msg, max(delays))

    async def _deliver(self, alert: AlertChanged, channel: ChannelRecord, attempt: int) -> Outcome:
        key = delivery_key(alert, channel.id)
        try:
            claim = await self._markers.claim(key)
        except (BusUnavailable, nats.errors.Error, TimeoutError) as exc:
            return Outcome(failed=f"the bus: {exc}")
        if isinstance(claim, Busy):
            return Outcome(busy_s=claim.retry_in_s)
        if not isinstance(claim, Claimed):
            return Outcome()
        try:
            await self._sender.send(channel, alert, key)
        except DeliveryFailed as exc:
            return await self._failed(alert, channel, key, claim.revision, attempt, exc.reason)
        self.delivered += 1
        log.info("%s %s -> channel %s", alert.id, alert.state, channel.name)
        await self._finish(key, claim.revision)
        return Outcome()

    async def _finish(self, key: str, revision: int) -> None:
        for attempt in range(_BUS_TRIES):
            try:
                await self._markers.sent(key, revision)
                return
            except RevisionConflict:
                return  # taken over (we outlived our lease): the new owner decides
            except (BusUnavailable, nats.errors.Error, TimeoutError) as exc:
                if attempt == _BUS_TRIES - 1:
                    log.error("sent %s but could not mark it (it may be sent again): %s", key, exc)
                    return
                await asyncio.sleep(0.2 * (attempt + 1))

    async def _failed(
        self,
        alert: AlertChanged,
        channel: ChannelRecord,
        key: str,
        revision: int,
        attempt: int,
        reason: str,
    ) -> Outcome:
        log.warning(
            "%s %s -> channel %s failed (attempt %d): %s",
            alert.id,
            alert.state,
            channel.name,
            attempt,
            reason,
        )
        try:
            if attempt < self._settings.max_attempts:
                await self._markers.release(key, revision)
                return Outcome(failed=reason)
            letter = DeadLetter(
                channel_id=channel.id,
                channel_name=channel.name,
                alert_id=alert.id,
                state=alert.state,
                alert_time=alert.time,
                attempts=attempt,
                error=reason,
                time=utc_now(),
            )
            await self._dead_letters.put(key, letter)
            await self._markers.dead(key, revision)
            log.error(
                "gave up on %s %s -> channel %s: %s", alert.id, alert.state, channel.name, reason
            )
        except (BusUnavailable, nats.errors.Error, TimeoutError, RevisionConflict) as exc:
            log.warning("could not record the failure of %s (retried): %s", key, exc)
            return Outcome(failed=reason)
        return Outcome()


async def _settle(msg: Msg, retry_in_s: float | None) -> None:
    """Ack (None), or nak to see it again in `retry_in_s`. Lost with the bus, it is
    delivered again after the ack wait all the same: the markers say what is done."""
    try:
        if retry_in_s is None:
            await msg.ack()
        else:
            await msg.nak(delay=retry_in_s)
    except nats.errors.Error as exc:
        log.warning("could not answer JetStream for %s (redelivered): %s", msg.subject, exc)
