"""`vigil logs CONTAINER [-f]`: a container's log lines, and with `-f` the new ones live;
`vigil logs --label K=V | --name GLOB | --selector K=V,... | --workload KIND/NAME [-f]`:
every container and pod they pick, merged.

The lines come from the `docker.logs` channel, from the oldest the gateway keeps
(plus the container's last lines, which the collector sends when it starts following
it), or from `logs.merged`, in time order, each line after its source: a container's
name, or a pod's `cluster/namespace/pod`. Pods are picked by a Kubernetes label
selector (`--selector`) or workload (`--workload deployment/web`), in `--namespace`
and on `--cluster` when given (else on every cluster the user may see).
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
from vigil_client import Event, Subscription

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
    parser.add_argument(
        "--selector", help="merge every pod this label selector picks (app=web,tier!=db)"
    )
    parser.add_argument(
        "--workload", help="merge the pods of this deployment/, statefulset/ or daemonset/NAME"
    )
    parser.add_argument("--namespace", help="the pods' namespace (default: every one)")
    parser.add_argument("--cluster", help="the pods' cluster (default: every one you may see)")
    parser.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    parser.add_argument("--host", help="the container's Docker host (default: any)")
    parser.add_argument("--grep", help="only lines with this text (any case)")
    parser.add_argument("--level", help="only lines of this level or worse (info, warn, error...)")
    parser.add_argument("-t", "--timestamps", action="store_true", help="show each line's time")
    parser.set_defaults(handler=lambda args: run(lambda remote: _logs(remote, args), args))


async def _logs(remote: Remote, args: argparse.Namespace) -> int:
    selectors = (args.label, args.name, args.selector, args.workload)
    merged = any(selector is not None for selector in selectors)
    if merged == (args.container is not None):
        print(
            "vigil: name a container, or pick several with --label or --name (containers)"
            " or --selector or --workload (pods)",
            file=sys.stderr,
        )
        return FAILED
    given = {
        "container": args.container,
        "label": args.label,
        "name": args.name,
        "selector": args.selector,
        "workload": args.workload,
        "namespace": args.namespace,
        "cluster": args.cluster,
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


def _show(event: Event, timestamps: bool, until: datetime | None = None) -> bool:
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
                source = _source(line)
                if line.marker is not None:
                    print(f"vigil: {source} {line.marker}", file=sys.stderr)
                    continue
                late = " (late)" if line.late else ""
                prefix = f"{prefix}{source}{late} | "
            out: TextIO = sys.stderr if line.stream == "stderr" else sys.stdout
            out.write(f"{prefix}{line.text}\n")
        sys.stdout.flush()
    elif isinstance(event, Gap):
        print(f"vigil: {event.dropped} log batches dropped (too slow)", file=sys.stderr)
    elif isinstance(event, Reset):
        if event.since > 0:  # from 0 it only says the oldest lines went, as expected
            print("vigil: lines were lost: they are no longer kept", file=sys.stderr)
    elif isinstance(event, Error):  # (`stale` and `fresh` are for state, not logs)
        print(f"vigil: {event.message} ({event.code})", file=sys.stderr)
    return False


def _source(line: MergedLogLine) -> str:
    """A container by its name; a pod by where it is, as pods of several clusters and
    namespaces may share names."""
    if line.cluster is None:
        return line.name
    return f"{line.cluster}/{line.namespace}/{line.name}"
