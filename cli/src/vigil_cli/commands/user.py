"""`vigil user add|list|disable`: manage users through the auth service."""

import argparse
import getpass
import sys

from vigil.access import ALL_CLUSTERS, Role
from vigil.messages import CreateUser, DisableUser, ListUsers, UserList, UserView
from vigil.operations import Auth
from vigil_cli.auth_client import actor, run, table
from vigil_cli.commands import Subparsers

ROLES = [role.value for role in Role]


def add_parser(commands: Subparsers) -> None:
    parser = commands.add_parser("user", help="add, list or disable users")
    actions = parser.add_subparsers(title="actions", metavar="ACTION", required=True)

    add = actions.add_parser("add", help="add a user")
    add.add_argument("username")
    add.add_argument("--role", action="append", choices=ROLES, required=True, dest="roles")
    add.add_argument(
        "--cluster",
        action="append",
        default=[],
        dest="clusters",
        help=f"a cluster the user may see (repeat; {ALL_CLUSTERS!r} for all)",
    )
    add.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    add.add_argument("--json", action="store_true")
    add.set_defaults(handler=_add)

    listing = actions.add_parser("list", help="list users")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_list)

    disable = actions.add_parser("disable", help="disable a user and close their sessions")
    disable.add_argument("username")
    disable.add_argument("--json", action="store_true")
    disable.set_defaults(handler=_disable)


def _add(args: argparse.Namespace) -> int:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"password for {args.username}: ")
        if getpass.getpass("again: ") != password:
            print("vigil: the passwords differ", file=sys.stderr)
            return 1
    return run(
        Auth.CREATE_USER,
        lambda: CreateUser(
            actor=actor(),
            username=args.username,
            password=password,
            roles=args.roles,
            clusters=args.clusters,
        ),
        _one,
        as_json=args.json,
    )


def _list(args: argparse.Namespace) -> int:
    return run(Auth.LIST_USERS, lambda: ListUsers(actor=actor()), _many, as_json=args.json)


def _disable(args: argparse.Namespace) -> int:
    return run(
        Auth.DISABLE_USER,
        lambda: DisableUser(actor=actor(), username=args.username),
        _one,
        as_json=args.json,
    )


_HEADERS = ("USERNAME", "ROLES", "CLUSTERS", "DISABLED", "CREATED", "ID")


def _row(user: UserView) -> tuple[object, ...]:
    created = user.created_at.isoformat(timespec="seconds")
    return (user.username, user.roles, user.clusters, user.disabled, created, user.id)


def _one(user: UserView) -> str:
    return table(_HEADERS, [_row(user)])


def _many(users: UserList) -> str:
    return table(_HEADERS, [_row(user) for user in users.users])
