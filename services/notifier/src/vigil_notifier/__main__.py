"""`python -m vigil_notifier`: read settings from the environment and run (SIGTERM or
SIGINT: stop taking alerts, finish those in hand within a grace, drain, exit)."""

import logging

from pydantic import ValidationError

from vigil.lifecycle import run_until_signalled
from vigil.probe import probed
from vigil_notifier.app import build_app
from vigil_notifier.settings import NotifierSettings

log = logging.getLogger(__name__)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = NotifierSettings()
    except ValidationError as exc:
        log.error("cannot start: %s", exc)
        raise SystemExit(2) from None
    app = build_app(settings)
    run_until_signalled(probed(app.run(), settings, "notifier", lambda: app.healthy))


if __name__ == "__main__":
    main()
