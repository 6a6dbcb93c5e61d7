"""Every socket on every replica (seed 003's live list of connections).

Each gateway answers `ctl.gateway.connections` with its own sockets; the one serving
`GET /api/connections` asks them all at once and gathers the answers until they stop
coming (no replica knows how many there are). Each gateway also announces every
socket it opens and closes on `gateway.connections`, which the `connections` channel
streams to admins.
"""

import asyncio
import contextlib
import logging
import time

import nats.errors
from nats.aio.msg import Msg

from vigil.bus import Bus
from vigil.messages import (
    ConnectionChanged,
    ConnectionInfo,
    GatewayConnections,
    ListConnections,
    utc_now,
)

log = logging.getLogger(__name__)

_QUIET_S = 0.25  # no new answer for this long: everyone answered
_LONGEST_S = 2.0


def subject(bus: Bus) -> str:
    return bus.subjects.ctl("gateway", "connections")


async def answer(msg: Msg, own: GatewayConnections) -> None:
    if msg.reply:
        with contextlib.suppress(nats.errors.Error):
            await msg.respond(own.model_dump_json().encode())


async def gather(bus: Bus) -> list[GatewayConnections]:
    """Ask every replica for its sockets and gather what comes back."""
    inbox = bus.nc.new_inbox()
    answers: asyncio.Queue[bytes] = asyncio.Queue(maxsize=10_000)

    async def collect(msg: Msg) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            answers.put_nowait(msg.data)

    subscription = await bus.nc.subscribe(inbox, cb=collect)
    gathered: list[GatewayConnections] = []
    try:
        await bus.nc.publish(
            subject(bus), ListConnections().model_dump_json().encode(), reply=inbox
        )
        deadline = time.monotonic() + _LONGEST_S
        while (left := deadline - time.monotonic()) > 0:
            try:
                data = await asyncio.wait_for(answers.get(), min(_QUIET_S, left))
            except TimeoutError:
                break
            gathered.append(GatewayConnections.model_validate_json(data))
    finally:
        await subscription.unsubscribe()
    return gathered


async def announce(bus: Bus, event: str, info: ConnectionInfo, code: int | None = None) -> None:
    """Tell the `connections` channel; lost if NATS is away (the list stays right)."""
    if not bus.is_connected:
        return
    change = ConnectionChanged.model_validate(
        {"event": event, "connection": info, "code": code, "time": utc_now()}
    )
    with contextlib.suppress(nats.errors.Error):
        await bus.nc.publish(bus.subjects.gateway_connections(), change.model_dump_json().encode())
