"""`python -m vigil_collector`: read settings from the environment and run."""

import logging

from vigil.lifecycle import run_until_signalled
from vigil.probe import probed
from vigil_collector.app import build_app
from vigil_collector.settings import CollectorSettings


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = CollectorSettings()
    logging.getLogger(__name__).info(
        "collecting host %s every %ss", settings.host, settings.interval_s
    )
    app = build_app(settings)
    run_until_signalled(probed(app.run(), settings, "collector", lambda: app.healthy))


if __name__ == "__main__":
    main()
