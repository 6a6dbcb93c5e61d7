"""The auth service's queue of password hashes: what cannot finish in time never starts."""

import asyncio
import threading
import time

import pytest

from vigil_auth.errors import HashesBusy
from vigil_auth.hash_queue import HashQueue


class Work:
    """A stand-in for a hash: blocks its worker thread `seconds`, counts its runs."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.runs = 0
        self.started = threading.Event()

    def __call__(self) -> str:
        self.runs += 1
        self.started.set()
        time.sleep(self.seconds)
        return "hashed"


async def test_only_what_can_finish_in_time_is_admitted_the_rest_is_refused_at_once() -> None:
    queue = HashQueue(slots=2, max_waiting=100, typical_s=0.2)
    work = Work(0.2)
    began = time.monotonic()
    results = await asyncio.gather(
        *(queue.run(work, within_s=0.5) for _ in range(10)), return_exceptions=True
    )
    refused = [r for r in results if isinstance(r, HashesBusy)]
    # two rounds of two fit in 0.5 s: (ahead // 2 + 1) * 0.2 <= 0.5
    assert results.count("hashed") == work.runs == 4
    assert len(refused) == 6
    assert all(busy.retry_after_s >= 0.2 for busy in refused)
    assert time.monotonic() - began < 1.0


async def test_past_max_waiting_it_is_refused_however_fast_hashes_are() -> None:
    queue = HashQueue(slots=1, max_waiting=2, typical_s=0.01)
    work = Work(0.05)
    results = await asyncio.gather(*(queue.run(work) for _ in range(5)), return_exceptions=True)
    assert results.count("hashed") == work.runs == 3  # one running, two waiting
    assert sum(isinstance(r, HashesBusy) for r in results) == 2


async def test_one_held_up_longer_than_foreseen_is_refused_at_its_turn_before_it_starts() -> None:
    queue = HashQueue(slots=1, max_waiting=10, typical_s=0.1)
    slow = Work(0.6)  # the first takes far longer than the 0.1 s foreseen
    first = asyncio.create_task(queue.run(slow, within_s=1.0))
    assert await asyncio.to_thread(slow.started.wait, 5)  # the first has its slot
    second = Work(0.1)
    with pytest.raises(HashesBusy):
        await queue.run(second, within_s=0.5)  # admitted (0.2 s foreseen), late at its turn
    assert second.runs == 0
    assert await first == "hashed"
    assert queue.typical_s > 0.1  # and the queue learned how long a hash takes now
