"""`vigil logs CONTAINER [-f]`: a container's last lines, and with `-f` the new ones live;
`vigil logs --label K=V | --name GLOB | --selector K=V,... | --workload KIND/NAME [-f]`:
every container and pod they pick, merged.

First the last `--tail` lines (100; `all`: every one) of those written since `--since`
(a duration ago, `10m`, or an RFC 3339 time; with `--since` alone, every line since).
A container's are read from its engine through the gateway's scroll-back, so they
reach as far back as its log. With `--grep` and no `-f`, and no container named (or
`--until` given), the server searches its kept logs instead (the last hour of every
followed source, and the retained containers' and pods' for as long as they are kept):
of the container, of what the selectors below pick now, or of everything the user may
read, in `[--since, --until)`. Otherwise with `--grep` or `--level` (filters the
gateway applies) and for merged views they are the lines the gateway keeps (its
window), from the `docker.logs` or `logs.merged` channel, with the last lines the
collector sends when it starts following a container. Then with `-f` the new lines
follow, across reconnects without a repeat or a loss.

A merged view reads `logs.merged`: in time order, each line after its source, a
container's name or a pod's `cluster/namespace/pod`. Pods are picked by a Kubernetes
label selector (`--selector`) or workload (`--workload deployment/web`), in
`--namespace` and on `--cluster` when given (else on every cluster the user may see).
stdout lines go to stdout, stderr lines to stderr; a gap or reset, a rate limit waited
out, containers joining or leaving a merged view, and before a kept hit where a
generation begins (a container recreated under its name, a pod's successor or restart)
that marker, are said on stderr, never hidden, and a refusal ends the command with its
code. The container is an id, a name, or a unique prefix of either.
"""

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

from pydantic import ValidationError

from vigil.messages import (
    Error,
    Gap,
    LogBatch,
    LogHit,
    LogLine,
    MergedLogBatch,
    MergedLogLine,
    Reset,
    Update,
    utc_now,
)
from vigil_cli import figures, log_search, scrollback, times
from vigil_cli.commands import Subparsers
from vigil_cli.remote import FAILED, OK, Remote, add_url_option, notice, run
from vigil_client import ConnectionState, Event, Subscription, Unreachable, VigilClient

DEFAULT_TAIL = 100  # as `docker logs -n` users expect to see at once
QUIET_S = 1.5  # a kept view without -f: done at a line written after the start, or none
FIRST_LINE_S = 5.0  # for this long, or none at all for this long once subscribed
CONNECT_S = 10.0  # a kept view: the gateway must be reached within this


def tail_lines(text: str) -> int | None:
    """A number of lines, or `all` (None)."""
    if text == "all":
        return None
    try:
        count = int(text)
    except ValueError:
        count = -1
    if count < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of lines (0 or more) or all")
    return count


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
    parser.add_argument(
        "-n",
        "--tail",
        type=tail_lines,
        default=argparse.SUPPRESS,
        metavar="N",
        help=f"the last N lines first (default {DEFAULT_TAIL}; all with --since; all: every one)",
    )
    parser.add_argument(
        "--since",
        type=times.moment,
        metavar="WHEN",
        help="only lines since then: a duration ago (10m, 1h30m) or a time (2026-05-01T12:00:00Z)",
    )
    parser.add_argument(
        "--until",
        type=times.moment,
        metavar="WHEN",
        help="only lines before then (searches the kept logs: with --grep, without -f)",
    )
    parser.add_argument("--host", help="the container's Docker host (default: any)")
    parser.add_argument("--grep", help="only lines with this text (any case)")
    parser.add_argument(
        "-E", "--regex", action="store_true", help="--grep is a pattern (RE2 syntax), not text"
    )
    parser.add_argument("--level", help="only lines of this level or worse (info, warn, error...)")
    parser.add_argument("-t", "--timestamps", action="store_true", help="show each line's time")
    parser.set_defaults(handler=lambda args: run(lambda remote: _logs(remote, args), args))


@dataclass(frozen=True)
class Window:
    """Which of the lines written before now are shown: the last `tail` (None: all) of
    those written at `since` or later (None: any)."""

    tail: int | None
    since: datetime | None

    @classmethod
    def of(cls, args: argparse.Namespace) -> "Window":
        if hasattr(args, "tail"):
            return cls(args.tail, args.since)
        return cls(None if args.since is not None else DEFAULT_TAIL, args.since)

    def pick(self, lines: Sequence[LogLine]) -> list[LogLine]:
        """The lines shown (a merged view's joined/left markers do not count as lines)."""
        since = self.since
        recent = [line for line in lines if since is None or line.time >= since]
        if self.tail is None:
            return recent
        picked: list[LogLine] = []
        count = 0
        for line in reversed(recent):
            if not _is_marker(line):
                if count == self.tail:
                    break
                count += 1
            picked.append(line)
        return picked[::-1]


async def _logs(remote: Remote, args: argparse.Namespace) -> int:
    selectors = (args.label, args.name, args.selector, args.workload)
    merged = any(selector is not None for selector in selectors)
    searched = args.grep is not None and not args.follow and (args.until or args.container is None)
    if searched:
        await _search(remote, args, Window.of(args))
        return OK
    if args.until is not None or args.regex:
        print(
            "vigil: --until and --regex search the kept logs: give --grep, and no -f",
            file=sys.stderr,
        )
        return FAILED
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
    window = Window.of(args)
    if merged or args.grep is not None or args.level is not None:
        channel = "logs.merged" if merged else "docker.logs"
        await _kept_view(remote, channel, params, window, args)
    else:
        await _container(remote, params, window, args)
    return OK


async def _search(remote: Remote, args: argparse.Namespace, window: Window) -> None:
    """The kept logs searched by the server: the last `--tail` hits of `--grep` (every
    one with `--since` alone, printed as they are found) in `[--since, --until)`, of a
    container, of what a merged view's selectors pick now, or of everything."""
    given = {
        "container": args.container,
        "label": args.label,
        "name": args.name,
        "selector": args.selector,
        "workload": args.workload,
        "host": args.host,
        "cluster": args.cluster,
        "namespace": args.namespace,
    }
    options = {
        "literal": not args.regex,
        "ignore_case": not args.regex,
        "level": args.level,
        "since": window.since,
        "until": args.until,
        **{key: value for key, value in given.items() if value is not None},
    }
    with_source = args.container is None
    async with remote.api() as api:
        if window.tail is not None:
            hits = await log_search.last(api, args.grep, window.tail, **options)
            _print_hits(hits, args.timestamps, with_source=with_source)
            return
        async for page in log_search.every(api, args.grep, **options):
            _print_hits(page, args.timestamps, with_source=with_source)


def _print_hits(hits: Sequence[LogHit], timestamps: bool, *, with_source: bool) -> None:
    """Hits as lines, a hit where a generation begins after its marker (on stderr)."""
    lines: list[LogLine] = []
    for hit in hits:
        said = log_search.generation_said(hit)
        if said is not None:
            _print(lines, timestamps)  # the lines before it, first
            lines = []
            print(f"vigil: {said}", file=sys.stderr)
        lines.append(log_search.as_line(hit, with_source=with_source))
    _print(lines, timestamps)


async def _container(
    remote: Remote, params: dict[str, str], window: Window, args: argparse.Namespace
) -> None:
    """A container's lines read from its engine, then (`-f`) followed live."""
    container, host = params["container"], params.get("host")
    if not args.follow:
        async with remote.api() as api:
            history = await scrollback.read(
                api, container, host=host, tail=window.tail, since=window.since
            )
        _print(history.lines, args.timestamps)
        return
    async with remote.client() as client:
        live = await client.subscribe("docker.logs", params)  # from now: nothing falls between
        history = await scrollback.read(
            client.api, container, host=host, tail=window.tail, since=window.since
        )
        _print(history.lines, args.timestamps)
        async for event in live:  # the lines read already come again: shown once
            _show(event, args.timestamps, after=history.newest, since=window.since)


async def _kept_view(
    remote: Remote,
    channel: str,
    params: dict[str, str],
    window: Window,
    args: argparse.Namespace,
) -> None:
    """A filtered or merged view: the lines the gateway keeps, then (`-f`) live."""
    async with remote.client() as client:
        # From the oldest line kept: `since=0` resumes from before the first cursor.
        lines = await client.subscribe(channel, params, since=0)
        history, first_live = await _until_now(client, lines, utc_now())
        _print(window.pick(history), args.timestamps)
        if args.follow:
            _print(first_live, args.timestamps)
            async for event in lines:
                _show(event, args.timestamps)


async def _until_now(
    client: VigilClient, lines: Subscription, started: datetime
) -> tuple[list[LogLine], list[LogLine]]:
    """The lines written before `started`, and those of the same batch after it. Done
    at the first line written after it, or when none comes for a while once the
    gateway took the subscription; a refusal raises, and a gateway not reached in
    `CONNECT_S` is `Unreachable`."""
    history: list[LogLine] = []
    wait = FIRST_LINE_S
    reaching_since = time.monotonic()
    while True:
        accepted_before = lines.accepted
        try:
            async with asyncio.timeout(wait):
                event = await lines.next()
        except TimeoutError:
            if lines.accepted and accepted_before:
                return history, []  # quiet: everything before now has come
            if client.state in (ConnectionState.LIVE, ConnectionState.FALLBACK):
                reaching_since = time.monotonic()  # connected: the answer is on its way
            elif time.monotonic() - reaching_since >= CONNECT_S:
                why = client.last_disconnect or "no connection yet"
                raise Unreachable(client.session.base_url, why) from None
            wait = FIRST_LINE_S
            continue
        if not isinstance(event, Update):
            _say(event)
            if isinstance(event, Error) and event.retry_after_s is not None:
                wait = event.retry_after_s + FIRST_LINE_S  # tried again after that
            continue
        batch = _lines_of(event)
        for index, line in enumerate(batch):
            if line.time > started:
                return history, batch[index:]
        history.extend(batch)
        wait = QUIET_S


def _lines_of(event: Update) -> list[LogLine]:
    batch: MergedLogBatch | LogBatch
    try:
        batch = MergedLogBatch.model_validate(event.data)
    except ValidationError:
        try:
            batch = LogBatch.model_validate(event.data)
        except ValidationError:
            return []
    return list(batch.lines)


def _show(
    event: Event,
    timestamps: bool,
    *,
    after: datetime | None = None,
    since: datetime | None = None,
) -> None:
    """Print the event: its lines written after `after` (shown already otherwise) and
    at `since` or later, or what it says on stderr."""
    if not isinstance(event, Update):
        _say(event)
        return
    _print(
        [
            line
            for line in _lines_of(event)
            if (after is None or line.time > after) and (since is None or line.time >= since)
        ],
        timestamps,
    )


def _print(lines: Sequence[LogLine], timestamps: bool) -> None:
    for line in lines:
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


def _say(event: Event) -> None:
    """What is not a line, on stderr (`stale` and `fresh` are for state, not logs)."""
    if isinstance(event, Gap):
        print(f"vigil: {event.dropped} log batches dropped (too slow)", file=sys.stderr)
    elif isinstance(event, Reset):
        if event.since > 0:  # from 0 it only says the oldest lines went, as expected
            print("vigil: lines were lost: they are no longer kept", file=sys.stderr)
    elif isinstance(event, Error):
        print(f"vigil: {notice(event)}", file=sys.stderr)


def _is_marker(line: LogLine) -> bool:
    return isinstance(line, MergedLogLine) and line.marker is not None


def _source(line: MergedLogLine) -> str:
    """A container by its name; a pod by where it is, as pods of several clusters and
    namespaces may share names."""
    if line.cluster is None:
        return line.name
    return f"{line.cluster}/{line.namespace}/{line.name}"
