"""The subcommands of `vigil`, one module each.

A command module has `add_parser(commands)`, which adds its parser to the `vigil`
parser's subparsers and sets `handler`: the function that runs the command with the
parsed arguments and returns the exit status.
"""

import argparse
from collections.abc import Callable
from typing import TypeAlias

from vigil.access import Permission

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Handler: TypeAlias = Callable[[argparse.Namespace], int]


def add_permission_option(parser: argparse.ArgumentParser, *, changing: bool = False) -> None:
    """`--permission P` (repeatable) for a new user or API key: `args.permissions`; for
    a change (`changing`), None when not given."""
    parser.add_argument(
        "--permission",
        action="append",
        choices=[permission.value for permission in Permission],
        default=None if changing else [],
        dest="permissions",
        help="a power beyond the role's: exec, open shells (an operator's; repeat for more)",
    )
