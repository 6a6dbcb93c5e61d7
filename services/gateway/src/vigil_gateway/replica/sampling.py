"""The replica's samples of itself (`GatewaySampled` on `gateway.sampled.{replica}`):
open sockets against the limit, failed sends per second. The alerter's gateway rules
read them (the default rules: sockets near the limit, sends failing); the gateway
raises no alerts of its own.

`Sampler` is pure (the figures of now in, the sample out); `Sampling` feeds it every
`interval_s` and publishes on core NATS: a sample missed while the bus is away is not
worth keeping (the next one says more), and a replica that stops sampling is what a
rule's `stale` condition notices.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import nats.errors

from vigil.bus import Bus
from vigil.lifecycle import stop_task
from vigil.messages import GatewaySampled, utc_now

log = logging.getLogger(__name__)


@dataclass
class Sampler:
    replica: str
    max_sockets: int
    _failures_seen: int = 0
    _last: float | None = None

    def sample(
        self, sockets: int, send_failures_total: int, now: float, *, leaving: bool = False
    ) -> GatewaySampled:
        """The sample at `now` (monotonic seconds): `send_failures_total` failed sends so
        far, counted per second since the previous sample."""
        interval = now - self._last if self._last is not None else 0.0
        failures = send_failures_total - self._failures_seen
        self._failures_seen, self._last = send_failures_total, now
        return GatewaySampled(
            replica=self.replica,
            time=utc_now(),
            interval_s=interval,
            sockets=sockets,
            max_sockets=self.max_sockets,
            sockets_percent=sockets / self.max_sockets * 100.0,
            send_failures_per_s=failures / interval if interval > 0 else 0.0,
            leaving=leaving,
        )


class Sampling:
    """A sample every `interval_s`, and a last one (`leaving`) when stopped."""

    def __init__(
        self,
        bus: Bus,
        sampler: Sampler,
        interval_s: float,
        figures: Callable[[], tuple[int, int]],
    ) -> None:
        self._bus = bus
        self._sampler = sampler
        self._interval_s = interval_s
        self._figures = figures  # open sockets, failed sends so far
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="gateway-sampling")

    async def stop(self) -> None:
        """Stop sampling, saying so (when the bus is there to hear it)."""
        await stop_task(self._task)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.0):
                await self._publish(leaving=True)
                await self._bus.nc.flush()

    async def _run(self) -> None:
        while True:
            await self._publish()
            await asyncio.sleep(self._interval_s)

    async def _publish(self, *, leaving: bool = False) -> None:
        if not self._bus.is_connected:
            return
        sample = self._sampler.sample(*self._figures(), time.monotonic(), leaving=leaving)
        subject = self._bus.subjects.gateway_sampled(self._sampler.replica)
        try:
            await self._bus.nc.publish(subject, sample.model_dump_json().encode())
        except nats.errors.Error as exc:  # the next sample, or the alerter's stale rule
            log.warning("sample of the replica not published: %s", exc)
