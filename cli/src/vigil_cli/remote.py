"""Running a command against a gateway: its address and credentials, a client made
from them, and every failure turned into a clear line on stderr and an exit status.

| status | when |
|---|---|
| 0 | done |
| 1 | refused by the gateway, an invalid input, a deploy that failed |
| 2 | the gateway cannot be reached (and usage errors, from argparse) |
| 3 | not logged in, or the credentials were refused and cannot be refreshed |
| 130 | stopped by Ctrl-C or SIGTERM |
"""

import argparse
import asyncio
import contextlib
import math
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError

from vigil.errors import InvalidName, UnknownChannel
from vigil.messages import Error, ErrorCode
from vigil_cli import config as config_file
from vigil_cli import local_stack
from vigil_cli.config import ClientConfig
from vigil_cli.errors import CliError, NotLoggedIn
from vigil_cli.settings import DEFAULT_GATEWAY_PORT, LOCALHOST, RemoteSettings
from vigil_client import (
    Api,
    AuthenticationFailed,
    Credentials,
    Refused,
    SessionEnded,
    Tokens,
    Unreachable,
    VigilClient,
)
from vigil_client.api import TIMEOUT
from vigil_client.session import Session
from vigil_client.subscription import DEFAULT_RATE_LIMIT_WAIT_S

OK, FAILED, UNREACHABLE, NOT_LOGGED_IN, INTERRUPTED = 0, 1, 2, 3, 130


@dataclass
class Remote:
    """The gateway a command talks to, and the saved config it came from."""

    url: str
    path: Path
    saved: ClientConfig
    rate_limit_wait_s: float = DEFAULT_RATE_LIMIT_WAIT_S

    @property
    def credentials(self) -> Credentials:
        return config_file.credentials_of(self.saved, self.path)

    def client(self, **options: Any) -> VigilClient:
        """A client with the saved credentials; refreshed tokens are saved back."""
        options.setdefault("rate_limit_wait_s", self.rate_limit_wait_s)
        return VigilClient(self.url, self.credentials, on_refresh=self._keep, **options)

    @contextlib.asynccontextmanager
    async def api(self) -> AsyncIterator[Api]:
        """The gateway's HTTP routes with the saved credentials, and no socket opened
        (for commands that only make calls); refreshed tokens are saved back."""
        session = Session(self.url, self.credentials, on_refresh=self._keep)
        async with httpx.AsyncClient(timeout=TIMEOUT) as http:
            yield Api(session, http)

    def _keep(self, tokens: Tokens) -> None:
        self.saved = self.saved.with_tokens(tokens)
        config_file.save(self.path, self.saved)


def add_url_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        help=(
            "the gateway, e.g. http://127.0.0.1:8000 (default: $VIGIL_URL, or saved, or "
            "the one `vigil up` serves here: $VIGIL_GATEWAY_PORT)"
        ),
    )


def remote(args: argparse.Namespace) -> Remote:
    settings = RemoteSettings()
    path = config_file.config_path(settings)
    saved = config_file.load(path)
    url = args.url or settings.url or saved.url or local_gateway(settings)
    if not url.startswith(("http://", "https://")):
        raise CliError(f"{url!r} is not a gateway URL: use http://host:port or https://host")
    return Remote(url.rstrip("/"), path, saved, settings.rate_limit_wait_s)


def local_gateway(settings: RemoteSettings) -> str:
    """The gateway `vigil up` (`make up`) serves on this machine: on `VIGIL_GATEWAY_PORT`
    when set (the setting `vigil up` reads), else where the stack of `VIGIL_DATA_DIR`
    recorded it, else on the default port."""
    if settings.gateway_port is not None:
        return f"http://{LOCALHOST}:{settings.gateway_port}"
    return local_stack.recorded(settings.data_dir) or f"http://{LOCALHOST}:{DEFAULT_GATEWAY_PORT}"


def run(command: Callable[[Remote], Awaitable[int]], args: argparse.Namespace) -> int:
    """Run `command` with the gateway of `args`; the exit status (see the table above)."""
    try:
        return asyncio.run(_interruptible(command, remote(args)))
    except KeyboardInterrupt:
        return INTERRUPTED
    except NotLoggedIn as exc:
        return _fail(str(exc), NOT_LOGGED_IN)
    except AuthenticationFailed as exc:
        return _fail(f"{exc.message}: run `vigil login`", NOT_LOGGED_IN)
    except Unreachable as exc:
        return _fail(str(exc), UNREACHABLE)
    except SessionEnded as exc:
        return _fail(str(exc), FAILED)
    except Refused as exc:
        return _fail(f"{exc.message} ({exc.code})", FAILED)
    except (InvalidName, UnknownChannel) as exc:
        return _fail(str(exc), FAILED)
    except ValidationError as exc:
        return _fail(invalid(exc), FAILED)
    except CliError as exc:
        return _fail(str(exc), FAILED)


async def _interruptible(command: Callable[[Remote], Awaitable[int]], target: Remote) -> int:
    """`command`, cancelled by SIGTERM as by Ctrl-C."""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        return await command(target)
    except asyncio.CancelledError:
        return INTERRUPTED
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


def notice(error: Error) -> str:
    """What the gateway said without ending the command (busy, a rate limit waited
    out), as a line for stderr: its message and code, and when it is tried again."""
    if error.code is ErrorCode.RATE_LIMITED and error.retry_after_s is not None:
        wait = math.ceil(error.retry_after_s)
        return f"{error.message} ({error.code}); trying again in {wait} s"
    return f"{error.message} ({error.code})"


def invalid(exc: ValidationError) -> str:
    """What is wrong with an input, field by field, never echoing it (a password)."""
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in error["loc"]) or "input"
        problems.append(f"{where}: {error['msg'].removeprefix('Value error, ')}")
    return "; ".join(problems)


def _fail(message: str, status: int) -> int:
    print(f"vigil: {message}", file=sys.stderr)
    return status
