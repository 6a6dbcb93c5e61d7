"""Helpers of the client tests: a client on fast backoff, reading events with deadlines,
and a small real HTTP proxy that can refuse WebSocket upgrades and event streams, as a
corporate proxy would."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from vigil.messages import Update
from vigil_client import Backoff, Event, Subscription, Tokens, VigilClient

FAST = Backoff(steps=(0.1, 0.2, 0.4), jitter=0.1)


def client_for(address: str, token: str, **options: object) -> VigilClient:
    values: dict[str, object] = {"backoff": FAST, "poll_interval_s": 0.2} | options
    return VigilClient(f"http://{address}", Tokens.of_access_token(token), **values)  # type: ignore[arg-type]


async def events(subscription: Subscription, count: int, timeout: float = 10.0) -> list[Event]:
    """The next `count` events, within `timeout` seconds in all."""
    async with asyncio.timeout(timeout):
        return [await subscription.next() for _ in range(count)]


async def updates_until(
    subscription: Subscription, done: Callable[[list[Update]], bool], timeout: float = 15.0
) -> list[Update]:
    """Updates (other events skipped) until `done` says they are enough."""
    seen: list[Update] = []
    async with asyncio.timeout(timeout):
        while not done(seen):
            event = await subscription.next()
            if isinstance(event, Update):
                seen.append(event)
    return seen


@dataclass
class BlockingProxy:
    """A TCP proxy to `upstream` that reads each request's head and refuses it with 403
    when it is a WebSocket upgrade (`block_websocket`) or an event stream
    (`block_sse`); other requests are passed on (with `Connection: close`, so each
    connection carries one request and each is judged)."""

    upstream: tuple[str, int]
    block_websocket: bool = True
    block_sse: bool = False
    refused: list[str] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def address(self) -> str:
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"{host}:{port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            first, *headers = head.decode("latin-1").split("\r\n")
            names = {h.split(":", 1)[0].strip().lower(): h for h in headers if ":" in h}
            upgrade = "websocket" in names.get("upgrade", "").lower()
            path = first.split(" ")[1] if " " in first else ""
            if (upgrade and self.block_websocket) or (path.startswith("/sse/") and self.block_sse):
                self.refused.append(path)
                writer.write(
                    b"HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\n"
                    b"content-length: 7\r\nconnection: close\r\n\r\nblocked"
                )
                await writer.drain()
                return
            if not upgrade:
                kept = [h for h in headers if h and not h.lower().startswith("connection:")]
                head = "\r\n".join([first, *kept, "Connection: close", "", ""]).encode("latin-1")
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            try:
                up_writer.write(head)
                await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            finally:
                up_writer.close()
                with contextlib.suppress(OSError):
                    await up_writer.wait_closed()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator["BlockingProxy"]:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        try:
            yield self
        finally:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            for task in list(self._tasks):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self._server.wait_closed()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except OSError:
        return
    with contextlib.suppress(OSError):
        if writer.can_write_eof():
            writer.write_eof()


@contextlib.asynccontextmanager
async def proxy_to(gateway: str, **blocks: bool) -> AsyncIterator[BlockingProxy]:
    """A `BlockingProxy` in front of the gateway at `gateway` (host:port)."""
    host, port = gateway.rsplit(":", 1)
    async with BlockingProxy((host, int(port)), **blocks).running() as proxy:
        yield proxy
