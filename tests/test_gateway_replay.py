"""A private feed's pull (`replay.pull`, which serves journal replays and resumes)
survives every way a fetch can time out: under load nats.py sometimes raises asyncio's
TimeoutError rather than its own, and the pull used to die of it, leaving the client's
journal silent for good (bench/load.py found 2-5 % of 1000 clients short of every live
deploy event). Against a real nats-server, with pulls so short that their deadline
often runs out between nats.py's no-wait probe and its long poll."""

import asyncio
from collections import Counter

import pytest
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy

from tests.support import NatsServer, bus_client, wait_for
from vigil.lifecycle import stop_task
from vigil.streams import DEPLOY_EVENTS
from vigil_gateway import replay


async def test_a_pull_outlives_fetch_timeouts_of_either_kind_and_delivers_what_comes(
    nats_server: NatsServer, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(replay, "WAIT_S", 0.001)
    timeouts: Counter[str] = Counter()
    fetch = replay.JetStreamContext.PullSubscription.fetch

    async def counted(
        self: replay.JetStreamContext.PullSubscription, *a: object, **k: object
    ) -> list[Msg]:
        try:
            return await fetch(self, *a, **k)  # type: ignore[arg-type]
        except TimeoutError as exc:
            timeouts[type(exc).__module__] += 1
            raise

    monkeypatch.setattr(replay.JetStreamContext.PullSubscription, "fetch", counted)
    async with bus_client(nats_server, prefix) as bus:
        await bus.js.add_stream(DEPLOY_EVENTS.config(bus.subjects))
        subject = bus.subjects.deploy_events("d1")
        subscription = await replay.pull_subscription(bus.js, subject, DeliverPolicy.ALL, None)
        got: asyncio.Queue[bytes] = asyncio.Queue(maxsize=10)

        async def deliver(msg: Msg) -> None:
            got.put_nowait(msg.data)

        async def room() -> None:
            await asyncio.sleep(0)

        task = asyncio.create_task(replay.pull(subscription, deliver, room))
        try:
            await wait_for(lambda: timeouts["builtins"] > 0, "asyncio's TimeoutError", 20)
            print(f"fetch timeouts by module: {dict(timeouts)}")
            assert not task.done(), task
            await bus.js.publish(subject, b"after the timeouts")
            assert await asyncio.wait_for(got.get(), 10) == b"after the timeouts"
        finally:
            await stop_task(task)
            await subscription.unsubscribe()
