"""The sampling loops' beat (`vigil.beat`): samples on a fixed beat counted from the
first, a slow sample not pushing the next ones later, and a missed beat not made up
with a burst. On a clock of its own, so the figures are exact."""

import types

import pytest

from vigil import beat as beat_module
from vigil.beat import Beat


class Clock:
    """`time.monotonic` and `asyncio.sleep` for `vigil.beat`: sleeping moves it on."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.slept.append(delay)
        self.now += delay


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(beat_module, "time", types.SimpleNamespace(monotonic=clock.monotonic))
    monkeypatch.setattr(beat_module, "asyncio", types.SimpleNamespace(sleep=clock.sleep))
    return clock


async def beats(beat: Beat, clock: Clock, work_s: list[float]) -> list[float]:
    """When each sample starts, each taking the next of `work_s`."""
    started = []
    for took in work_s:
        await beat.wait()
        started.append(clock.now - 1000.0)
        clock.now += took
    return started


async def test_samples_keep_the_beat_whatever_they_take(clock: Clock) -> None:
    started = await beats(Beat(2.0), clock, [0.3, 1.9, 0.0, 0.7])
    assert started == pytest.approx([0.0, 2.0, 4.0, 6.0])


async def test_the_first_sample_is_at_once_or_after_one_interval(clock: Clock) -> None:
    assert await beats(Beat(2.0), clock, [0.0]) == pytest.approx([0.0])
    assert clock.slept == []
    assert await beats(Beat(2.0, at_once=False), clock, [0.5, 0.5]) == pytest.approx([2.0, 4.0])


async def test_a_missed_beat_is_not_made_up_with_a_burst(clock: Clock) -> None:
    started = await beats(Beat(1.0), clock, [0.2, 3.5, 0.2, 0.2])
    assert started == pytest.approx([0.0, 1.0, 4.5, 5.5])
