"""`vigil exec NAME [--host H] [-- COMMAND...]`: an interactive shell in a container,
`vigil exec pod/NAME --cluster C [-n NS] [-c CONTAINER] [-- COMMAND...]` in a pod's
container (its first without `-c`), through the gateway (`vigil_client.shell`), `sh`
unless a command is given.

On a terminal, this one is put in raw mode (every key goes to the shell, Ctrl-C
included) and its size follows the window's (SIGWINCH); restored at the end. Piped,
standard input is typed into the shell as it comes, and the command waits for the
shell to end. The exit status is the shell's (its process's exit code), 1 when it
ended otherwise (idle, closed, refused).
"""

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import sys
import termios
import tty
from collections.abc import Iterator

from vigil_cli.commands import Subparsers
from vigil_cli.commands.actions import only_host
from vigil_cli.errors import CliError
from vigil_cli.remote import FAILED, Remote, add_url_option, run
from vigil_client import Shell, open_pod_shell, open_shell

_READ_BYTES = 4096


def add_parser(commands: Subparsers) -> None:
    summary = "run a shell (or a command) in a container or a pod, interactively"
    parser = commands.add_parser("exec", help=summary, description=summary)
    add_url_option(parser)
    parser.add_argument("name", metavar="NAME", help="container name or id, or pod/NAME")
    parser.add_argument("command", nargs="*", metavar="-- COMMAND", help="default: sh")
    parser.add_argument("--host", help="the Docker host (default: the only one)")
    parser.add_argument("--cluster", help="the pod's Kubernetes cluster (pod/NAME)")
    parser.add_argument("-n", "--namespace", default="default", help="the pod's namespace")
    parser.add_argument("-c", "--container", help="the pod's container (default: its first)")
    parser.set_defaults(handler=lambda args: run(lambda remote: _exec(remote, args), args))


async def _exec(remote: Remote, args: argparse.Namespace) -> int:
    kind, slash, pod = args.name.partition("/")
    is_pod = bool(slash)
    if is_pod and (kind != "pod" or not args.cluster):
        raise CliError(f"{args.name!r}: a pod is pod/NAME, with --cluster")
    async with remote.api() as api:
        host = None if is_pod else args.host or await only_host(api)
        await api.me()  # the access token refreshed first, if it must be
        session = api.session
    cols, rows = shutil.get_terminal_size()
    command = args.command or ["sh"]
    if host is None:
        opening = open_pod_shell(
            session,
            args.cluster,
            args.namespace,
            pod,
            command,
            container=args.container,
            cols=cols,
            rows=rows,
        )
    else:
        opening = open_shell(session, host, args.name, command, cols=cols, rows=rows)
    async with opening as shell:
        with _raw(sys.stdin.fileno()):
            typing = asyncio.create_task(_type(shell))
            with _resizing(shell):
                out = sys.stdout.buffer
                async for data in shell.output():
                    out.write(data)
                    out.flush()
            typing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await typing
    ended = shell.ended
    if ended is None:
        print("vigil: the shell's connection broke", file=sys.stderr)
        return FAILED
    if ended.reason != "exited":
        print(f"vigil: the shell ended ({ended.reason}) {ended.detail}".rstrip(), file=sys.stderr)
        return FAILED
    return ended.exit_code if ended.exit_code is not None else FAILED


async def _type(shell: Shell) -> None:
    """Standard input into the shell, as it comes, until its end."""
    loop = asyncio.get_running_loop()
    fd = sys.stdin.fileno()
    while data := await loop.run_in_executor(None, os.read, fd, _READ_BYTES):
        await shell.write(data)


@contextlib.contextmanager
def _raw(fd: int) -> Iterator[None]:
    """Raw mode on a terminal (restored at the end); nothing on a pipe."""
    if not os.isatty(fd):
        yield
        return
    saved = termios.tcgetattr(fd)
    tty.setraw(fd)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


@contextlib.contextmanager
def _resizing(shell: Shell) -> Iterator[None]:
    """The shell's terminal follows this one's size."""
    loop = asyncio.get_running_loop()
    sending: set[asyncio.Task[None]] = set()

    def resized() -> None:
        cols, rows = shutil.get_terminal_size()
        task = loop.create_task(shell.resize(cols, rows))
        sending.add(task)
        task.add_done_callback(sending.discard)

    loop.add_signal_handler(signal.SIGWINCH, resized)
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGWINCH)
