"""Journal load for scale-out tests: a deploy's journal published at a steady pace, clients
that follow it over WebSocket and, when their socket or its gateway goes away, reconnect
(to the next address) and resume from their last cursor, and the journal's truth as
JetStream holds it, to compare what each client got against.
"""

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import nats.errors
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy
from nats.js.errors import ServiceUnavailableError
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidHandshake, WebSocketException

from vigil.bus import Bus
from vigil.errors import BusUnavailable
from vigil.messages import DeployEvent, DeployState, DeployStep, StepState

_RECONNECT_PAUSE_S = 0.2


class ResumingClient:
    """Follows one deploy's journal on `/ws`, across reconnects, until `stop_at` is seen."""

    def __init__(self, addresses: Sequence[str], token: str, deploy_id: str, first: int) -> None:
        self._addresses = itertools.islice(itertools.cycle(addresses), first, None)
        self._token = token
        self._deploy_id = deploy_id
        self.cursors: list[int] = []
        self.connections = 0
        self.problems: list[dict[str, object]] = []  # gap, reset: never expected on a journal
        self.errors: list[dict[str, object]] = []  # e.g. UNAVAILABLE while NATS fails over
        self.stop_at: int | None = None

    def done(self) -> bool:
        return self.stop_at is not None and bool(self.cursors) and self.cursors[-1] >= self.stop_at

    async def follow(self, subscribed: asyncio.Event | None = None) -> None:
        while not self.done():
            address = next(self._addresses)
            try:
                await self._session(address, subscribed)
            except (OSError, TimeoutError, InvalidHandshake, WebSocketException):
                await asyncio.sleep(_RECONNECT_PAUSE_S)  # its gateway is gone: the next one

    async def _session(self, address: str, subscribed: asyncio.Event | None) -> None:
        url = f"ws://{address}/ws?token={self._token}"
        async with connect(url, open_timeout=5, close_timeout=1, max_size=None) as ws:
            self.connections += 1
            subscribe: dict[str, object] = {
                "type": "subscribe",
                "channel": "deploy",
                "params": {"id": self._deploy_id},
            }
            if self.cursors:
                subscribe["since"] = self.cursors[-1]
            await ws.send(json.dumps(subscribe))
            while not self.done():
                with contextlib.suppress(TimeoutError):
                    message = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                    kind = message["type"]
                    if kind == "subscribed" and subscribed is not None:
                        subscribed.set()
                    elif kind == "update":
                        self.cursors.append(int(message["cursor"]))
                    elif kind in {"gap", "reset"}:
                        self.problems.append(message)
                    elif kind == "error":
                        self.errors.append(message)


def queued(deploy_id: str) -> DeployEvent:
    """A deploy's first event: its journal exists from here (the gateway admits watchers)."""
    return DeployEvent(
        deploy_id=deploy_id,
        step=DeployStep.QUEUE,
        status=StepState.FINISHED,
        state=DeployState.QUEUED,
        message="queued",
        time=datetime.now(UTC),
    )


def progress(deploy_id: str, n: int, total: int) -> DeployEvent:
    return DeployEvent(
        deploy_id=deploy_id,
        step=DeployStep.PULL,
        status=StepState.PROGRESS,
        state=DeployState.RUNNING,
        message=f"load {n}",
        percent=n * 100 / total,
        time=datetime.now(UTC),
    )


async def publish_journal(
    bus: Bus, deploy_id: str, total: int, per_s: float, retry_for_s: float = 30.0
) -> None:
    """`total` progress events at `per_s`; one NATS refuses is sent again until it is taken
    (at least once: the truth below, not this count, is what clients must match)."""
    subject = bus.subjects.deploy_events(deploy_id)
    start = time.monotonic()
    for n in range(total):
        await asyncio.sleep(max(0.0, start + n / per_s - time.monotonic()))
        deadline = time.monotonic() + retry_for_s
        while True:
            try:
                await bus.publish(subject, progress(deploy_id, n, total))
                break
            except BusUnavailable:
                assert time.monotonic() < deadline, f"NATS took no event for {retry_for_s} s"
                await asyncio.sleep(0.1)


async def journal_truth(
    js: JetStreamContext, subject: str, settle_for_s: float = 30.0
) -> list[tuple[int, DeployEvent]]:
    """Every event JetStream holds on `subject`, with its stream sequence, in order.

    Right after a node is killed the cluster may still be electing leaders, and time out the
    stream lookup or the consumer: the whole read is made again for up to `settle_for_s`."""
    deadline = time.monotonic() + settle_for_s
    while True:
        try:
            return await _read_journal(js, subject)
        except _NOT_SETTLED:
            assert time.monotonic() < deadline, f"JetStream did not settle in {settle_for_s} s"
            await asyncio.sleep(0.5)


_NOT_SETTLED = (nats.errors.TimeoutError, nats.errors.NoRespondersError, ServiceUnavailableError)


async def _read_journal(js: JetStreamContext, subject: str) -> list[tuple[int, DeployEvent]]:
    sub = await js.subscribe(subject, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL)
    held: list[tuple[int, DeployEvent]] = []
    try:
        while True:
            msg = await sub.next_msg(timeout=10)
            held.append((msg.metadata.sequence.stream, DeployEvent.model_validate_json(msg.data)))
            if msg.metadata.num_pending == 0:
                return held
    finally:
        await sub.unsubscribe()


def assert_every_load_event_held(held: list[tuple[int, DeployEvent]], total: int) -> None:
    loads = {e.message for _, e in held if e.message.startswith("load ")}
    assert loads == {f"load {n}" for n in range(total)}, "JetStream lost a published event"
