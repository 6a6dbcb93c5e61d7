"""`python -m vigil_gateway`: read settings from the environment and serve."""

import gc
import logging

import uvicorn

from vigil_gateway.app import build_app
from vigil_gateway.serving import DrainingServer
from vigil_gateway.settings import GatewaySettings


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = GatewaySettings()
    app = build_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.bind,
        port=settings.port,
        ws_max_size=settings.max_message_bytes,
        ws_per_message_deflate=settings.permessage_deflate,
        log_level="info",
    )
    # The long-lived objects made so far (modules, the app) leave the collector's scans,
    # which shortens the full collections that otherwise make the latency's tail.
    gc.collect()
    gc.freeze()
    DrainingServer(config, app.state.gateway, settings.drain_window_s).run()


if __name__ == "__main__":
    main()
