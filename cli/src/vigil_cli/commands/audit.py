"""`vigil audit [-f]` (admins): the audit trail, newest last, and with `-f` new events
live. Filters as `GET /api/audit` takes them: who (`--actor`, a name or id), what
(`--action`, a prefix such as `deploy.`), `--outcome`, `--service`, `--target` (a part
of it), `--since` (a duration ago or a time); `--limit` events at most (the newest)."""

import argparse
import json
import sys
from typing import Any

from pydantic import ValidationError

from vigil.channels import resolve_channel
from vigil.messages import AuditEvent, AuditOutcome, Error, Gap, Reset, Update
from vigil_cli import figures
from vigil_cli.commands import Subparsers
from vigil_cli.remote import OK, Remote, add_url_option, notice, run
from vigil_cli.tables import table
from vigil_cli.times import moment
from vigil_client import Api

PAGE = 1000  # the most the gateway gives at once
HEADERS = ("TIME", "SERVICE", "OUTCOME", "ACTION", "WHO", "FROM", "TARGET", "DETAIL")


def add_parser(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "audit", help="who did what, and what was refused (admins)", description=__doc__
    )
    add_url_option(parser)
    parser.add_argument("--actor", help="a user or API key: its name or id")
    parser.add_argument("--action", help="actions starting so (auth.login, deploy., GET ...)")
    parser.add_argument("--outcome", choices=[outcome.value for outcome in AuditOutcome])
    parser.add_argument("--service", help="auth, deployer or gateway")
    parser.add_argument("--target", help="targets containing this (a deploy id, a username)")
    parser.add_argument(
        "--since", type=moment, help="a duration ago (1h, 30m) or a time (2026-05-01T12:00:00Z)"
    )
    parser.add_argument("--limit", type=int, default=100, help="the newest N at most (100)")
    parser.add_argument("-f", "--follow", action="store_true", help="keep printing new events")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.set_defaults(handler=lambda args: run(lambda remote: _audit(remote, args), args))


async def _audit(remote: Remote, args: argparse.Namespace) -> int:
    if args.limit < 1:
        print("vigil: --limit must be 1 or more", file=sys.stderr)
        return 2
    query = {
        name: value
        for name, value in (
            ("actor", args.actor),
            ("action", args.action),
            ("outcome", args.outcome),
            ("service", args.service),
            ("target", args.target),
            ("since", args.since.isoformat() if args.since else None),
        )
        if value is not None
    }
    params = {"service": args.service} if args.service else {}
    channel = resolve_channel("audit", params)  # a bad service is refused here, clearly
    async with remote.client() as client:
        events, newest = await _kept(client.api, query, args.limit)
        events.reverse()  # oldest first, as a log reads
        if args.json:
            for event in events:
                _print_json(event)
        else:
            print(table(HEADERS, [_row(event) for event in events]) if events else "no events")
        if not args.follow:
            return OK
        live = await client.subscribe(channel.spec.name, params, since=newest)
        async for frame in live:
            if isinstance(frame, Update):
                new = _event(frame.data)
                if new is not None and _wanted(new, args) and args.json:
                    _print_json(new)
                elif new is not None and _wanted(new, args):
                    print(table(HEADERS, [_row(new)]).splitlines()[1], flush=True)
            elif isinstance(frame, Gap | Reset | Error):
                print(f"vigil: {_notice(frame)}", file=sys.stderr)
    return OK


async def _kept(api: Api, query: dict[str, str], limit: int) -> tuple[list[AuditEvent], int]:
    """The newest `limit` events that match, newest first, and the newest cursor of the
    trail (where following goes on: events after it are new)."""
    events: list[AuditEvent] = []
    newest = 0
    before: int | None = None
    while len(events) < limit:
        page = await api.get_json(
            "/api/audit",
            **query,
            limit=min(PAGE, limit - len(events)),
            **({"before": before} if before else {}),
        )
        for raw in page["events"]:
            newest = max(newest, int(raw["cursor"]))
            if (event := _event(raw)) is not None:
                events.append(event)
        before = page["next_before"]
        if before is None:
            break
    if newest == 0:  # nothing matched: follow from the trail's newest event of all
        latest = await api.get_json("/api/audit", limit=1)
        newest = max((int(raw["cursor"]) for raw in latest["events"]), default=0)
    return events, newest


def _wanted(event: AuditEvent, args: argparse.Namespace) -> bool:
    """The filters the channel does not apply (it filters by service only)."""
    actor = args.actor is None or args.actor in (event.actor.name, event.actor.id)
    action = args.action is None or event.action.startswith(args.action)
    outcome = args.outcome is None or event.outcome == args.outcome
    target = args.target is None or args.target in event.target
    return actor and action and outcome and target


def _event(data: dict[str, Any]) -> AuditEvent | None:
    try:
        return AuditEvent.model_validate({k: v for k, v in data.items() if k != "cursor"})
    except ValidationError:
        return None


def _row(event: AuditEvent) -> tuple[object, ...]:
    return (
        figures.moment(event.time).replace(" ", "T"),
        event.service,
        event.outcome,
        event.action,
        f"{event.actor.kind}:{event.actor.name or '-'}",
        event.address or "-",
        event.target or "-",
        event.detail or "-",
    )


def _print_json(event: AuditEvent) -> None:
    print(json.dumps(event.model_dump(mode="json")), flush=True)


def _notice(frame: Gap | Reset | Error) -> str:
    if isinstance(frame, Gap):
        return f"{frame.dropped} audit events dropped (too slow)"
    if isinstance(frame, Reset):
        return "some audit events were lost: no longer kept"
    return notice(frame)
