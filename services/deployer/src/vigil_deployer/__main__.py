"""`python -m vigil_deployer`: read settings from the environment and run.

SIGTERM (or SIGINT) drains first: the service stops taking deploys, rolls back the
running ones and journals that while the bus is up (within `shutdown_grace_s`), then
closes the bus and exits 0. Nothing is cancelled on that way, so the bus's drain
completes. A second signal (or one while still starting) stops at once.
"""

import asyncio
import contextlib
import logging
import signal

from vigil.lifecycle import stop_task
from vigil.probe import probed
from vigil_deployer.app import DeployerService, build_app
from vigil_deployer.settings import DeployerSettings


async def serve(service: DeployerService) -> None:
    task = asyncio.create_task(
        probed(service.run(), service.settings, "deployer", lambda: service.healthy)
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
    settings = DeployerSettings()
    asyncio.run(serve(build_app(settings)))


if __name__ == "__main__":
    main()
