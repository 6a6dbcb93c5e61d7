"""`python -m vigil_deployer`: read settings from the environment and run.

SIGTERM (or SIGINT) drains first: the running deploys roll back and are journaled
while the bus is up, within `shutdown_grace_s`; a second signal stops at once.
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
    signalled = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if signalled.is_set():
            task.cancel()  # a second signal: stop now
        signalled.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    waiting = asyncio.create_task(signalled.wait())
    await asyncio.wait({task, waiting}, return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    if not task.done():
        draining = asyncio.create_task(service.drain())
        await asyncio.wait({draining, task}, return_when=asyncio.FIRST_COMPLETED)
        draining.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await stop_task(task)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = DeployerSettings()
    asyncio.run(serve(build_app(settings)))


if __name__ == "__main__":
    main()
