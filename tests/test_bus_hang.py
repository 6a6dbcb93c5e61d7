"""A bus that hangs (nats-server SIGSTOPped: its sockets stay open, nothing answers) is
noticed within seconds by every service."""

import asyncio
import contextlib
import signal
import time
from collections.abc import Iterator

import nats.errors as nats_errors

from tests.support import NatsServer, bus_client
from vigil.lifecycle import stop_task

# Pings every second, three unanswered: lost 3-4 s after the freeze (and a little more
# for the event loops of a busy machine to get there).
NOTICED_WITHIN_S = 6.0


@contextlib.contextmanager
def frozen(nats: NatsServer) -> Iterator[float]:
    """nats-server stopped (SIGSTOP) for the block, continued (SIGCONT) after it, also
    when the block fails (the fixture could not stop it otherwise); yields when."""
    assert nats.process is not None
    nats.process.send_signal(signal.SIGSTOP)
    try:
        yield time.monotonic()
    finally:
        nats.process.send_signal(signal.SIGCONT)


async def test_a_busy_connection_hears_of_a_hung_bus_within_seconds_and_leaks_no_socket(
    own_nats_server: NatsServer, prefix: str
) -> None:
    """A service that writes faster than the hung server reads (its socket full): nats-py
    alone says nothing until the server runs again, and leaks a socket per attempt to
    connect again meanwhile (`vigil.nats_client`; a leak fails the test when collected)."""
    nats = own_nats_server
    async with bus_client(nats, prefix) as bus:
        lost, back = asyncio.Event(), asyncio.Event()

        async def on_lost() -> None:
            lost.set()

        async def on_back() -> None:
            back.set()

        bus.on_disconnected(on_lost)
        bus.on_reconnected(on_back)
        payload = b"x" * 65536

        async def write_much() -> None:
            while True:
                if bus.is_connected:
                    with contextlib.suppress(nats_errors.Error):
                        await bus.nc.publish(f"{prefix}.busy", payload)
                await asyncio.sleep(0.001)

        writing = asyncio.create_task(write_much())
        try:
            await asyncio.sleep(1.0)  # the socket's buffers fill
            with frozen(nats) as froze:
                await asyncio.wait_for(lost.wait(), NOTICED_WITHIN_S)
                print(f"a busy connection lost the hung bus after {time.monotonic() - froze:.2f} s")
                await asyncio.sleep(6.0)  # attempts to connect again, each to the hung server
            await asyncio.wait_for(back.wait(), 10)
        finally:
            await stop_task(writing)
