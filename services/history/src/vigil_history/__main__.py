"""`python -m vigil_history`: read settings from the environment and run.

SIGTERM (or SIGINT) stops after the window in hand (its claim and watermark written),
then closes the bus; a second signal stops at once. A replica killed outright leaves a
claim that lapses (`claim_ttl_s`): another replica does that window.
"""

import logging

from vigil.lifecycle import run_until_signalled
from vigil.probe import probed
from vigil_history.app import HistoryService, build_app
from vigil_history.settings import HistorySettings


def stop_gently(service: HistoryService) -> bool:
    """The first signal after start stops it gracefully; any other stops it at once."""
    if service.ready.is_set() and not service.stopping:
        service.stop()
        return True
    return False


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    service = build_app(HistorySettings())
    run_until_signalled(
        probed(service.run(), service.settings, "history", lambda: service.healthy),
        gently=lambda: stop_gently(service),
    )


if __name__ == "__main__":
    main()
