"""A bounded hand-off from a worker thread to the event loop.

Docker's streams (events, logs) and Kubernetes' (watches, logs) are read by blocking
calls in threads; what they read reaches the loop here. The queue is bounded: when it
is full the reading thread waits (backpressure on the engine's stream, never a loss),
and it gives up once the hand-off is closed, so a stopping reader never hangs. The loop
is woken once for what arrives while it is not reading, not once per item (a log
follower hands over thousands of lines a second).
"""

import asyncio
import threading
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")

_POLL_S = 0.2


class Handoff(Generic[T]):
    def __init__(self, loop: asyncio.AbstractEventLoop, maxsize: int) -> None:
        self._loop = loop
        self._items: deque[T] = deque()
        self._lock = threading.Lock()
        self._woken = False  # a wake-up is on its way to the loop, or it is reading
        self._ready = asyncio.Event()
        self._slots = threading.BoundedSemaphore(maxsize)
        self._closed = threading.Event()

    # -- the worker thread's side --------------------------------------------------

    def put(self, item: T) -> bool:
        """Queue `item`, waiting while the queue is full; False once closed."""
        while not self._slots.acquire(timeout=_POLL_S):
            if self._closed.is_set():
                return False
        if self._closed.is_set():
            self._slots.release()
            return False
        with self._lock:
            self._items.append(item)
            wake, self._woken = not self._woken, True
        if wake:
            try:
                self._loop.call_soon_threadsafe(self._ready.set)
            except RuntimeError:  # the loop is gone: nobody will read it
                return False
        return True

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    # -- the loop's side -------------------------------------------------------------

    async def get(self) -> T:
        while True:
            with self._lock:
                if self._items:
                    item = self._items.popleft()
                    break
                self._woken = False  # the next put wakes the loop
                self._ready.clear()
            await self._ready.wait()
        self._slots.release()
        return item

    def get_nowait(self) -> T:
        """The next item; raises `asyncio.QueueEmpty` when there is none."""
        with self._lock:
            if not self._items:
                raise asyncio.QueueEmpty
            item = self._items.popleft()
        self._slots.release()
        return item

    def close(self) -> None:
        """Wake and refuse the thread's pending and later `put`s (queued items stay)."""
        self._closed.set()
