"""The raw samples of the last minutes, parsed once (`recent`): what a replica reads from
memory equals what the stream holds, it reads from the stream only what came since,
and it keeps no more than its bounds."""

import time

from tests.history_support import (
    HOST,
    Container,
    docker_sample,
    history_settings_for,
    roller_for,
    write_samples,
)
from tests.support import NatsServer, bus_client
from vigil.bus import Bus
from vigil.streams import HISTORY_RAW
from vigil_history import store
from vigil_history.recent import Parsed, RecentSamples
from vigil_history.roller import Source, raw_subject
from vigil_history.series import readable_samples


def containers(i: int) -> list[Container]:
    return [Container(f"app-{n}", f"{n:012x}", float(i % 50), 1000 + i) for n in range(3)]


async def from_the_stream(bus: Bus, start: float, end: float) -> list[Parsed]:
    subject = raw_subject(bus, Source("docker", HOST))
    stream = HISTORY_RAW.stream(bus.subjects)
    return [
        (store.sample_time(payload), readable_samples("docker", payload))
        async for payload in store.read(bus.js, stream, subject, start, end, store.sample_time)
    ]


async def test_recent_samples_equal_the_stream_and_only_new_ones_are_read(
    nats_server: NatsServer, prefix: str
) -> None:
    settings = history_settings_for(nats_server, prefix)
    now = time.time()
    first = int(now) - 100
    async with bus_client(nats_server, prefix) as bus, roller_for(settings) as roller:
        await write_samples(bus, [docker_sample(first + 2 * i, containers(i)) for i in range(40)])
        recent = RecentSamples(roller._bus, HISTORY_RAW.stream(bus.subjects), 300, 10_000)
        subject = raw_subject(bus, Source("docker", HOST))

        window = await recent.read(subject, "docker", first + 10, first + 50)
        assert window == await from_the_stream(bus, first + 10, first + 50)
        assert [at for at, _ in window] == [first + 10 + 2 * i for i in range(20)]
        read = recent.read_messages  # from first + 10 to the last: the run kept
        assert read == 35

        # again, and a later range inside the run: nothing read from the stream
        assert await recent.read(subject, "docker", first + 20, first + 80) == (
            await from_the_stream(bus, first + 20, first + 80)
        )
        assert recent.read_messages == read

        # one sample more, then five: read once each, from where the run ended
        await write_samples(bus, [docker_sample(first + 80, containers(40))])
        await recent.read(subject, "docker", first + 70, first + 90)
        await write_samples(
            bus, [docker_sample(first + 82 + 2 * i, containers(41 + i)) for i in range(5)]
        )
        newest = await recent.read(subject, "docker", first + 70, now + 60)
        assert recent.read_messages == read + 6
        assert newest == await from_the_stream(bus, first + 70, now + 60)
        assert newest[-1][0] == first + 90

        # before the run: read from the stream (and the run started again from there)
        assert await recent.read(subject, "docker", first, first + 4) == (
            await from_the_stream(bus, first, first + 4)
        )


async def test_recent_samples_keep_their_age_and_their_budget(
    nats_server: NatsServer, prefix: str
) -> None:
    settings = history_settings_for(nats_server, prefix)
    now = time.time()
    first = int(now) - 100
    async with bus_client(nats_server, prefix) as bus, roller_for(settings) as roller:
        await write_samples(bus, [docker_sample(first + 2 * i, containers(i)) for i in range(40)])
        subject = raw_subject(bus, Source("docker", HOST))
        stream = HISTORY_RAW.stream(bus.subjects)

        aged = RecentSamples(roller._bus, stream, 30, 10_000)
        await aged.read(subject, "docker", first, now)
        await write_samples(bus, [docker_sample(first + 80, containers(40))])
        await aged.read(subject, "docker", first + 60, now)  # trimmed to 30 s behind + 80
        read = aged.read_messages
        assert await aged.read(subject, "docker", first + 50, now) == (
            await from_the_stream(bus, first + 50, now)
        )
        assert aged.read_messages == read + 16  # first + 50 was no longer held: read again

        old = RecentSamples(roller._bus, stream, 300, 10_000)
        await old.read(subject, "docker", first - 3600, first + 4)  # not recent: not kept
        await old.read(subject, "docker", first - 3600, first + 4)
        assert old.read_messages == 4

        small = RecentSamples(roller._bus, stream, 300, 60)  # 3 entries a sample: 20 samples
        await small.read(subject, "docker", first + 20, now)
        assert small.read_messages == 31
        await small.read(subject, "docker", first + 20, now)  # over its budget: dropped
        assert small.read_messages == 62
