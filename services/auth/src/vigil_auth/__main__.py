"""`python -m vigil_auth`: read settings from the environment and run."""

import logging

from vigil.lifecycle import run_until_signalled
from vigil.probe import probed
from vigil_auth.app import build_app
from vigil_auth.settings import AuthSettings


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = AuthSettings()
    logging.getLogger(__name__).info(
        "auth for issuer %r, access tokens for %ss",
        settings.token_issuer,
        settings.access_token_ttl_s,
    )
    app = build_app(settings)
    run_until_signalled(probed(app.run(), settings, "auth", app.ready.is_set))


if __name__ == "__main__":
    main()
