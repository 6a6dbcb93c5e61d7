"""Publishing through an outage (`vigil.publishing`): a message sent again under its id
is kept once, and what waited while the bus was away goes out, in order, once it is
back, without another message to carry it. A real nats-server, stopped and started."""

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from tests.support import NatsServer, bus_client, wait_for
from vigil.bus import Bus
from vigil.errors import BusUnavailable
from vigil.messages import AlertChanged, AlertState, utc_now
from vigil.publishing import InOrder, Outgoing, deliver


def alert(n: int) -> AlertChanged:
    return AlertChanged(
        id=f"host:testhost:cpu:{n}",
        state=AlertState.RAISED,
        source="host",
        host="testhost",
        metric="cpu",
        value=float(n),
        threshold=90.0,
        time=utc_now(),
        message=f"alert {n}",
    )


async def held(bus: Bus, subject: str) -> list[str]:
    """The messages of `subject` the stream holds, in order."""
    js = bus.js
    stream = await js.find_stream_name_by_subject(subject)
    count = ((await js.stream_info(stream, subjects_filter=subject)).state.subjects or {}).get(
        subject, 0
    )
    reader = await js.subscribe(subject, stream=stream, ordered_consumer=True)
    try:
        return [
            AlertChanged.model_validate_json((await reader.next_msg(timeout=5)).data).message
            for _ in range(count)
        ]
    finally:
        await reader.unsubscribe()


@contextlib.asynccontextmanager
async def connected(nats: NatsServer, prefix: str) -> AsyncIterator[Bus]:
    async with bus_client(nats, prefix) as bus:
        nats.provision(prefix)
        yield bus


async def test_a_message_sent_again_under_its_id_is_kept_once(
    nats_server: NatsServer, prefix: str
) -> None:
    async with connected(nats_server, prefix) as bus:
        subject = bus.subjects.alerts("host")
        outgoing = Outgoing(subject, alert(1))
        first = await deliver(bus, outgoing)
        again = await deliver(bus, outgoing)  # as after a publish that timed out
        other = await deliver(bus, Outgoing(subject, alert(1)))  # the same text, a new message
        assert again == first
        assert other == first + 1
        assert await held(bus, subject) == ["alert 1", "alert 1"]


async def test_what_waited_while_the_bus_was_away_goes_out_in_order_once_it_is_back(
    own_nats_server: NatsServer, prefix: str
) -> None:
    nats = own_nats_server
    async with connected(nats, prefix) as bus:
        subject = bus.subjects.alerts("host")
        alerts = InOrder(bus, "test alerts")
        try:
            await alerts.send(subject, alert(1))
            nats.stop()
            for n in (2, 3, 4):
                await alerts.send(subject, alert(n))  # not acked: they wait
            assert alerts.waiting == 3
            nats.start()
            # No further `send`: the bus coming back is what sends them.
            await wait_for(lambda: not alerts.waiting, "the waiting alerts to go out", 15)
            assert await held(bus, subject) == ["alert 1", "alert 2", "alert 3", "alert 4"]
        finally:
            await alerts.close()


async def test_put_queues_without_waiting_and_keeps_the_order_through_an_outage(
    own_nats_server: NatsServer, prefix: str
) -> None:
    nats = own_nats_server
    async with connected(nats, prefix) as bus:
        subject = bus.subjects.alerts("host")
        alerts = InOrder(bus, "test alerts")
        try:
            for n in range(1, 51):  # many at once: one sending task takes them all
                alerts.put(subject, alert(n))
            assert alerts.waiting == 50  # queued; nothing sent before the loop turns
            await wait_for(lambda: not alerts.waiting, "the first fifty to go out", 15)
            nats.stop()
            for n in (51, 52):
                alerts.put(subject, alert(n))
            nats.start()
            await wait_for(lambda: not alerts.waiting, "the two to go out once it is back", 15)
            alerts.put(subject, alert(53))
        finally:
            await alerts.close(within_s=5)  # what `put` queued last goes out before the end
        assert alerts.waiting == 0
        assert await held(bus, subject) == [f"alert {n}" for n in range(1, 54)]


async def test_deliver_waits_for_the_bus_and_gives_up_after_its_bound(
    own_nats_server: NatsServer, prefix: str
) -> None:
    nats = own_nats_server
    async with connected(nats, prefix) as bus:
        subject = bus.subjects.alerts("host")
        nats.stop()
        with pytest.raises(BusUnavailable, match=r"no ack within 0\.5 s"):
            await deliver(bus, Outgoing(subject, alert(1)), within_s=0.5)
        waiting = asyncio.create_task(deliver(bus, Outgoing(subject, alert(2))))
        await asyncio.sleep(0.5)  # the bus is away: it waits, sends nothing
        assert not waiting.done()
        nats.start()
        sequence = await asyncio.wait_for(waiting, 15)
        assert await held(bus, subject) == ["alert 2"]
        assert sequence >= 1


async def test_messages_published_together_are_acked_each_in_order_and_refused_each_clearly(
    own_nats_server: NatsServer, prefix: str
) -> None:
    async with connected(own_nats_server, prefix) as bus:
        subject = bus.subjects.alerts("host")
        ids = [f"id-{n}" for n in range(300)]
        first = await bus.publish_together([(subject, alert(n), ids[n]) for n in range(300)])
        assert all(isinstance(seq, int) for seq in first)
        assert first == sorted(first)  # stored in the order written
        assert len(set(first)) == 300  # each once
        # Sent again under their ids (a publisher that was told nothing in time): each is
        # acked with the sequence it got the first time, and none is kept twice.
        again = await bus.publish_together([(subject, alert(n), ids[n]) for n in range(3)])
        assert again == first[:3]
        assert await held(bus, subject) == [f"alert {n}" for n in range(300)]
        # A subject no stream takes: refused, each, saying so; the others are kept.
        mixed = await bus.publish_together(
            [(subject, alert(300), None), ("nostream.here", alert(301), None)]
        )
        assert isinstance(mixed[0], int)
        assert isinstance(mixed[1], BusUnavailable), mixed
        assert await bus.publish_together([]) == []

        own_nats_server.stop()
        away = await bus.publish_together([(subject, alert(302), None)] * 2)
        assert all(isinstance(failure, BusUnavailable) for failure in away), away
