"""`vigil login`: check credentials against the gateway and save them for the other
commands (in a config file only its owner can read). The gateway must answer before
anyone is asked for a name or a password."""

import argparse
import getpass
import sys

import httpx

from vigil_cli import config as config_file
from vigil_cli.commands import Subparsers
from vigil_cli.errors import CliError
from vigil_cli.remote import OK, Remote, add_url_option, run
from vigil_client import ApiKey, Tokens, login, reach
from vigil_client.api import TIMEOUT, Api
from vigil_client.session import Session


def add_parser(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "login",
        help="log in to a gateway and save the credentials",
        description=(
            "Log in with a username and password (the tokens are saved and refreshed), "
            "or save an API key. Credentials go to $XDG_CONFIG_HOME/vigil/config.json "
            "(or $VIGIL_CONFIG), readable by you only."
        ),
    )
    add_url_option(parser)
    parser.add_argument("--username", "-u", help="default: asked")
    how = parser.add_mutually_exclusive_group()
    how.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    how.add_argument(
        "--api-key-stdin", action="store_true", help="read an API key from standard input"
    )
    parser.set_defaults(handler=lambda args: run(lambda remote: _login(remote, args), args))


async def _login(remote: Remote, args: argparse.Namespace) -> int:
    await reach(remote.url)  # a wrong URL is said before a password is typed for it
    if args.api_key_stdin:
        key = sys.stdin.readline().strip()
        if not key:
            raise CliError("no API key on standard input")
        who = await _whoami(remote.url, ApiKey(key))
        saved = remote.saved.model_copy(
            update={
                "url": remote.url,
                "username": who,
                "api_key": key,
                "access_token": None,
                "refresh_token": None,
                "expires_at": None,
            }
        )
    else:
        username = args.username or _ask("username: ")
        if args.password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = getpass.getpass(f"password for {username}: ")
        if not username or not password:
            raise CliError("a username and a password are needed")
        tokens = Tokens.issued(await login(remote.url, username, password))
        saved = remote.saved.model_copy(update={"url": remote.url, "username": username})
        saved = saved.with_tokens(tokens)
    config_file.save(remote.path, saved)
    print(f"logged in to {remote.url} as {saved.username} (saved in {remote.path})")
    return OK


async def _whoami(url: str, credentials: ApiKey) -> str:
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        me = await Api(Session(url, credentials), http).me()
    return str(me.get("name") or me.get("id") or "?")


def _ask(prompt: str) -> str:
    try:
        return input(prompt).strip()
    except EOFError:
        raise CliError("no username given (use --username)") from None
