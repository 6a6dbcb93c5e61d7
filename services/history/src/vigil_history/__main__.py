"""`python -m vigil_history`: read settings from the environment and run.

SIGTERM (or SIGINT) stops after the window in hand (its claim and watermark written),
then closes the bus; a second signal stops at once. A replica killed outright leaves a
claim that lapses (`claim_ttl_s`): another replica does that window.
"""

import asyncio
import contextlib
import logging
import signal

from vigil.lifecycle import stop_task
from vigil.probe import probed
from vigil_history.app import HistoryService, build_app
from vigil_history.settings import HistorySettings


async def serve(service: HistoryService) -> None:
    task = asyncio.create_task(
        probed(service.run(), service.settings, "history", lambda: service.healthy)
    )
    stopping_now: list[asyncio.Task[None]] = []

    def on_signal() -> None:
        if service.ready.is_set() and not service.stopping:
            service.stop()
        elif not stopping_now:
            stopping_now.append(asyncio.create_task(stop_task(task)))

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    with contextlib.suppress(asyncio.CancelledError):
        await task
    for stopping in stopping_now:
        await stopping


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = HistorySettings()
    asyncio.run(serve(build_app(settings)))


if __name__ == "__main__":
    main()
