"""`vigil top`: a live table of the containers of every Docker host, like `docker stats`.

It follows the `docker.stats` channel (one batch per host every 2 s, sent as deltas)
and redraws on each batch; on a terminal in place, otherwise one table per refresh.
The title says how the client is connected (live, reconnecting, or which fallback).
A host whose stats stopped coming (its collector died) stays in the table, dimmed and
marked `stale` with the age of its last batch, until its stats come again.
"""

import argparse
import contextlib
from typing import Final

from pydantic import ValidationError
from rich.console import Console
from rich.live import Live
from rich.table import Table

from vigil.messages import (
    ContainerStats,
    DockerStatsSampled,
    Error,
    Fresh,
    Gap,
    Reset,
    Stale,
    Update,
)
from vigil_cli import figures
from vigil_cli.commands import Subparsers
from vigil_cli.remote import OK, Remote, add_url_option, notice, run
from vigil_client import ConnectionState, VigilClient

SORTS: Final = {
    "cpu": lambda c: -c.cpu_percent,
    "memory": lambda c: -c.memory_usage,
    "name": lambda c: c.name,
    "network": lambda c: -(c.network_rx_per_s + c.network_tx_per_s),
}


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 1 or more")
    return value


def add_parser(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "top", help="a live table of containers", description=__doc__.split("\n\n")[0]
    )
    add_url_option(parser)
    parser.add_argument("--host", help="only this Docker host")
    parser.add_argument("--sort", choices=sorted(SORTS), default="cpu")
    parser.add_argument(
        "--count", type=positive, help="stop after this many refreshes (default: never)"
    )
    parser.set_defaults(handler=lambda args: run(lambda remote: _top(remote, args), args))


async def _top(remote: Remote, args: argparse.Namespace) -> int:
    console = Console()
    if not console.is_terminal:  # a table per refresh, as wide as it needs
        console = Console(width=200)
    params = {"host": args.host} if args.host else {}
    batches: dict[str, DockerStatsSampled] = {}
    stale: dict[str, Stale] = {}  # by host
    hosts: dict[str, str] = {}  # a state's key (`metrics.docker.web1`) -> its host
    refreshes = 0
    async with remote.client() as client:
        stats = await client.subscribe("docker.stats", params, delta=True)
        # On a terminal the table redraws twice a second, so its title follows the
        # connection (reconnecting, fallback) between batches too.
        live = (
            Live(
                get_renderable=lambda: _table(client, batches, stale, args.sort),
                console=console,
                refresh_per_second=2,
            )
            if console.is_terminal
            else None
        )
        with live or contextlib.nullcontext():
            async for event in stats:
                if isinstance(event, Update):
                    try:
                        batch = DockerStatsSampled.model_validate(event.data)
                    except ValidationError:
                        continue
                    batches[batch.host] = batch
                    if event.key is not None:
                        hosts[event.key] = batch.host
                    refreshes += 1
                    if live is None:
                        console.print(_table(client, batches, stale, args.sort))
                    if args.count is not None and refreshes >= args.count:
                        break
                elif isinstance(event, Stale | Fresh):
                    host = hosts.get(event.key, event.key.rsplit(".", 1)[-1])
                    if isinstance(event, Stale):
                        stale[host] = event
                    else:
                        stale.pop(host, None)
                    if live is None:
                        console.print(_table(client, batches, stale, args.sort))
                elif isinstance(event, Error | Gap | Reset):
                    console.print(f"[yellow]{_notice(event)}[/]", highlight=False)
    return OK


def _notice(event: Error | Gap | Reset) -> str:
    if isinstance(event, Error):
        return f"gateway: {notice(event)}"
    return "some batches were skipped"


def _state(client: VigilClient) -> str:
    if client.state is ConnectionState.FALLBACK:
        return f"fallback ({client.transport})"
    return str(client.state)


def _table(
    client: VigilClient,
    batches: dict[str, DockerStatsSampled],
    stale: dict[str, Stale],
    sort: str,
) -> Table:
    rows: list[tuple[str, ContainerStats]] = [
        (host, container) for host, batch in batches.items() for container in batch.containers
    ]
    rows.sort(key=lambda row: SORTS[sort](row[1]))
    hosts = ", ".join(
        f"{host} (stale {stale[host].age_s:.0f}s)" if host in stale else host
        for host in sorted(batches)
    )
    hosts = hosts or "waiting for the first batch"
    table = Table(title=f"vigil top: {len(rows)} containers on {hosts} ({_state(client)})")
    for column in ("CONTAINER", "NAME", "HOST", "STATE"):
        table.add_column(column, no_wrap=True)
    for column in ("CPU %", "MEM", "LIMIT", "MEM %", "NET RX", "NET TX", "PIDS"):
        table.add_column(column, justify="right", no_wrap=True)
    for host, c in rows:
        table.add_row(
            c.id,
            c.name,
            f"{host} stale" if host in stale else host,
            c.state,
            figures.percent(c.cpu_percent),
            figures.size(c.memory_usage),
            figures.size(c.memory_limit),
            figures.percent(c.memory_percent),
            figures.rate(c.network_rx_per_s),
            figures.rate(c.network_tx_per_s),
            str(c.pids),
            style="dim" if host in stale else None,  # its collector stopped: not live
        )
    return table
