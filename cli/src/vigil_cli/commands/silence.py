"""`vigil silence add|list|rm`: silences and maintenance windows. The alerts a silence
matches are not notified while it lasts (they are still kept and shown); operators make
and remove them, viewers list them."""

import argparse

from vigil.messages import Silence, SilenceDraft, SilenceMatcher, utc_now
from vigil_cli.commands import Subparsers
from vigil_cli.errors import CliError
from vigil_cli.remote import OK, Remote, add_url_option, run
from vigil_cli.tables import table
from vigil_cli.times import duration, moment

HEADERS = ("ID", "KIND", "MATCHER", "STARTS", "ENDS", "BY", "COMMENT")


def add_parser(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "silence", help="silences and maintenance windows", description=__doc__
    )
    actions = parser.add_subparsers(title="actions", metavar="ACTION", required=True)

    add = actions.add_parser(
        "add",
        help="a silence, or a maintenance window (--maintenance)",
        description="Silence the alerts that match every condition given, for a while.",
    )
    add.add_argument("--id", dest="alert_ids", default="*", metavar="GLOB", help="alert ids")
    add.add_argument("--hosts", default="*", metavar="GLOB", help="hosts (or clusters)")
    add.add_argument("--source", action="append", default=[], dest="sources", help="host, rule...")
    add.add_argument(
        "--label", action="append", default=[], metavar="KEY=VALUE", help="a rule's label"
    )
    add.add_argument("--for", dest="lasting", type=duration, metavar="DURATION", help="e.g. 2h")
    add.add_argument("--until", type=moment, metavar="TIME", help="an RFC 3339 time")
    add.add_argument("--from", dest="starts", type=moment, metavar="TIME", help="default: now")
    add.add_argument("--comment", default="", help="why")
    add.add_argument("--maintenance", action="store_true", help="a maintenance window")
    add.set_defaults(handler=lambda args: run(lambda remote: _add(remote, args), args))

    listing = actions.add_parser("list", help="those not over", description="List them.")
    listing.set_defaults(handler=lambda args: run(lambda remote: _list(remote, args), args))

    remove = actions.add_parser("rm", help="end one now", description="Remove a silence.")
    remove.add_argument("silence_id", metavar="ID")
    remove.set_defaults(handler=lambda args: run(lambda remote: _remove(remote, args), args))

    for action in (add, listing, remove):
        add_url_option(action)
        action.add_argument("--json", action="store_true", help="print the answer as JSON")


def draft_of(args: argparse.Namespace) -> SilenceDraft:
    if (args.lasting is None) == (args.until is None):
        raise CliError("say how long: --for DURATION or --until TIME")
    starts = args.starts
    ends = args.until if args.until is not None else (starts or utc_now()) + args.lasting
    labels = {}
    for text in args.label:
        key, equals, value = text.partition("=")
        if not equals:
            raise CliError(f"--label {text!r}: KEY=VALUE")
        labels[key] = value
    matcher = SilenceMatcher(
        alert_ids=args.alert_ids, hosts=args.hosts, sources=args.sources, labels=labels
    )
    return SilenceDraft(
        matcher=matcher,
        starts=starts,
        ends=ends,
        comment=args.comment,
        maintenance=args.maintenance,
    )


async def _add(remote: Remote, args: argparse.Namespace) -> int:
    draft = draft_of(args)
    async with remote.api() as api:
        silence = await api.create_silence(draft)
    print(silence.model_dump_json(indent=2) if args.json else _table([silence], ""))
    return OK


async def _list(remote: Remote, args: argparse.Namespace) -> int:
    async with remote.api() as api:
        silences = await api.silences()
    print(
        silences.model_dump_json(indent=2)
        if args.json
        else _table(silences.silences, "no silences")
    )
    return OK


async def _remove(remote: Remote, args: argparse.Namespace) -> int:
    async with remote.api() as api:
        silence = await api.delete_silence(args.silence_id)
    print(silence.model_dump_json(indent=2) if args.json else _table([silence], ""))
    return OK


def _table(silences: list[Silence], empty: str) -> str:
    return table(HEADERS, [_row(s) for s in silences]) if silences else empty


def _row(silence: Silence) -> tuple[object, ...]:
    matcher = silence.matcher.model_dump(exclude_defaults=True)
    said = ",".join(f"{k}={v}" for k, v in matcher.items()) or "*"
    return (
        silence.id,
        "maintenance" if silence.maintenance else "silence",
        said,
        silence.starts.isoformat(timespec="seconds"),
        silence.ends.isoformat(timespec="seconds"),
        silence.created_by,
        silence.comment or "-",
    )
