"""`python -m vigil_auth`: read settings from the environment and run."""

import logging

from pydantic import ValidationError

from vigil.lifecycle import run_until_signalled
from vigil.probe import probed
from vigil_auth.app import build_app
from vigil_auth.errors import SecretFileInvalid, SigningKeysUnreadable
from vigil_auth.settings import AuthSettings

log = logging.getLogger(__name__)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = AuthSettings()
    except ValidationError as exc:  # the settings hide their input: no password shown
        log.error("cannot start: %s", exc)
        raise SystemExit(2) from None
    log.info(
        "auth for issuer %r, access tokens for %ss",
        settings.token_issuer,
        settings.access_token_ttl_s,
    )
    app = build_app(settings)
    try:
        run_until_signalled(probed(app.run(), settings, "auth", lambda: app.healthy))
    except (SecretFileInvalid, SigningKeysUnreadable) as exc:
        log.error("cannot start: %s", exc)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
