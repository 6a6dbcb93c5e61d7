"""Running a service's main coroutine until SIGTERM or SIGINT; stopping tasks for sure."""

import asyncio
import contextlib
import signal
from collections.abc import Callable, Coroutine, Sequence
from typing import Any


def run_until_signalled(
    main: Coroutine[Any, Any, None], gently: Callable[[], bool] | None = None
) -> None:
    """Run `main`; on SIGTERM or SIGINT cancel it, so its `finally` blocks run. With
    `gently`, a signal first asks it (True: a graceful stop began, `main` ends by
    itself); a signal it declines, or a second one, cancels."""

    async def runner() -> None:
        task = asyncio.ensure_future(main)
        stopping: list[asyncio.Task[None]] = []

        def on_signal() -> None:
            if gently is not None and gently():
                return
            if not stopping:
                stopping.append(asyncio.ensure_future(stop_task(task)))

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal)
        with contextlib.suppress(asyncio.CancelledError):
            await task
        for stop in stopping:
            await stop

    asyncio.run(runner())


async def stop_task(task: "asyncio.Task[Any] | None", attempts: int = 20) -> None:
    """Cancel `task` and wait until it has ended.

    Cancels again while it runs on: on Python 3.11 `asyncio.wait_for` (used by nats-py)
    can swallow a cancellation that races the future it waits for, and a loop would
    then carry on.
    """
    if task is None:
        return
    for _ in range(attempts):
        if task.done():
            break
        task.cancel()
        await asyncio.wait({task}, timeout=0.25)
    if task.done() and not task.cancelled() and (failure := task.exception()) is not None:
        raise failure


async def run_together(tasks: Sequence["asyncio.Task[Any]"]) -> None:
    """Wait on loops meant to run for ever: the first to fail raises its error here, and
    every one is stopped on the way out (a cancellation of the caller included)."""
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()  # raises why it ended
    finally:
        for task in tasks:
            await stop_task(task)
