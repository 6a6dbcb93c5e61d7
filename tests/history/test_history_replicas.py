"""Replicas share the roll-ups window by window: each window is rolled up exactly once,
whichever replica does it, and one that dies mid-way leaves no hole and no double."""

import asyncio
import signal
import time

import nats.js.errors

from tests.history_support import (
    HOST,
    TIERS,
    Container,
    docker_sample,
    frame_windows,
    history_process,
    history_settings_for,
    mark_of,
    query,
    rolled_up_to,
    roller_for,
    run_history,
    write_samples,
)
from tests.support import NatsServer, bus_client, until
from vigil.bus import Bus
from vigil.messages import DockerStatsSampled, HistoryKind
from vigil.streams import HISTORY_CLAIMS
from vigil_history.roller import Source


def hour_of_samples(start: int) -> list[DockerStatsSampled]:
    return [
        docker_sample(
            start + 2 * i,
            [Container(f"c{k}", f"{k:012x}", float((i + k) % 50), 10**6 * k + i) for k in range(5)],
        )
        for i in range(1800)
    ]


async def assert_each_window_once(bus: Bus, start: int, end: int) -> None:
    for tier in TIERS:
        windows = await frame_windows(bus, tier)
        assert windows == list(range(start, end, tier.step_s)), f"{tier.name}: holes or doubles"
    answer = await query(
        bus,
        kind=HistoryKind.CONTAINERS,
        host=HOST,
        start=docker_sample(start, []).time,
        end=docker_sample(end, []).time,
        step_s=end - start,
    )
    assert [sum(entry.samples) for entry in answer.entries] == [(end - start) // 2] * 5


async def claim_holder(bus: Bus) -> str | None:
    """The replica holding a claim now, if one does."""
    claims = await bus.kv(HISTORY_CLAIMS)
    try:
        keys = await claims.keys()
    except nats.js.errors.NoKeysError:
        return None
    for key in reversed(keys):
        try:
            entry = await claims.get(key)
        except nats.js.errors.KeyNotFoundError:
            continue  # lapsed meanwhile
        if entry.value:
            return entry.value.decode()
    return None


async def test_a_replica_killed_mid_rollup_leaves_no_hole_and_no_double(
    nats_server: NatsServer, prefix: str
) -> None:
    start = (int(time.time()) // 60 - 70) * 60
    replicas = {
        name: history_process(history_settings_for(nats_server, prefix, replica=name))
        for name in ("one", "two")
    }
    try:
        async with bus_client(nats_server, prefix) as bus:
            await write_samples(bus, hour_of_samples(start))
            await rolled_up_to(bus, TIERS[0], start + 300)  # both at work now
            victim = await until(lambda: claim_holder(bus), "a replica holding a claim")
            replicas[victim].send_signal(signal.SIGKILL)  # no goodbye: its claim lapses
            replicas[victim].wait(timeout=10)
            survivor = next(name for name in replicas if name != victim)
            assert replicas[survivor].poll() is None
            await rolled_up_to(bus, TIERS[1], start + 3600, timeout=60)
            await assert_each_window_once(bus, start, start + 3600)
    finally:
        for process in replicas.values():
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=15)


async def test_a_window_claimed_by_a_dead_replica_is_done_once_its_claim_lapses(
    nats_server: NatsServer, prefix: str
) -> None:
    start = (int(time.time()) // 60 - 70) * 60
    settings = history_settings_for(nats_server, prefix, claim_ttl_s=2.0)
    async with bus_client(nats_server, prefix) as bus:
        await write_samples(bus, hour_of_samples(start)[:300])  # 10 minutes
        claims = await bus.kv(HISTORY_CLAIMS)
        claimed = time.monotonic()
        await claims.create(f"s10.docker.{HOST}.{start}", b"dead", msg_ttl=2.0)  # then died
        async with run_history(settings):
            await rolled_up_to(bus, TIERS[1], start + 600)
            assert time.monotonic() - claimed >= 2.0  # not before the claim lapsed
            await assert_each_window_once(bus, start, start + 600)


async def test_a_window_published_by_a_replica_that_died_before_its_watermark_is_kept_once(
    nats_server: NatsServer, prefix: str
) -> None:
    start = (int(time.time()) // 60 - 70) * 60
    settings = history_settings_for(nats_server, prefix, claim_ttl_s=1.0)
    async with bus_client(nats_server, prefix) as bus:
        await write_samples(bus, hour_of_samples(start)[:300])
        async with roller_for(settings.model_copy(update={"replica": "dead"})) as dead:
            source = Source("docker", HOST)
            await dead.window(source, 0, now=start + 25)  # two windows done, marked
            await dead.window(source, 0, now=start + 25)
            assert await mark_of(bus, TIERS[0]) == start + 20
            # the third: claimed, computed and published; the replica dies before its mark
            for subject, frame in await dead.frames(source, 0, start + 20, start + 30):
                await dead.publish(subject, frame, TIERS[0], start + 20)
        async with run_history(settings):
            await rolled_up_to(bus, TIERS[1], start + 600)
            await assert_each_window_once(bus, start, start + 600)


async def test_two_replicas_racing_to_publish_a_window_publish_it_once(
    nats_server: NatsServer, prefix: str
) -> None:
    start = (int(time.time()) // 60 - 70) * 60
    settings = history_settings_for(nats_server, prefix)
    async with bus_client(nats_server, prefix) as bus:
        await write_samples(bus, hour_of_samples(start)[:30])  # one minute
        source = Source("docker", HOST)
        async with roller_for(settings) as one, roller_for(settings) as two:
            for window in range(start, start + 60, 10):
                ((subject, frame),) = await one.frames(source, 0, window, window + 10)
                await asyncio.gather(  # both find it missing, both publish
                    one.publish(subject, frame, TIERS[0], window),
                    two.publish(subject, frame, TIERS[0], window),
                )
        assert await frame_windows(bus, TIERS[0]) == list(range(start, start + 60, 10))
