"""The gateway's alerts on itself (seed 000): sockets near the limit, sends failing.

Raised when open sockets reach `alert_sockets_ratio` of the limit (resolved below
nine tenths of that), or when a check interval saw `alert_send_failures` failed
sends or more (resolved after an interval with none). `SelfWatch` is pure: `Watching`
feeds it the figures every interval and publishes what it says.
"""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from vigil.bus import Bus
from vigil.lifecycle import stop_task
from vigil.messages import AlertChanged, AlertSource, AlertState, utc_now
from vigil.publishing import InOrder


@dataclass
class SelfWatch:
    gateway: str  # a host-like id for the alert
    max_sockets: int
    sockets_ratio: float
    send_failures_per_check: int
    _raised: set[str] = field(default_factory=set)
    _failures_seen: int = 0

    def check(self, sockets: int, send_failures_total: int) -> list[AlertChanged]:
        failures = send_failures_total - self._failures_seen
        self._failures_seen = send_failures_total
        high = self.max_sockets * self.sockets_ratio
        changes = [
            self._step("sockets", sockets, high, over=sockets >= high, under=sockets < high * 0.9),
            self._step(
                "send_failures",
                failures,
                self.send_failures_per_check,
                over=failures >= self.send_failures_per_check,
                under=failures == 0,
            ),
        ]
        return [change for change in changes if change is not None]

    def _step(
        self, metric: str, value: float, threshold: float, *, over: bool, under: bool
    ) -> AlertChanged | None:
        if over and metric not in self._raised:
            self._raised.add(metric)
            state = AlertState.RAISED
        elif under and metric in self._raised:
            self._raised.discard(metric)
            state = AlertState.RESOLVED
        else:
            return None
        verb = "reached" if state is AlertState.RAISED else "is back under"
        return AlertChanged(
            id=f"gateway:{self.gateway}:{metric}",
            state=state,
            source=AlertSource.GATEWAY,
            host=self.gateway,
            metric=metric,
            value=float(value),
            threshold=float(threshold),
            time=utc_now(),
            message=f"gateway {self.gateway}: {metric} {verb} {threshold:g} ({value:g})",
        )


class Watching:
    """The self-watch every `interval_s`: the figures of now checked (`SelfWatch`), and
    the alerts that changed published in order, kept while NATS is away (`InOrder`)."""

    def __init__(
        self, bus: Bus, watch: SelfWatch, interval_s: float, figures: Callable[[], tuple[int, int]]
    ) -> None:
        self._bus = bus
        self._watch = watch
        self._interval_s = interval_s
        self._figures = figures  # open sockets, failed sends so far
        self._alerts_out = InOrder(bus, "the gateway's alerts", max_waiting=1000)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="gateway-watch")

    async def stop(self) -> None:
        await stop_task(self._task)
        await self._alerts_out.close()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            for alert in self._watch.check(*self._figures()):
                await self._alerts_out.send(self._bus.subjects.alerts(alert.source), alert)
