"""`vigil apikey create|list|revoke`: API keys for scripts and machines."""

import argparse
import re
from datetime import datetime, timedelta

from vigil.access import ALL_CLUSTERS, Role
from vigil.messages import (
    ApiKeyCreated,
    ApiKeyList,
    ApiKeyView,
    CreateApiKey,
    ListApiKeys,
    RevokeApiKey,
    utc_now,
)
from vigil.operations import Auth
from vigil_cli.auth_client import actor, run, table
from vigil_cli.commands import Subparsers

_DURATION = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def duration(text: str) -> timedelta:
    """`90s`, `15m`, `12h`, `30d`."""
    match = _DURATION.fullmatch(text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 30d, 12h, 15m or 90s")
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


def add_parser(commands: Subparsers) -> None:
    parser = commands.add_parser("apikey", help="create, list or revoke API keys")
    actions = parser.add_subparsers(title="actions", metavar="ACTION", required=True)

    create = actions.add_parser("create", help="create a key (its secret is shown once)")
    create.add_argument("name")
    create.add_argument("--role", choices=[r.value for r in Role], default=Role.VIEWER.value)
    create.add_argument(
        "--cluster",
        action="append",
        default=[],
        dest="clusters",
        help=f"a cluster the key may see (repeat; {ALL_CLUSTERS!r} for all)",
    )
    create.add_argument("--expires-in", type=duration, help="e.g. 30d; default: never")
    create.add_argument("--json", action="store_true")
    create.set_defaults(handler=_create)

    listing = actions.add_parser("list", help="list keys, with their last use")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_list)

    revoke = actions.add_parser("revoke", help="revoke a key and close its sockets")
    revoke.add_argument("key_id")
    revoke.add_argument("--json", action="store_true")
    revoke.set_defaults(handler=_revoke)


def _create(args: argparse.Namespace) -> int:
    expires_at = utc_now() + args.expires_in if args.expires_in else None
    return run(
        Auth.CREATE_API_KEY,
        lambda: CreateApiKey(
            actor=actor(),
            name=args.name,
            role=args.role,
            clusters=args.clusters,
            expires_at=expires_at,
        ),
        _created,
        as_json=args.json,
    )


def _list(args: argparse.Namespace) -> int:
    return run(Auth.LIST_API_KEYS, lambda: ListApiKeys(actor=actor()), _many, as_json=args.json)


def _revoke(args: argparse.Namespace) -> int:
    return run(
        Auth.REVOKE_API_KEY,
        lambda: RevokeApiKey(actor=actor(), key_id=args.key_id),
        _one,
        as_json=args.json,
    )


_HEADERS = ("ID", "NAME", "ROLE", "CLUSTERS", "EXPIRES", "LAST USED", "REVOKED")


def _when(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def _row(key: ApiKeyView) -> tuple[object, ...]:
    expires, used = _when(key.expires_at), _when(key.last_used_at)
    return (key.id, key.name, key.role, key.clusters, expires, used, key.revoked)


def _one(key: ApiKeyView) -> str:
    return table(_HEADERS, [_row(key)])


def _many(keys: ApiKeyList) -> str:
    return table(_HEADERS, [_row(key) for key in keys.keys])


def _created(created: ApiKeyCreated) -> str:
    return f"{_one(created.key)}\n\nAPI key (shown once; keep it secret):\n{created.api_key}"
