"""`python -m vigil_deployer`: read settings from the environment and run.

SIGTERM (or SIGINT) drains first: the service stops taking deploys, rolls back the
running ones and journals that while the bus is up (within `shutdown_grace_s`), then
closes the bus and exits 0. Nothing is cancelled on that way, so the bus's drain
completes. A second signal (or one while still starting) stops at once.
"""

import logging

from vigil.lifecycle import run_until_signalled
from vigil.probe import probed
from vigil_deployer.app import DeployerService, build_app
from vigil_deployer.settings import DeployerSettings


def stop_gently(service: DeployerService) -> bool:
    """The first signal after start stops it gracefully; any other stops it at once."""
    if service.ready.is_set() and not service.stopping:
        service.stop()
        return True
    return False


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    service = build_app(DeployerSettings())
    run_until_signalled(
        probed(service.run(), service.settings, "deployer", lambda: service.healthy),
        gently=lambda: stop_gently(service),
    )


if __name__ == "__main__":
    main()
