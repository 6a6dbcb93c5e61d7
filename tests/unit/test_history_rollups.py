"""The history's arithmetic and its frames, without a bus: a roll-up of roll-ups is the
roll-up of the samples, and a frame gives back what was put in it."""

import random
from datetime import UTC, datetime

import pytest

from vigil.messages import ContainerStats, DockerStatsSampled
from vigil_history.frame import Frame, FrameError, encode, window_of
from vigil_history.frames import FrameCache
from vigil_history.rollup import Columns, Record, combine, roll_up, roll_up_steps
from vigil_history.series import DOCKER, HOST, Sample, container_samples, samples_of


def samples(seed: int, count: int = 600) -> list[Sample]:
    rng = random.Random(seed)
    rx = {"a": 0, "b": 0}
    made = []
    for i in range(count):
        for key in ("a", "b"):
            if rng.random() < 0.1:
                continue  # a sample missed
            rx[key] = 0 if rng.random() < 0.01 else rx[key] + rng.randrange(0, 10**6)
            values = (rng.randrange(0, 40000), rng.randrange(0, 2**40), 3, rx[key], 0, 0, 7)
            made.append(Sample(key, "id-" + key, 1000.0 + 2 * i, values))
    return made


@pytest.mark.parametrize("seed", range(5))
def test_a_rollup_of_rollups_is_the_rollup_of_the_samples(seed: int) -> None:
    raw = samples(seed)
    minutes = roll_up_steps(DOCKER, raw, 1020, 2160, 60, origin=0)
    in_order = [record for window in sorted(minutes) for record in minutes[window]]
    assert combine(DOCKER, in_order) == roll_up(DOCKER, raw, 1020, 2160)


def test_gauges_are_the_samples_min_max_sum_and_last() -> None:
    raw = [Sample("h", "", float(t), (t, 5 - t, 0, 0, 0, 0, 0, 0, 0)) for t in range(5)]
    (record,) = roll_up(HOST, raw, 0, 10)
    assert record.count == 5
    assert record.stats[:8] == [0, 4, 10, 4, 1, 5, 15, 1]


def test_a_counter_that_goes_down_or_changes_container_has_no_rate_there() -> None:
    def at(t: int, id_: str, rx: int) -> Sample:
        return Sample("web", id_, float(t), (0, 0, 0, rx, 0, 0, 0))

    raw = [at(0, "x", 100), at(2, "x", 300), at(4, "y", 10), at(6, "y", 50), at(8, "y", 20)]
    (record,) = roll_up(DOCKER, raw, 0, 10)
    network_rx = DOCKER.index("network_rx")
    assert record.rate_count == 3  # 0->2 (1000), 4->6 (200), 6->8 from zero (100), in 0.1 B/s
    assert record.stats[network_rx * 4 : network_rx * 4 + 4] == [100, 1000, 1300, 100]
    assert record.id == "y"


def test_a_frame_gives_back_its_records_whole_or_one_by_one() -> None:
    records = [
        Record("a", "1", 30, 29, [0, 255, -3, 2**40] * 7),
        Record("b", "2", 1, 0, [7] * 28),
        Record("c", "", 0, 0, [2**63 - 1] * 28),
    ]
    frame = encode(600, 60, 7, records)
    assert window_of(frame) == (600, 60)
    parsed = Frame(frame)
    assert parsed.records() == records
    assert parsed.record("b") == records[1]
    assert parsed.record("nope") is None
    assert parsed.key_of_id("2") == "b"


def test_a_frame_refuses_what_it_cannot_hold() -> None:
    with pytest.raises(FrameError):
        encode(0, 60, 1, [])
    with pytest.raises(FrameError):
        encode(0, 60, 1, [Record("a", "", 1, 0, [2**64, 0, 0, 0])])
    frame = bytearray(encode(0, 60, 1, [Record("a", "", 1, 0, [1, 1, 1, 1])]))
    frame[0] = 9
    with pytest.raises(FrameError):
        Frame(bytes(frame))


async def test_the_frame_cache_reads_only_the_windows_it_lacks() -> None:
    stored = {
        w: Frame(encode(w, 60, 1, [Record("a", "", 1, 0, [w, w, w, w])]))
        for w in range(0, 6000, 60)
        if w != 600  # an empty window: no frame
    }
    asked: list[tuple[int, int]] = []

    async def read(subject: str, start: int, end: int) -> list[Frame]:
        asked.append((start, end))
        return [stored[w] for w in sorted(stored) if start <= w < end]

    cache = FrameCache(max_bytes=10**6)

    async def windows(start: int, end: int) -> list[int]:
        return [frame.start for frame in await cache.frames("s", start, end, read)]

    assert await windows(1200, 2400) == list(range(1200, 2400, 60))
    assert await windows(1200, 2400) == list(range(1200, 2400, 60))
    assert await windows(1800, 3000) == list(range(1800, 3000, 60))  # overlapping, later
    assert await windows(0, 1500) == [w for w in range(0, 1500, 60) if w != 600]
    assert asked == [(1200, 2400), (2400, 3000), (0, 1200)]  # each window read once
    assert await windows(4800, 5400) == list(range(4800, 5400, 60))  # apart: read anew
    assert asked[-1] == (4800, 5400)

    small = FrameCache(max_bytes=stored[0].size * 5)  # too big to keep: read each time
    await small.frames("s", 0, 600, read)
    await small.frames("s", 0, 600, read)
    assert small.read_windows == 20


async def test_a_frame_published_right_after_a_run_held_joins_it_and_no_other() -> None:
    def payload(w: int) -> bytes:
        return encode(w, 60, 1, [Record("a", "", 1, 0, [w, w, w, w])])

    reads: list[tuple[int, int]] = []

    async def read(subject: str, start: int, end: int) -> list[Frame]:
        reads.append((start, end))
        return [Frame(payload(w)) for w in range(start, end, 60)]

    cache = FrameCache(max_bytes=10**6)
    await cache.frames("s", 0, 600, read)
    cache.add("s", payload(600))  # right after the run: kept
    cache.add("s", payload(720))  # a window skipped (another replica's?): not kept
    cache.add("other", payload(0))  # no run held: not kept
    got = await cache.frames("s", 0, 660, read)
    assert [frame.start for frame in got] == list(range(0, 660, 60))
    assert reads == [(0, 600)]  # the published frame came from memory
    await cache.frames("s", 0, 780, read)
    assert reads[-1] == (660, 780)  # what was not kept is read
    await cache.frames("other", 0, 60, read)
    assert reads[-1] == (0, 60)


@pytest.mark.parametrize("seed", range(5))
def test_frames_summed_up_column_by_column_equal_their_records_combined(seed: int) -> None:
    rng = random.Random(seed)
    frames = []
    for w in range(20):
        records = []
        for key in ("a", "b", "c"):
            count = rng.choice([0, 1, 30]) if key == "c" else 30
            rate_count = 0 if not count else rng.choice([0, count - 1])
            stats = []
            for _ in DOCKER.series:
                low = rng.randrange(0, 1000)
                high = low + rng.randrange(0, 1000)
                stats += [low, high, rng.randrange(low, high + 1) * max(1, count), high]
            records.append(Record(key, f"id{w}", count, rate_count, stats))
        frames.append(Frame(encode(60 * w, 60, len(DOCKER.series), records)))
    summed = Columns(DOCKER, frames[0].keys, frames[0].ids, frames[0].columns())
    for frame in frames[1:]:
        assert frame.keys is frames[0].keys  # the same keys: one shared tuple
        summed.add(frame.ids, frame.columns())
    every = [record for frame in frames for record in frame.records()]
    assert summed.records() == combine(DOCKER, every)


def test_one_container_read_alone_is_what_the_whole_message_gives() -> None:
    stats = DockerStatsSampled(
        host="h1",
        time=datetime(2026, 1, 1, tzinfo=UTC),
        interval_s=2.0,
        containers=[
            ContainerStats(
                id=f"{n:012x}",
                name=f"app-{n}",
                cpu_percent=12.34 + n,
                memory_usage=10**6 * n,
                memory_limit=2**30,
                network_rx=5 * n,
                network_tx=7 * n,
                image="busybox",
                state="running",
                memory_percent=1.0,
                network_rx_per_s=0.0,
                network_tx_per_s=0.0,
                block_read=11 * n,
                block_write=13 * n,
                pids=n,
            )
            for n in range(3)
        ],
    )
    payload = stats.model_dump_json().encode()
    every = samples_of("docker", payload)["docker"]
    assert container_samples(payload) == every
    assert container_samples(b"{}") == []  # unreadable: left out, logged
