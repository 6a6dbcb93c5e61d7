"""`python -m vigil_alerter`: read settings from the environment and run (SIGTERM or
SIGINT: give the sources up, so another replica takes them at once, drain, exit)."""

import logging

from pydantic import ValidationError

from vigil.lifecycle import run_until_signalled
from vigil.probe import probed
from vigil_alerter.app import build_app
from vigil_alerter.settings import AlerterSettings

log = logging.getLogger(__name__)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = AlerterSettings()
    except ValidationError as exc:
        log.error("cannot start: %s", exc)
        raise SystemExit(2) from None
    app = build_app(settings)
    run_until_signalled(probed(app.run(), settings, "alerter", lambda: app.healthy))


if __name__ == "__main__":
    main()
