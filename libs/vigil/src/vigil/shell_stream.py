"""One end of a shell session's byte stream over NATS, the same at the gateway and at
the deployer: bytes out by credit, bytes and control messages in.

Each end sends on its own subject and listens on the other's. A data message is the
bytes alone; a control message (`vigil.messages.ShellControl`: credit, resize, end)
carries the `Vigil-Shell: control` header. An end may have at most the window the other
end named unacknowledged: it `send`s only what `Credit` allows (waiting when it has
none: the backlog stays in the source, the process or the browser's socket), and grants
back what it has `consumed` in batches of a quarter window. So neither end holds more
than a window of the other's bytes, and a peer that sends past its credit is cut off.
"""

import asyncio
import contextlib
import time
from collections import deque

import nats.errors
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from pydantic import TypeAdapter, ValidationError

from vigil.bus import Bus
from vigil.messages import ShellControl, ShellCredit, ShellEnded, ShellResize

CONTROL_HEADER = "Vigil-Shell"
CHUNK_BYTES = 16_384  # one NATS message of terminal bytes at most

_CONTROL = TypeAdapter[ShellCredit | ShellResize | ShellEnded](ShellControl)

Received = bytes | ShellResize | ShellEnded


class Credit:
    """The bytes this end may still send: the peer's window, then what it grants."""

    def __init__(self, window: int) -> None:
        self._available = window
        self._granted = asyncio.Event()

    def grant(self, size: int) -> None:
        self._available += size
        self._granted.set()

    async def available(self) -> int:
        """The credit there is (at least one byte), waiting while there is none."""
        while self._available <= 0:
            self._granted.clear()
            await self._granted.wait()
        return self._available

    async def take(self, wanted: int) -> int:
        """Up to `wanted` bytes of credit (at least one), waiting while there is none."""
        taken = min(wanted, await self.available())
        self._available -= taken
        return taken


class ShellStream:
    """One end: sends on `outgoing`, listens on `incoming` (`listen`)."""

    def __init__(self, bus: Bus, outgoing: str, *, window: int) -> None:
        self._bus = bus
        self._outgoing = outgoing
        self._window = window  # what the peer may send before this end grants more
        self._batch = max(1, window // 4)
        self._owed = 0
        self._held = 0  # bytes received and not yet consumed
        self._inbox: deque[Received] = deque()
        self._arrived = asyncio.Event()
        self._subscription: Subscription | None = None
        self.credit = Credit(0)  # granted the peer's window once it is known
        self.sent = 0
        self.received = 0
        self.last_active = time.monotonic()

    @property
    def held(self) -> int:
        """Bytes of the peer's held here, waiting to be consumed: at most the window."""
        return self._held

    async def listen(self, incoming: str) -> None:
        self._subscription = await self._bus.nc.subscribe(incoming, cb=self._on_message)

    async def _on_message(self, msg: Msg) -> None:
        if (msg.headers or {}).get(CONTROL_HEADER) == "control":
            try:
                control = _CONTROL.validate_json(msg.data)
            except ValidationError:
                control = ShellEnded(reason="failed", detail="the peer sent a bad control message")
            if isinstance(control, ShellCredit):
                self.credit.grant(control.size)
                return
            self._inbox.append(control)
        elif msg.data:
            self._held += len(msg.data)
            self.received += len(msg.data)
            self.last_active = time.monotonic()
            if self._held > self._window:  # past its credit: cut it off, hold no more
                self._inbox.clear()
                overran = ShellEnded(reason="failed", detail="the peer overran its window")
                self._inbox.append(overran)
            else:
                self._inbox.append(msg.data)
        self._arrived.set()

    async def receive(self) -> Received:
        """The next bytes or control message from the peer (consume the bytes after use)."""
        while not self._inbox:
            self._arrived.clear()
            await self._arrived.wait()
        return self._inbox.popleft()

    async def consumed(self, size: int) -> None:
        """`size` bytes received are gone on (written to the process, or the socket): the
        peer may send them again, granted a quarter window at a time."""
        self._held -= size
        self._owed += size
        if self._owed >= self._batch:
            owed, self._owed = self._owed, 0
            await self.control(ShellCredit(size=owed))

    async def send(self, data: bytes) -> None:
        """Send `data`, waiting for the peer's credit as needed."""
        view = memoryview(data)
        while view:
            size = await self.credit.take(min(len(view), CHUNK_BYTES))
            await self._bus.nc.publish(self._outgoing, bytes(view[:size]))
            view = view[size:]
            self.sent += size
        self.last_active = time.monotonic()

    async def control(self, message: ShellCredit | ShellResize | ShellEnded) -> None:
        await self._bus.nc.publish(
            self._outgoing,
            message.model_dump_json().encode(),
            headers={CONTROL_HEADER: "control"},
        )

    async def idle(self, limit_s: float) -> None:
        """Returns once no byte went either way for `limit_s`."""
        while (left := self.last_active + limit_s - time.monotonic()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(left)  # the time is the condition: it moves with each byte

    async def close(self, ended: ShellEnded | None = None) -> None:
        """Tell the peer it `ended` (unless it was the peer that ended it), stop listening."""
        with contextlib.suppress(nats.errors.Error, TimeoutError):
            if ended is not None:
                await self.control(ended)
            if self._subscription is not None:
                await self._subscription.unsubscribe()
