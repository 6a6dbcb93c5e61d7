"""`vigil history`: metrics over a range, from the history Vigil keeps.

    vigil history web                        a container (name or id): a chart per figure
    vigil history --host web1                the host's own figures
    vigil history --containers --sort memory every container of the host: peak and mean
    vigil history pod/shop/web-1 --cluster c1
    vigil history node/node-a --cluster c1

The range is `--since` (default 1h) or `--start` and `--end`; `--step` seconds per
point (default: the finest the history keeps). A removed container's history stays
readable by its name for the retention window. `--host` may be left out when the
gateway knows one Docker host (or one that runs the container).
"""

import argparse
import json
import shutil
from datetime import timedelta

from vigil.messages import HistoryEntry, HistorySeries
from vigil_cli import figures
from vigil_cli.commands import Subparsers
from vigil_cli.errors import CliError
from vigil_cli.remote import OK, Remote, add_url_option, run
from vigil_cli.sparkline import sparkline
from vigil_cli.tables import table
from vigil_cli.times import duration, moment
from vigil_client import Api, routes

SORTS = {"cpu": "cpu_percent", "memory": "memory_usage"}


def add_parser(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "history",
        help="metrics over a range: charts, or the containers' peaks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_url_option(parser)
    parser.add_argument(
        "target", nargs="?", help="a container (name or id), pod/NAMESPACE/NAME or node/NAME"
    )
    parser.add_argument("--host", help="the Docker host (default: the only one)")
    parser.add_argument("--cluster", help="the cluster of a pod or node")
    parser.add_argument(
        "--containers", action="store_true", help="a table of every container of the host"
    )
    parser.add_argument("--sort", choices=sorted(SORTS), default="cpu", help="with --containers")
    parser.add_argument(
        "--by", choices=("peak", "mean"), default="peak", help="with --containers (peak)"
    )
    parser.add_argument("--since", type=duration, help="back from now: 15m, 1h, 7d (1h)")
    parser.add_argument("--start", type=moment, help="a time (2026-05-01T12:00:00Z) or 2h")
    parser.add_argument("--end", type=moment, help="a time or a duration ago (default: now)")
    parser.add_argument("--step", type=int, help="seconds per point")
    parser.add_argument("--json", action="store_true", help="the answer as JSON")
    parser.set_defaults(handler=lambda args: run(lambda remote: _history(remote, args), args))


async def _history(remote: Remote, args: argparse.Namespace) -> int:
    if args.since is not None and (args.start is not None or args.end is not None):
        raise CliError("give --since, or --start (and --end), not both")
    if args.end is not None and args.start is None:
        raise CliError("--end needs --start")
    if args.step is not None and args.step < 1:
        raise CliError("--step must be 1 or more seconds")
    async with remote.api() as api:
        kind, names = await _what(api, args)
        answer = await api.history(
            kind, since=args.since, start=args.start, end=args.end, step_s=args.step, **names
        )
    if args.json:
        print(json.dumps(answer.model_dump(mode="json")))
    elif kind == "containers":
        print(_table(answer, SORTS[args.sort], args.by))
    else:
        print(_charts(answer))
    return OK


async def _what(api: Api, args: argparse.Namespace) -> tuple[str, dict[str, str]]:
    """The kind of history asked, and the names the route needs."""
    target: str | None = args.target
    if args.containers:
        if target is not None:
            raise CliError("--containers shows every container: leave out the target")
        return "containers", {"host": await _docker_host(api, args.host, None)}
    if target is not None and target.startswith(("pod/", "node/")):
        if not args.cluster:
            raise CliError(f"{target} needs --cluster")
        kind, _, rest = target.partition("/")
        if kind == "node":
            return "node", {"cluster": args.cluster, "node": rest}
        namespace, _, pod = rest.partition("/")
        if not namespace or not pod:
            raise CliError("a pod is pod/NAMESPACE/NAME")
        return "pod", {"cluster": args.cluster, "namespace": namespace, "pod": pod}
    if target is None:
        return "host", {"host": await _docker_host(api, args.host, None)}
    return "container", {"host": await _docker_host(api, args.host, target), "container": target}


async def _docker_host(api: Api, host: str | None, container: str | None) -> str:
    """`host`, else the one Docker host the gateway knows (or the one running
    `container`); else an error naming them."""
    if host is not None:
        return host
    batches = (await api.get_json(routes.CONTAINERS))["hosts"]
    hosts: list[str] = sorted({batch["host"] for batch in batches})
    if container is not None:
        running: list[str] = sorted(
            batch["host"]
            for batch in batches
            if any(container in (c["name"], c["id"][: len(container)]) for c in batch["containers"])
        )
        if len(running) == 1:
            return running[0]
    if len(hosts) == 1:
        return hosts[0]
    known = ", ".join(hosts) or "none reporting now"
    raise CliError(f"which Docker host? give --host ({known})")


def _charts(answer: HistorySeries) -> str:
    """A line per series of each entry: its chart, and its least, mean, greatest and last."""
    if not answer.entries:
        return f"no history of this {answer.kind} from {_span(answer)}"
    width = max(10, min(120, shutil.get_terminal_size((100, 24)).columns - 60))
    lines = [f"{answer.kind} {answer.source}: {_span(answer)}, a point per {answer.step_s} s"]
    for entry in answer.entries:
        if answer.kind != "host":
            lines.append(entry.key + (f" ({entry.id})" if entry.id else ""))
        points = _on_the_steps(answer, entry)
        rows = []
        for name, stats in sorted(entry.series.items()):
            chart = sparkline([_at(stats.max, i) for i in points], width)
            least = _least([v for v in stats.min if v is not None])
            greatest = _greatest([v for v in stats.max if v is not None])
            mean = _mean(stats.mean, entry.samples)
            last = next((v for v in reversed(stats.last) if v is not None), None)
            shown = [_figure(name, v) for v in (least, mean, greatest, last)]
            rows.append((f"  {name}", chart, *shown))
        lines.append(table(("  SERIES", "CHART", "MIN", "MEAN", "MAX", "LAST"), rows))
    return "\n".join(lines)


def _table(answer: HistorySeries, series: str, by: str) -> str:
    """Every container with its peak and mean CPU and memory, sorted by `series`'s `by`."""
    if not answer.entries:
        return f"no containers on {answer.source} from {_span(answer)}"

    def figure(entry: HistoryEntry, name: str, how: str) -> float | None:
        stats = entry.series.get(name)
        if stats is None:
            return None
        if how == "peak":
            return _greatest([v for v in stats.max if v is not None])
        return _mean(stats.mean, entry.samples)

    entries = sorted(answer.entries, key=lambda e: -(figure(e, series, by) or 0.0))
    rows = [
        (
            entry.key,
            *(
                _figure(name, figure(entry, name, how))
                for name in ("cpu_percent", "memory_usage")
                for how in ("peak", "mean")
            ),
            figures.moment(entry.times[-1]) if entry.times else None,
        )
        for entry in entries
    ]
    title = f"containers of {answer.source}: {_span(answer)}, sorted by {by} {series}"
    headers = ("NAME", "CPU PEAK", "CPU MEAN", "MEM PEAK", "MEM MEAN", "LAST SEEN")
    return title + "\n" + table(headers, rows)


def _on_the_steps(answer: HistorySeries, entry: HistoryEntry) -> list[int | None]:
    """For each step of the range, the index of the entry's point there (None: no point),
    so a chart shows a stretch without samples as a gap."""
    step = timedelta(seconds=answer.step_s)
    at = {time: index for index, time in enumerate(entry.times)}
    count = max(1, int((answer.end - answer.start) / step))
    return [at.get(answer.start + n * step) for n in range(count)]


def _at(values: list[float | None], index: int | None) -> float | None:
    return None if index is None else values[index]


def _least(values: list[float]) -> float | None:
    return min(values) if values else None


def _greatest(values: list[float]) -> float | None:
    return max(values) if values else None


def _mean(means: list[float | None], samples: list[int]) -> float | None:
    """The mean over the range: each point's mean weighed by its samples."""
    weighed = [(m, n) for m, n in zip(means, samples, strict=True) if m is not None]
    count = sum(n for _, n in weighed)
    return sum(m * n for m, n in weighed) / count if count else None


def _figure(series: str, value: float | None) -> str | None:
    if value is None:
        return None
    if "percent" in series:
        return figures.percent(value)
    if series.startswith(("network_", "block_", "disk_")):  # counters, as rates
        return figures.rate(value)
    if "memory" in series or series.endswith("_used"):
        return figures.size(value)
    if series.endswith("millicores"):
        return f"{value:.0f}m"
    return f"{value:g}"


def _span(answer: HistorySeries) -> str:
    return f"{figures.moment(answer.start)} to {figures.moment(answer.end)}"
