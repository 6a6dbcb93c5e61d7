"""Turning SIGINT, SIGTERM and SIGHUP into an orderly stop, and a second Ctrl-C into a kill."""

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, Final, Self

from vigil_cli.console import OWN_SOURCE, Console

STOP_SIGNALS: Final = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
SAME_INTERRUPT_WITHIN: Final = 1.0
"""Seconds after the first stop signal during which a SIGINT is a copy of it, not a
second Ctrl-C: without a terminal, `uv run` forwards the SIGINT its process group got
to its child 200 ms later."""


class StopSignals:
    """While entered, the stop signals set `stop_requested` instead of ending the process.

    Only a second Ctrl-C (a SIGINT `SAME_INTERRUPT_WITHIN` or more after the first stop
    signal) calls `on_force`. Repeated SIGTERMs are normal (make and uv forward the one
    sent to their process group) and change nothing. Once a stop was requested, leaving
    the context ignores these signals for the rest of the process's short life, so that
    a late copy cannot turn a clean exit into a traceback.
    """

    def __init__(self, console: Console, on_force: Callable[[], None]) -> None:
        self.stop_requested = asyncio.Event()
        self._console = console
        self._on_force = on_force
        self._forced = False
        self._stop_requested_at = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None

    def __enter__(self) -> Self:
        self._loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            self._loop.add_signal_handler(sig, self._received, sig)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._loop is None:
            return
        for sig in STOP_SIGNALS:
            self._loop.remove_signal_handler(sig)
            if self.stop_requested.is_set():
                signal.signal(sig, signal.SIG_IGN)
        self._loop = None

    async def run(self, coro: Coroutine[Any, Any, object]) -> bool:
        """Run `coro` unless a stop is requested first (then cancel it); True if it finished."""
        task = asyncio.ensure_future(coro)
        stop = asyncio.ensure_future(self.stop_requested.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if task.cancelled():
            return False
        task.result()  # raises what `coro` raised
        return True

    def _received(self, sig: signal.Signals) -> None:
        now = time.monotonic()
        if not self.stop_requested.is_set():
            self._console.line(OWN_SOURCE, f"{sig.name}: stopping (press Ctrl-C again to kill)")
            self._stop_requested_at = now
            self.stop_requested.set()
        elif (
            sig is signal.SIGINT
            and not self._forced
            and now - self._stop_requested_at >= SAME_INTERRUPT_WITHIN
        ):
            self._forced = True
            self._console.line(OWN_SOURCE, "second Ctrl-C: killing everything now")
            self._on_force()
