"""`vigil COMMAND ...`: the command line of Vigil."""

import argparse
import sys
from collections.abc import Sequence

from vigil_cli.commands import (
    Handler,
    actions,
    alerts,
    apikey,
    audit,
    deploy,
    history,
    login,
    logs,
    shell,
    silence,
    top,
    up,
    user,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vigil",
        description="Vigil: live operations data from Docker, Kubernetes and hosts.",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    up.add_parser(commands)
    user.add_parser(commands)
    apikey.add_parser(commands)
    login.add_parser(commands)
    top.add_parser(commands)
    history.add_parser(commands)
    logs.add_parser(commands)
    deploy.add_parser(commands)
    actions.add_parser(commands)
    shell.add_parser(commands)
    alerts.add_parser(commands)
    silence.add_parser(commands)
    audit.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
