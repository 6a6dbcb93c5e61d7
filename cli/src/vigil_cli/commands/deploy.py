"""`vigil deploy NAME IMAGE [--wait]`: deploy a container through the gateway.

The spec is built from the options (or read from `--spec FILE`, JSON) and checked
before anything is sent; the command asks before deploying unless `--yes`. With
`--wait` it follows the deploy's journal to its end, with a progress bar per image
layer, and answers the deployer's question before the switch (`--confirm`) at the
prompt. Exit status: 0 when the deploy succeeded (or was queued, without `--wait`),
1 when it was refused, failed or cancelled.

Environment values (`--env`) and `--secret-arg`s are secrets: the deployer uses them,
and every record and journal shows `***` in their place (so does this command).
"""

import argparse
import asyncio
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from vigil.messages import (
    Ask,
    DeployEvent,
    DeploySpec,
    DeployState,
    DeployStep,
    Error,
    Strategy,
    Update,
)
from vigil_cli.commands import Subparsers
from vigil_cli.deploy_progress import DeployView, deploy_view
from vigil_cli.errors import CliError
from vigil_cli.remote import FAILED, OK, Remote, add_url_option, notice, run
from vigil_client import ConnectionState, Unreachable

OPEN_TIMEOUT_S = 15.0


def add_parser(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "deploy", help="deploy a container (and watch it)", description=__doc__.split("\n\n")[0]
    )
    add_url_option(parser)
    parser.add_argument("name", nargs="?", help="the service: its container gets this name")
    parser.add_argument("image", nargs="?", help="the image, e.g. registry:5000/web:2")
    parser.add_argument("--spec", type=Path, help="a JSON deploy spec (options override it)")
    parser.add_argument("--host", help="the Docker host (default: the only one)")
    parser.add_argument("--cmd", help="the command, as a shell would split it")
    parser.add_argument(
        "--secret-arg",
        action="append",
        default=[],
        metavar="VALUE",
        help="a secret argument after --cmd's words (repeat): used, never shown back",
    )
    parser.add_argument(
        "--port",
        action="append",
        default=[],
        metavar="CONTAINER[:HOST]",
        help="publish a port on 127.0.0.1 (repeat; host port 0 or none: Docker chooses)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment variable (repeat); its value is secret: never shown back",
    )
    parser.add_argument("--label", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument(
        "--health",
        metavar="CHECK",
        help="http:PORT[/path], tcp:PORT, running[:SECONDS] or docker (default: running)",
    )
    parser.add_argument("--strategy", choices=[s.value for s in Strategy])
    parser.add_argument("--pull", choices=["missing", "always"])
    parser.add_argument(
        "--confirm", action="store_true", help="the deployer asks before the switch"
    )
    parser.add_argument("-y", "--yes", action="store_true", help="answer yes to every question")
    parser.add_argument("--wait", action="store_true", help="follow the deploy to its end")
    parser.add_argument("--json", action="store_true", help="print the record as JSON")
    parser.set_defaults(handler=lambda args: run(lambda remote: _deploy(remote, args), args))


def build_spec(args: argparse.Namespace) -> DeploySpec:
    """The spec the options describe; `ValidationError` or `CliError` saying what is wrong."""
    values: dict[str, Any] = {}
    if args.spec is not None:
        try:
            values = json.loads(args.spec.read_text())
        except (OSError, ValueError) as exc:
            raise CliError(f"cannot read the spec {args.spec}: {exc}") from None
        if not isinstance(values, dict):
            raise CliError(f"{args.spec} does not hold a JSON object")
    for key in ("name", "image", "host", "strategy", "pull"):
        if getattr(args, key) is not None:
            values[key] = getattr(args, key)
    if "name" not in values or "image" not in values:
        raise CliError("say what to deploy: vigil deploy NAME IMAGE (or --spec FILE)")
    if args.cmd is not None:
        try:
            values["command"] = shlex.split(args.cmd)
        except ValueError as exc:
            raise CliError(f"--cmd: {exc}") from None
    if args.secret_arg:
        if "command" not in values:
            raise CliError("--secret-arg goes after the command's words: give --cmd too")
        values["command"] = [*values["command"], *({"secret": v} for v in args.secret_arg)]
    if args.port:
        values["ports"] = [_port(text) for text in args.port]
    if args.env:
        values["env"] = dict(values.get("env", {})) | dict(
            _pair(text, "--env") for text in args.env
        )
    if args.label:
        values["labels"] = dict(values.get("labels", {})) | dict(
            _pair(text, "--label") for text in args.label
        )
    if args.health is not None:
        values["health"] = _health(args.health)
    if args.confirm:
        values["confirm"] = True
    return DeploySpec.model_validate(values)


def _port(text: str) -> dict[str, Any]:
    container, _, host = text.partition(":")
    if not container.isdigit() or (host and not host.isdigit()):
        raise CliError(f"--port {text!r}: use CONTAINER or CONTAINER:HOST, e.g. 8080:9000")
    return {"container_port": int(container), "host_port": int(host or 0)}


def _pair(text: str, option: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not name:
        raise CliError(f"{option} {text!r}: use NAME=VALUE")
    return name, value


def _health(text: str) -> dict[str, Any]:
    kind, _, rest = text.partition(":")
    if kind == "docker" and not rest:
        return {"kind": "docker"}
    if kind == "running":
        return {"kind": "running"} | ({"seconds": _number(text, rest)} if rest else {})
    if kind in ("http", "tcp") and rest:
        port, slash, path = rest.partition("/")
        check: dict[str, Any] = {"kind": kind, "port": int(_number(text, port))}
        if kind == "http" and slash:
            check["path"] = "/" + path
        return check
    raise CliError(f"--health {text!r}: use http:PORT[/path], tcp:PORT, running[:S] or docker")


def _number(option: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise CliError(f"--health {option!r}: {text!r} is not a number") from None


def _yes(question: str) -> bool:
    """Ask on the terminal (or read a line from standard input); only y/yes is a yes."""
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline()
    if not answer:
        print("(no answer: no)", file=sys.stderr)
    return answer.strip().lower() in ("y", "yes")


async def _deploy(remote: Remote, args: argparse.Namespace) -> int:
    spec = build_spec(args)
    where = spec.host or "the only Docker host"
    question = f"Deploy {spec.image} as {spec.name} on {where} ({spec.strategy})?"
    if not args.yes and not await asyncio.to_thread(_yes, question):
        raise CliError("not deployed")
    console = Console(stderr=args.json)
    if not args.wait:
        async with remote.client() as client:
            record = await client.api.create_deploy(spec)
        if args.json:
            print(record.model_dump_json(indent=2))
        else:
            print(f"deploy {record.id} {record.state}: vigil deploy ... --wait to watch one")
        return OK
    watch = _Watch(args.yes, deploy_view(console))
    async with remote.client(on_ask=watch.answer) as client:
        # The socket first: the deployer's question reaches an open socket only.
        try:
            async with asyncio.timeout(OPEN_TIMEOUT_S):
                await client.wait_until(ConnectionState.LIVE, ConnectionState.FALLBACK)
        except TimeoutError:
            raise Unreachable(remote.url, client.last_disconnect or "no connection") from None
        record = await client.api.create_deploy(spec)
        watch.deploy_id = record.id
        watch.view.say(f"deploy {record.id}: {spec.image} as {spec.name} on {record.spec.host}")
        journal = await client.subscribe("deploy", {"id": record.id})
        last: DeployEvent | None = None
        async for event in journal:
            if isinstance(event, Update):
                last = DeployEvent.model_validate(event.data)
                watch.view.show(last)
                if last.step is DeployStep.DONE:
                    break
            elif isinstance(event, Error):  # e.g. a rate limit waited out: said, not hidden
                print(f"vigil: {notice(event)}", file=sys.stderr)
        watch.view.stop()
        final = await client.api.deploy(record.id)
    if args.json:
        print(final.model_dump_json(indent=2))
    if last is None or last.state is not DeployState.SUCCEEDED:
        # The journal's last word sums it up; the failed step's line above has the
        # details (a container's output), which the record's reason repeats.
        if last is not None and last.step is DeployStep.DONE:
            summary = last.message
        else:
            summary = f"{final.state}: {final.reason or 'no journal'}"
        print(f"vigil: deploy {record.id} {summary}", file=sys.stderr)
        return FAILED
    return OK


class _Watch:
    """Answers the deployer's question about this deploy, at the prompt or by `--yes`."""

    def __init__(self, yes: bool, view: DeployView) -> None:
        self.yes = yes
        self.view = view
        self.deploy_id: str | None = None

    async def answer(self, ask: Ask) -> dict[str, Any] | None:
        if ask.kind != "confirm_deploy" or ask.data.get("deploy_id") != self.deploy_id:
            return None  # not ours: another command or the dashboard may answer it
        if self.yes:
            self.view.say(f"{ask.question} yes (--yes)")
            return {"confirm": True}
        self.view.stop()
        try:
            confirmed = await asyncio.to_thread(_yes, ask.question)
        finally:
            self.view.resume()
        return {"confirm": confirmed}
