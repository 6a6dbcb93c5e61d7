"""`vigil user add|list|update|disable`: manage users through the gateway, as an admin.

The calls carry the credentials `vigil login` saved; the gateway lets only the admin
role through (anyone else: exit 1, and the gateway's reason).
"""

import argparse
import getpass
import sys

from vigil.access import ALL_CLUSTERS, Role
from vigil.messages import UserAccess, UserDraft, UserView
from vigil_cli.commands import Subparsers, add_permission_option
from vigil_cli.errors import CliError
from vigil_cli.remote import OK, Remote, add_url_option, run
from vigil_cli.tables import table

ROLES = [role.value for role in Role]


def add_parser(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "user",
        help="add, list, change or disable users (as an admin)",
        description="Manage users through the gateway with the admin login `vigil login` saved.",
    )
    actions = parser.add_subparsers(title="actions", metavar="ACTION", required=True)

    add = actions.add_parser("add", help="add a user", description="Add a user.")
    add.add_argument("username")
    add.add_argument(
        "--role",
        action="append",
        choices=ROLES,
        required=True,
        dest="roles",
        help="a role of the user (repeat for more)",
    )
    add.add_argument(
        "--cluster",
        action="append",
        default=[],
        dest="clusters",
        metavar="CLUSTER",
        help=f"a cluster the user may see (repeat; {ALL_CLUSTERS!r} for all)",
    )
    add_permission_option(add)
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input (default: asked twice)",
    )
    add.set_defaults(handler=lambda args: run(lambda remote: _add(remote, args), args))

    listing = actions.add_parser("list", help="list users", description="List every user.")
    listing.set_defaults(handler=lambda args: run(lambda remote: _list(remote, args), args))

    update = actions.add_parser(
        "update",
        help="change a user's roles, clusters or permissions",
        description=(
            "Replace what is given of a user's access (the rest stays). Taking anything"
            " away ends the user's sessions at once: they sign in again with what is left."
        ),
    )
    update.add_argument("username")
    update.add_argument(
        "--role", action="append", choices=ROLES, dest="roles", help="the user's roles (repeat)"
    )
    update.add_argument(
        "--cluster",
        action="append",
        dest="clusters",
        metavar="CLUSTER",
        help=f"the clusters the user may see (repeat; {ALL_CLUSTERS!r} for all)",
    )
    update.add_argument(
        "--no-cluster", action="store_const", const=[], dest="clusters", help="no cluster"
    )
    add_permission_option(update, changing=True)
    update.add_argument(
        "--no-permission", action="store_const", const=[], dest="permissions", help="none"
    )
    update.set_defaults(handler=lambda args: run(lambda remote: _update(remote, args), args))

    disable = actions.add_parser(
        "disable",
        help="disable a user and close their sessions",
        description="Disable a user: their sessions end and their sockets are closed.",
    )
    disable.add_argument("username")
    disable.set_defaults(handler=lambda args: run(lambda remote: _disable(remote, args), args))

    for action in (add, listing, update, disable):
        add_url_option(action)
        action.add_argument("--json", action="store_true", help="print the answer as JSON")


async def _add(remote: Remote, args: argparse.Namespace) -> int:
    async with remote.api() as api:  # not logged in: said before a password is asked
        password = _password(args)  # blocking, as in `vigil login`: nothing else runs yet
        draft = UserDraft(
            username=args.username,
            password=password,
            roles=args.roles,
            clusters=args.clusters,
            permissions=args.permissions,
        )
        user = await api.create_user(draft)
    print(user.model_dump_json(indent=2) if args.json else _table([user]))
    return OK


async def _list(remote: Remote, args: argparse.Namespace) -> int:
    async with remote.api() as api:
        users = await api.users()
    print(users.model_dump_json(indent=2) if args.json else _table(users.users))
    return OK


async def _update(remote: Remote, args: argparse.Namespace) -> int:
    access = UserAccess(roles=args.roles, clusters=args.clusters, permissions=args.permissions)
    async with remote.api() as api:
        user = await api.update_user(args.username, access)
    print(user.model_dump_json(indent=2) if args.json else _table([user]))
    return OK


async def _disable(remote: Remote, args: argparse.Namespace) -> int:
    async with remote.api() as api:
        user = await api.disable_user(args.username)
    print(user.model_dump_json(indent=2) if args.json else _table([user]))
    return OK


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    try:
        password = getpass.getpass(f"password for {args.username}: ")
        if getpass.getpass("again: ") != password:
            raise CliError("the passwords differ")
    except EOFError:
        raise CliError("no password given (use --password-stdin to pipe one)") from None
    return password


_HEADERS = ("USERNAME", "ROLES", "CLUSTERS", "PERMISSIONS", "DISABLED", "CREATED", "ID")


def _table(users: list[UserView]) -> str:
    return table(_HEADERS, [_row(user) for user in users])


def _row(user: UserView) -> tuple[object, ...]:
    created = user.created_at.isoformat(timespec="seconds")
    return (
        user.username,
        user.roles,
        user.clusters,
        user.permissions,
        user.disabled,
        created,
        user.id,
    )
