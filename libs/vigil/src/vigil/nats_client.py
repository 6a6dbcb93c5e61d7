"""nats-py's client, mended where a server that hangs leaves it stuck.

A hung server (stopped, overloaded, behind a network that drops packets) keeps its
sockets open and answers nothing. nats-py notices it by its pings and then:

- closes the socket and *waits until it has closed* before it says `disconnected` or
  tries another server. A socket still holding bytes the server does not take never
  closes (asyncio flushes first): with a busy publisher the service never hears of the
  outage, nor fails over to a live node of a cluster, until the server runs again
  (nats-io/nats.py#671). Here the socket is aborted, dropping the unsent bytes;
- opens a socket for each attempt to connect again, which the hung server's kernel
  accepts, and leaves it open when the server's greeting does not come in time: one
  leaked socket per attempt. Here it is aborted.

And one more, seen when a service stops: a flush cancelled while it waits (its drain
cancelled) leaves its future among those the next pongs answer, and the pong that comes
for it raises `InvalidStateError` in the reading task. Here it answers a spare future.

Both through private methods of nats-py's `Client` (pinned in `uv.lock`);
`tests/bus/test_bus_hang.py` fails if either comes back.
"""

import asyncio

from nats.aio.client import Client


class NatsClient(Client):
    """nats-py's `Client`; connect with `connect()` as usual."""

    async def _attempt_reconnect(self) -> None:
        self._abort_socket()  # then its close, awaited by nats-py, is immediate
        await super()._attempt_reconnect()

    async def _process_connect_init(self) -> None:
        try:
            await super()._process_connect_init()
        except BaseException:
            self._abort_socket()
            raise

    def _abort_socket(self) -> None:
        writer = getattr(self._transport, "_io_writer", None)  # TCP and TLS transports
        if writer is not None:
            writer.transport.abort()

    async def _process_pong(self) -> None:
        if self._pongs and self._pongs[0].done():  # its flush was cancelled
            self._pongs[0] = asyncio.get_running_loop().create_future()
        await super()._process_pong()
