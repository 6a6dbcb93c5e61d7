"""`python -m vigil_deployer`: read settings from the environment and run."""

import logging

from vigil.lifecycle import run_until_signalled
from vigil_deployer.app import build_app
from vigil_deployer.settings import DeployerSettings


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = DeployerSettings()
    run_until_signalled(build_app(settings).run())


if __name__ == "__main__":
    main()
