"""Delivery markers: one per alert transition and channel, in `NOTIFY_DELIVERIES`, so a
transition reaches each channel once however often JetStream delivers it.

A replica **claims** a delivery before it sends: it creates the marker `sending`, with
its name and a lease (`until`), a revision-checked write that one replica wins. After
the channel took the notification the marker becomes `sent`; after a failed attempt
it is deleted (the next attempt claims it anew); after the last, `dead`. A replica that
finds the marker

- `sent` or `dead`: has nothing to do;
- `sending` within its lease: leaves it to its owner (a live replica never outlasts its
  lease: the lease is longer than any attempt), and looks again when the lease ends;
- `sending` past its lease: its owner died mid-delivery, without knowing whether the
  channel got it. It takes the delivery over and sends (at least once).

So the one window for a duplicate is a replica killed (or cut off from NATS) after the
channel took the notification and before `sent` was written: one KV write, a
millisecond or so. A webhook receiver can close it too: `X-Vigil-Delivery` is the same
on every attempt.
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from vigil.errors import RevisionConflict
from vigil.messages import AlertChanged, utc_now
from vigil.model import Message
from vigil.records import Records

_CLAIM_TRIES = 5


class MarkerState(StrEnum):
    SENDING = "sending"
    SENT = "sent"
    DEAD = "dead"


class Marker(Message):
    state: MarkerState
    replica: str
    until: datetime
    """`sending`: the owner's lease; otherwise when it was written."""


def delivery_key(alert: AlertChanged, channel_id: str) -> str:
    """The marker's key (and the webhook's delivery id): the transition (alert id, state,
    time) and the channel. Subject-safe whatever the alert id holds."""
    transition = f"{alert.id}\n{alert.state}\n{alert.time.isoformat()}"
    return f"{channel_id}_{hashlib.sha256(transition.encode()).hexdigest()[:40]}"


@dataclass(frozen=True)
class Claimed:
    revision: int


@dataclass(frozen=True)
class Finished:
    """Sent (or given up) already: nothing to do."""


@dataclass(frozen=True)
class Busy:
    """Another replica is sending it; look again in `retry_in_s`."""

    retry_in_s: float


Claim = Claimed | Finished | Busy


class Markers:
    def __init__(self, records: Records[Marker], replica: str, lease_s: float) -> None:
        self._records = records
        self._replica = replica
        self._lease = timedelta(seconds=lease_s)

    def _sending(self) -> Marker:
        return Marker(
            state=MarkerState.SENDING, replica=self._replica, until=utc_now() + self._lease
        )

    async def claim(self, key: str) -> Claim:
        for _ in range(_CLAIM_TRIES):
            try:
                return Claimed(await self._records.create(key, self._sending()))
            except RevisionConflict:
                pass
            found = await self._records.get(key)
            if found is None:
                continue  # released between the two: create again
            marker = found.value
            if marker.state is not MarkerState.SENDING:
                return Finished()
            left = (marker.until - utc_now()).total_seconds()
            if left > 0:
                return Busy(left)
            try:  # its owner died mid-delivery: take it over
                return Claimed(await self._records.update(key, self._sending(), found.revision))
            except RevisionConflict:
                continue
        return Busy(1.0)

    async def sent(self, key: str, revision: int) -> None:
        await self._finish(key, revision, MarkerState.SENT)

    async def dead(self, key: str, revision: int) -> None:
        await self._finish(key, revision, MarkerState.DEAD)

    async def _finish(self, key: str, revision: int, state: MarkerState) -> None:
        marker = Marker(state=state, replica=self._replica, until=utc_now())
        await self._records.update(key, marker, revision)

    async def release(self, key: str, revision: int) -> None:
        """After a failed attempt: the next one (any replica's) claims it anew."""
        await self._records.delete(key, revision)
