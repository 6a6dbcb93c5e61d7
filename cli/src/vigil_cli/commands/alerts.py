"""`vigil alerts [-f]`: the alerts the gateway keeps, and with `-f` new ones live
(resumed from the last one listed, so none falls between the two); `vigil alerts
active` those raised now, with who acknowledged them; `vigil alerts ack ID --note
TEXT` acknowledges one (an operator); `vigil alerts confirm ID` carries out what a
raised alert proposes (an operator, asked first); `vigil alerts rules ...` the alert
rules."""

import argparse
import json
import sys
from typing import Any

from pydantic import ValidationError

from vigil.channels import resolve_channel
from vigil.messages import AlertChanged, Error, Gap, Reset, Update
from vigil_cli import figures
from vigil_cli.commands import Subparsers, alert_rules
from vigil_cli.commands.actions import Answer, asking
from vigil_cli.remote import FAILED, OK, Remote, add_url_option, notice, run
from vigil_cli.tables import table
from vigil_client import Api, routes
from vigil_client.frames import parse_frame

PAGE = 1000
HEADERS = ("TIME", "STATE", "SOURCE", "HOST", "METRIC", "VALUE", "THRESHOLD", "MESSAGE")


def add_parser(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "alerts", help="threshold alerts, and new ones live (-f)", description=__doc__
    )
    add_url_option(parser)
    parser.add_argument("--source", help="only alerts of this source (host, docker, ...)")
    parser.add_argument("-f", "--follow", action="store_true", help="keep printing new alerts")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.set_defaults(handler=lambda args: run(lambda remote: _alerts(remote, args), args))
    actions = parser.add_subparsers(title="actions", metavar="ACTION", required=False)

    active = actions.add_parser(
        "active",
        help="alerts raised now, with who acknowledged them",
        description="The alert book: alerts raised and not resolved, newest first.",
    )
    active.add_argument("--all", action="store_true", help="resolved ones too")
    active.set_defaults(handler=lambda args: run(lambda remote: _active(remote, args), args))

    ack = actions.add_parser(
        "ack",
        help="acknowledge a raised alert (an operator)",
        description="Acknowledge a raised alert, with a note: everyone sees who took it.",
    )
    ack.add_argument("alert_id", metavar="ID")
    ack.add_argument("--note", default="", help="what you are doing about it")
    ack.set_defaults(handler=lambda args: run(lambda remote: _ack(remote, args), args))

    confirm = actions.add_parser(
        "confirm",
        help="carry out what a raised alert proposes (an operator)",
        description=(
            "Carry out the action a raised alert proposes (restart its container, scale its"
            " pod's workload), once: the deployer asks first, answered at the prompt or"
            " yes with --yes."
        ),
    )
    confirm.add_argument("alert_id", metavar="ID")
    confirm.add_argument("-y", "--yes", action="store_true", help="answer yes")
    confirm.set_defaults(handler=lambda args: run(lambda remote: _confirm(remote, args), args))
    for action in (active, ack, confirm):
        add_url_option(action)
        action.add_argument("--json", action="store_true", help="print the answer as JSON")
    alert_rules.add_parsers(actions)


BOOK_HEADERS = ("TIME", "STATE", "ID", "ACKNOWLEDGED", "MESSAGE")


async def _active(remote: Remote, args: argparse.Namespace) -> int:
    async with remote.api() as api:
        book = await api.alerts(active=not args.all)
    if args.json:
        print(book.model_dump_json(indent=2))
        return OK
    rows = [
        (
            figures.moment(record.alert.time).replace(" ", "T"),
            record.alert.state,
            record.alert.id,
            f"{record.acknowledged.by}: {record.acknowledged.note}".rstrip(": ")
            if record.acknowledged
            else "-",
            record.alert.message,
        )
        for record in book.alerts
    ]
    print(table(BOOK_HEADERS, rows) if rows else "no alerts raised")
    return OK


async def _ack(remote: Remote, args: argparse.Namespace) -> int:
    async with remote.api() as api:
        alert = await api.acknowledge_alert(args.alert_id, args.note)
    if args.json:
        _print_json(alert)
    else:
        print(f"acknowledged {alert.id}")
    return OK


async def _confirm(remote: Remote, args: argparse.Namespace) -> int:
    answer = Answer(args.yes, {args.alert_id}, key="alert")
    async with remote.client(on_ask=answer) as client:
        await asking(client, remote)  # the question comes on this socket
        confirmed = await client.api.confirm_proposal(args.alert_id)
    if args.json:
        print(confirmed.model_dump_json())
    proposal = confirmed.alert.proposal
    what = proposal.describe() if proposal is not None else "its proposal"
    if confirmed.outcome != "done":
        print(f"vigil: {args.alert_id}: {what}: {confirmed.detail}", file=sys.stderr)
        return FAILED
    if not args.json:
        print(f"{what}: done ({confirmed.detail})")
    return OK


async def _alerts(remote: Remote, args: argparse.Namespace) -> int:
    params = {"source": args.source} if args.source else {}
    channel = resolve_channel("alerts", params)  # a bad source is refused here, clearly
    async with remote.client() as client:
        kept, cursor = await _kept(client.api, channel.spec.name, params)
        if args.json:
            for kept_alert in kept:
                _print_json(kept_alert)
        else:
            print(table(HEADERS, [_row(alert) for alert in kept]) if kept else "no alerts kept")
        if not args.follow:
            return OK
        live = await client.subscribe(channel.spec.name, params, since=cursor)
        async for event in live:
            if isinstance(event, Update):
                alert = _alert(event.data)
                if alert is not None and args.json:
                    _print_json(alert)
                elif alert is not None:
                    print(table(HEADERS, [_row(alert)]).splitlines()[1], flush=True)
            elif isinstance(event, Gap | Reset | Error):
                print(f"vigil: {_notice(event)}", file=sys.stderr)
    return OK


async def _kept(api: Api, name: str, params: dict[str, str]) -> tuple[list[AlertChanged], int]:
    """Every alert the gateway keeps, oldest first, and the cursor after the last."""
    alerts: list[AlertChanged] = []
    cursor = 0
    while True:
        page = await api.get_json(routes.poll(name), **params, since=cursor, limit=PAGE)
        for message in page["messages"]:
            frame = parse_frame(message)
            if isinstance(frame, Update) and (alert := _alert(frame.data)) is not None:
                alerts.append(alert)
        next_cursor = int(page.get("next_cursor", cursor))
        if len(page["messages"]) < PAGE or next_cursor == cursor:
            return alerts, next_cursor
        cursor = next_cursor


def _alert(data: dict[str, Any]) -> AlertChanged | None:
    try:
        return AlertChanged.model_validate(data)
    except ValidationError:
        return None


def _row(alert: AlertChanged) -> tuple[object, ...]:
    return (
        figures.moment(alert.time).replace(" ", "T"),
        alert.state,
        alert.source,
        alert.host,
        alert.metric,
        f"{alert.value:g}",
        f"{alert.threshold:g}",
        alert.message,
    )


def _print_json(alert: AlertChanged) -> None:
    print(json.dumps(alert.model_dump(mode="json")), flush=True)


def _notice(event: Gap | Reset | Error) -> str:
    if isinstance(event, Gap):
        return f"{event.dropped} alerts dropped (too slow)"
    if isinstance(event, Reset):
        return "some alerts were lost: no longer kept"
    return notice(event)
