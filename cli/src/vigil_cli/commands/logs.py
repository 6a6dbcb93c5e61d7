"""`vigil logs CONTAINER [-f]`: a container's log lines, and with `-f` the new ones live;
`vigil logs --label K=V | --name GLOB [-f]`: every container they pick, merged.

The lines come from the `docker.logs` channel, from the oldest the gateway keeps
(plus the container's last lines, which the collector sends when it starts following
it), or from `logs.merged`, in time order, each line after its container's name.
Without `-f` the command prints the lines written before it started and ends (or
ends once no more lines come for a moment, for a quiet container). stdout lines go
to stdout, stderr lines to stderr; a gap or reset is said on stderr, never hidden,
and so are containers joining or leaving a merged view. The container is an id, a
name, or a unique prefix of either. `--grep` and `--level` filter at the gateway.
"""

import argparse
import asyncio
import sys
from datetime import datetime
from typing import TextIO

from pydantic import ValidationError

from vigil.messages import (
    Error,
    Gap,
    LogBatch,
    MergedLogBatch,
    MergedLogLine,
    Reset,
    Update,
    utc_now,
)
from vigil_cli import figures
from vigil_cli.commands import Subparsers
from vigil_cli.remote import FAILED, OK, Remote, add_url_option, run
from vigil_client import Subscription

QUIET_S = 1.5  # without -f: done at a line written after the start, or none for this long,
FIRST_LINE_S = 5.0  # or none at all for this long


def add_parser(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "logs", help="a container's log lines", description=__doc__.split("\n\n")[0]
    )
    add_url_option(parser)
    parser.add_argument("container", nargs="?", help="an id, a name, or a unique prefix of either")
    parser.add_argument("--label", help="merge every container with this label (key or key=value)")
    parser.add_argument("--name", help="merge every container whose name fits this glob")
    parser.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    parser.add_argument("--host", help="the container's Docker host (default: any)")
    parser.add_argument("--grep", help="only lines with this text (any case)")
    parser.add_argument("--level", help="only lines of this level or worse (info, warn, error...)")
    parser.add_argument("-t", "--timestamps", action="store_true", help="show each line's time")
    parser.set_defaults(handler=lambda args: run(lambda remote: _logs(remote, args), args))


async def _logs(remote: Remote, args: argparse.Namespace) -> int:
    merged = args.label is not None or args.name is not None
    if merged == (args.container is not None):
        print("vigil: name a container, or pick several with --label or --name", file=sys.stderr)
        return FAILED
    given = {
        "container": args.container,
        "label": args.label,
        "name": args.name,
        "host": args.host,
        "grep": args.grep,
        "level": args.level,
    }
    params = {key: value for key, value in given.items() if value is not None}
    async with remote.client() as client:
        # From the oldest line kept: `since=0` resumes from before the first cursor.
        channel = "logs.merged" if merged else "docker.logs"
        lines = await client.subscribe(channel, params, since=0)
        if args.follow:
            async for event in lines:
                _show(event, args.timestamps)
        else:
            await _until_now(lines, args.timestamps, utc_now())
    return OK


async def _until_now(lines: Subscription, timestamps: bool, started: datetime) -> None:
    """Print the lines written before `started`; stop at the first one written after."""
    wait = FIRST_LINE_S
    while True:
        try:
            async with asyncio.timeout(wait):
                event = await lines.next()
        except TimeoutError:
            return
        if _show(event, timestamps, until=started):
            return
        if isinstance(event, Update):
            wait = QUIET_S


def _show(
    event: Update | Gap | Reset | Error, timestamps: bool, until: datetime | None = None
) -> bool:
    """Print the event (its lines up to `until`); whether a line came after `until`."""
    if isinstance(event, Update):
        batch: MergedLogBatch | LogBatch
        try:
            batch = MergedLogBatch.model_validate(event.data)
        except ValidationError:
            try:
                batch = LogBatch.model_validate(event.data)
            except ValidationError:
                return False
        for line in batch.lines:
            if until is not None and line.time > until:
                sys.stdout.flush()
                return True
            prefix = f"{figures.moment(line.time)} " if timestamps else ""
            if isinstance(line, MergedLogLine):
                if line.marker is not None:
                    print(f"vigil: {line.name} {line.marker}", file=sys.stderr)
                    continue
                late = " (late)" if line.late else ""
                prefix = f"{prefix}{line.name}{late} | "
            out: TextIO = sys.stderr if line.stream == "stderr" else sys.stdout
            out.write(f"{prefix}{line.text}\n")
        sys.stdout.flush()
    elif isinstance(event, Gap):
        print(f"vigil: {event.dropped} log batches dropped (too slow)", file=sys.stderr)
    elif isinstance(event, Reset):
        if event.since > 0:  # from 0 it only says the oldest lines went, as expected
            print("vigil: lines were lost: they are no longer kept", file=sys.stderr)
    else:
        print(f"vigil: {event.message} ({event.code})", file=sys.stderr)
    return False
