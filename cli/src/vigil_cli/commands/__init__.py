"""The subcommands of `vigil`, one module each.

A command module has `add_parser(commands)`, which adds its parser to the `vigil`
parser's subparsers and sets `handler`: the function that runs the command with the
parsed arguments and returns the exit status.
"""

import argparse
from collections.abc import Callable
from typing import TypeAlias

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Handler: TypeAlias = Callable[[argparse.Namespace], int]
