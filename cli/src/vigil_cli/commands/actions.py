"""`vigil start|stop|restart|pause|unpause|kill|rm NAME...`, `vigil scale KIND/NAME N`,
`vigil rollout-restart KIND/NAME`, `vigil delete pod/NAME`: actions through the gateway.

Each is carried out by the deployer of the container's host (`--host`, default: the
only Docker host deployers serve) or of the workload's cluster (`--cluster`). Kill, rm
and delete are asked first: the deployer puts its question on this command's socket,
answered at the prompt, or yes with `--yes`. Several containers: one action each, side
by side, a line per container. Exit status: 0 when every action was done, 1 otherwise
(refused, failed, or declined).
"""

import argparse
import asyncio
import sys
from typing import Any

from vigil.messages import (
    DESTRUCTIVE,
    Ask,
    ContainerActed,
    ContainerActionResult,
    WorkloadActed,
)
from vigil_cli.commands import Subparsers
from vigil_cli.commands.deploy import OPEN_TIMEOUT_S, _yes
from vigil_cli.errors import CliError
from vigil_cli.remote import FAILED, OK, Remote, add_url_option, run
from vigil_client import Api, ConnectionState, Unreachable, VigilClient

_CONTAINER_ACTIONS = {
    "start": ("start", "start containers"),
    "stop": ("stop", "stop containers (SIGTERM, then SIGKILL after --time)"),
    "restart": ("restart", "restart containers"),
    "pause": ("pause", "pause containers"),
    "unpause": ("unpause", "unpause containers"),
    "kill": ("kill", "send a signal to containers (asked first)"),
    "rm": ("remove", "remove containers (asked first)"),
}
_SCALABLE = ("deployment", "statefulset")


def add_parser(commands: Subparsers) -> None:
    for command, (action, summary) in _CONTAINER_ACTIONS.items():
        parser = commands.add_parser(command, help=summary, description=summary)
        add_url_option(parser)
        parser.add_argument("names", nargs="+", metavar="NAME", help="container name or id")
        parser.add_argument("--host", help="the Docker host (default: the only one)")
        if action in ("stop", "restart"):
            parser.add_argument("-t", "--time", type=int, dest="timeout_s", help="seconds")
        if action == "kill":
            parser.add_argument("-s", "--signal", help="e.g. SIGTERM, HUP, 9 (default SIGKILL)")
        if action == "remove":
            parser.add_argument("-v", "--volumes", action="store_true", help="its volumes too")
            parser.add_argument("-f", "--force", action="store_true", help="even if running")
        if action in DESTRUCTIVE:
            parser.add_argument("-y", "--yes", action="store_true", help="answer yes")
        parser.add_argument("--json", action="store_true", help="print the results as JSON")
        parser.set_defaults(
            handler=lambda args, action=action: run(
                lambda remote: _containers(remote, action, args), args
            )
        )

    for command, action, summary in (
        ("scale", "scale", "scale a deployment or statefulset: vigil scale deployment/web 3"),
        ("rollout-restart", "rollout-restart", "restart a deployment's or statefulset's pods"),
        ("delete", "delete", "delete a pod (asked first): vigil delete pod/NAME"),
    ):
        parser = commands.add_parser(command, help=summary, description=summary)
        add_url_option(parser)
        parser.add_argument("target", metavar="KIND/NAME")
        if action == "scale":
            parser.add_argument("replicas", type=int)
        parser.add_argument("--cluster", required=True, help="the Kubernetes cluster")
        parser.add_argument("-n", "--namespace", default="default")
        if action in DESTRUCTIVE:
            parser.add_argument("-y", "--yes", action="store_true", help="answer yes")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")
        parser.set_defaults(
            handler=lambda args, action=action: run(
                lambda remote: _workload(remote, action, args), args
            )
        )


class Answer:
    """Answers the deployer's questions about this command's actions (those whose
    `data[key]` is one of `names`): at the prompt, or yes with `--yes`; another
    command's question is left to it."""

    def __init__(self, yes: bool, names: set[str], key: str = "name") -> None:
        self.yes = yes
        self.names = names
        self.key = key

    async def __call__(self, ask: Ask) -> dict[str, Any] | None:
        if ask.kind != "confirm_action" or ask.data.get(self.key) not in self.names:
            return None
        if self.yes:
            print(f"{ask.question} yes (--yes)", file=sys.stderr)
            return {"confirm": True}
        return {"confirm": await asyncio.to_thread(_yes, ask.question)}


async def asking(client: VigilClient, remote: Remote) -> None:
    """The socket open first: the deployer's question reaches an open socket only."""
    try:
        async with asyncio.timeout(OPEN_TIMEOUT_S):
            await client.wait_until(ConnectionState.LIVE, ConnectionState.FALLBACK)
    except TimeoutError:
        raise Unreachable(remote.url, client.last_disconnect or "no connection") from None


async def _containers(remote: Remote, action: str, args: argparse.Namespace) -> int:
    options = {
        key: value
        for key in ("timeout_s", "signal", "volumes", "force")
        if (value := getattr(args, key, None)) not in (None, False)
    }
    answer = Answer(getattr(args, "yes", False), set(args.names))
    async with remote.client(on_ask=answer) as client:
        host = args.host or await only_host(client.api)
        if action in DESTRUCTIVE:
            await asking(client, remote)
        if len(args.names) == 1:
            acted = await client.api.container_action(host, args.names[0], action, **options)
            results: list[tuple[str, ContainerActed | str]] = [(args.names[0], acted)]
        else:
            pairs = [(host, name) for name in args.names]
            bulk = await client.api.bulk_container_action(pairs, action, **options)
            results = [(r.container, _result(r)) for r in bulk.results]
    return _report(results, args.json)


def _result(result: ContainerActionResult) -> ContainerActed | str:
    """What was done, or why not."""
    if result.acted is not None:
        return result.acted
    error = result.error
    return f"{error.message} ({error.code})" if error else "no result"


def _report(results: list[tuple[str, ContainerActed | str]], as_json: bool) -> int:
    status = OK
    for name, result in results:
        if isinstance(result, str):
            print(f"vigil: {name}: {result}", file=sys.stderr)
            status = FAILED
            continue
        if as_json:
            print(result.model_dump_json())
        elif result.outcome == "done":
            print(f"{result.name}: {result.action} done ({result.state})")
        if result.outcome != "done":
            print(f"vigil: {result.name}: {result.action} {result.detail}", file=sys.stderr)
            status = FAILED
    return status


async def only_host(api: Api) -> str:
    """The only Docker host deployers serve (else say which to choose)."""
    hosts = await api.deploy_hosts()
    if len(hosts) != 1:
        raise CliError(f"--host: say which ({', '.join(hosts) or 'no deployer serves any'})")
    return hosts[0]


async def _workload(remote: Remote, action: str, args: argparse.Namespace) -> int:
    kind, slash, name = args.target.partition("/")
    kinds = ("pod",) if action == "delete" else _SCALABLE
    if not slash or kind not in kinds:
        raise CliError(f"{args.target!r}: use {' or '.join(f'{k}/NAME' for k in kinds)}")
    replicas = getattr(args, "replicas", None)
    answer = Answer(getattr(args, "yes", False), {name})
    async with remote.client(on_ask=answer) as client:
        if action in DESTRUCTIVE:
            await asking(client, remote)
        acted: WorkloadActed = await client.api.workload_action(
            args.cluster, args.namespace, kind, name, action, replicas
        )
    if args.json:
        print(acted.model_dump_json())
    if acted.outcome != "done":
        print(f"vigil: {args.target}: {action} {acted.detail}", file=sys.stderr)
        return FAILED
    if not args.json:
        print(f"{kind}/{name}: {acted.detail}")
    return OK
