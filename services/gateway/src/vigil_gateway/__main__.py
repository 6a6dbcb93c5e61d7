"""`python -m vigil_gateway`: read settings from the environment and serve."""

import gc
import logging

from vigil_gateway.app import build_app
from vigil_gateway.http.serving import DrainingServer, raise_file_limit, uvicorn_config
from vigil_gateway.settings import GatewaySettings


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = GatewaySettings()
    raise_file_limit(settings)
    app = build_app(settings)
    config = uvicorn_config(app, settings, log_level="info")
    # The long-lived objects made so far (modules, the app) leave the collector's scans,
    # which shortens the full collections that otherwise make the latency's tail.
    gc.collect()
    gc.freeze()
    DrainingServer(config, app.state.gateway, settings.drain_window_s).run()


if __name__ == "__main__":
    main()
