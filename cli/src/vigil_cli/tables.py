"""Calling the auth service from the command line, over the bus.

Whoever can reach NATS is trusted as an operator of the deployment (as whoever can
reach the Docker socket is); the audit log names the CLI user as the actor.
"""

import asyncio
import getpass
import json
import sys
from collections.abc import Callable, Sequence

from pydantic import ValidationError

from vigil import ctl
from vigil.bus import Bus
from vigil.errors import BusUnavailable
from vigil.messages import Actor
from vigil.model import Message
from vigil.operations import Operation, Rep, Req
from vigil.settings import VigilSettings


def actor() -> Actor:
    user = getpass.getuser()
    return Actor(id=f"cli:{user}", name=f"{user} (vigil CLI)")


def run(
    operation: Operation[Req, Rep],
    request: Callable[[], Req],
    show: Callable[[Rep], str],
    *,
    as_json: bool,
) -> int:
    """Build the request, send it, print the reply (as a table, or JSON); return the
    exit status: 1 for a bad request or a refusal, 2 when NATS cannot be reached."""
    try:
        message = request()
    except ValidationError as exc:
        print(f"vigil: {invalid(exc)}", file=sys.stderr)
        return 1
    try:
        reply = asyncio.run(_call(operation, message))
    except ctl.Refused as exc:
        print(f"vigil: {exc.message} ({exc.code})", file=sys.stderr)
        return 1
    except BusUnavailable as exc:
        print(f"vigil: {exc}", file=sys.stderr)
        return 2
    print(reply.model_dump_json(indent=2) if as_json else show(reply))
    return 0


async def _call(operation: Operation[Req, Rep], request: Req) -> Rep:
    bus = Bus(VigilSettings(), name="vigil-cli")
    await bus.connect(keep_trying=False)
    try:
        return await ctl.call(bus, operation, request)
    finally:
        await bus.close()


def invalid(exc: ValidationError) -> str:
    """What is wrong with a request, field by field, never echoing the input (a password)."""
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in error["loc"]) or "request"
        problems.append(f"{where}: {error['msg'].removeprefix('Value error, ')}")
    return "; ".join(problems)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "-"
    if isinstance(value, Message):
        return json.dumps(value.model_dump(mode="json"))
    return str(value)
