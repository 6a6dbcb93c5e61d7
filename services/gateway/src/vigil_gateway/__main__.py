"""`python -m vigil_gateway`: read settings from the environment and serve."""

import logging

import uvicorn

from vigil_gateway.app import build_app
from vigil_gateway.settings import GatewaySettings


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = GatewaySettings()
    uvicorn.run(
        build_app(settings),
        host=settings.bind,
        port=settings.port,
        ws_max_size=settings.max_message_bytes,
        log_level="info",
    )


if __name__ == "__main__":
    main()
