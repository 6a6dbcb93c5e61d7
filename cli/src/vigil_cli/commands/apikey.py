"""`vigil apikey create|list|revoke`: API keys for scripts and machines, managed
through the gateway as an admin (with the login `vigil login` saved)."""

import argparse
from datetime import datetime

from vigil.access import ALL_CLUSTERS, Role
from vigil.messages import ApiKeyDraft, ApiKeyView, utc_now
from vigil_cli.commands import Subparsers, add_permission_option
from vigil_cli.remote import OK, Remote, add_url_option, run
from vigil_cli.tables import table
from vigil_cli.times import duration


def add_parser(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "apikey",
        help="create, list or revoke API keys (as an admin)",
        description="Manage API keys through the gateway with the admin login `vigil login` saved.",
    )
    actions = parser.add_subparsers(title="actions", metavar="ACTION", required=True)

    create = actions.add_parser(
        "create",
        help="create a key (its secret is shown once)",
        description="Create an API key; its secret is printed this once, never again.",
    )
    create.add_argument("name", help="what the key is for, e.g. the script that uses it")
    create.add_argument(
        "--role",
        choices=[r.value for r in Role],
        default=Role.VIEWER.value,
        help="what the key may do (default: viewer)",
    )
    create.add_argument(
        "--cluster",
        action="append",
        default=[],
        dest="clusters",
        metavar="CLUSTER",
        help=f"a cluster the key may see (repeat; {ALL_CLUSTERS!r} for all)",
    )
    add_permission_option(create)
    create.add_argument(
        "--expires-in", type=duration, metavar="DURATION", help="e.g. 30d; default: never"
    )
    create.set_defaults(handler=lambda args: run(lambda remote: _create(remote, args), args))

    listing = actions.add_parser(
        "list", help="list keys, with their last use", description="List every API key."
    )
    listing.set_defaults(handler=lambda args: run(lambda remote: _list(remote, args), args))

    revoke = actions.add_parser(
        "revoke",
        help="revoke a key and close its sockets",
        description="Revoke an API key (by its ID): it stops working and its sockets close.",
    )
    revoke.add_argument("key_id", metavar="ID")
    revoke.set_defaults(handler=lambda args: run(lambda remote: _revoke(remote, args), args))

    for action in (create, listing, revoke):
        add_url_option(action)
        action.add_argument("--json", action="store_true", help="print the answer as JSON")


async def _create(remote: Remote, args: argparse.Namespace) -> int:
    expires_at = utc_now() + args.expires_in if args.expires_in else None
    draft = ApiKeyDraft(
        name=args.name,
        role=args.role,
        clusters=args.clusters,
        permissions=args.permissions,
        expires_at=expires_at,
    )
    async with remote.api() as api:
        created = await api.create_api_key(draft)
    if args.json:
        print(created.model_dump_json(indent=2))
    else:
        print(
            f"{_table([created.key])}\n\nAPI key (shown once; keep it secret):\n{created.api_key}"
        )
    return OK


async def _list(remote: Remote, args: argparse.Namespace) -> int:
    async with remote.api() as api:
        keys = await api.api_keys()
    print(keys.model_dump_json(indent=2) if args.json else _table(keys.keys))
    return OK


async def _revoke(remote: Remote, args: argparse.Namespace) -> int:
    async with remote.api() as api:
        key = await api.revoke_api_key(args.key_id)
    print(key.model_dump_json(indent=2) if args.json else _table([key]))
    return OK


_HEADERS = ("ID", "NAME", "ROLE", "CLUSTERS", "PERMISSIONS", "EXPIRES", "LAST USED", "REVOKED")


def _table(keys: list[ApiKeyView]) -> str:
    return table(_HEADERS, [_row(key) for key in keys])


def _row(key: ApiKeyView) -> tuple[object, ...]:
    expires, used = _when(key.expires_at), _when(key.last_used_at)
    return (key.id, key.name, key.role, key.clusters, key.permissions, expires, used, key.revoked)


def _when(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None
