"""The services' bus handlers as FastStream subscribers, on the service's own connection.

`ServiceBroker(bus)` is a FastStream `NatsBroker` that never opens a connection of its
own: it serves on the `Bus`'s (Vigil's `NatsClient` with its fixes, the role's creds and
reply inbox, the pings that notice a hung server, the bounded drain), which the `Bus`
opens, keeps and closes as for everything else the service does. So a subscriber is
held to the same NATS permissions (`vigil.busauth`) as the rest of the service, and
FastStream creates no stream: a JetStream subscriber names its stream with
`declare=False` (the provisioner makes them).

`answer` and `answer_for_users` serve an operation of `vigil.operations` as `vigil.ctl`
does, as a typed subscriber: in the operation's queue group, up to `max_workers` requests
at once, the request parsed into its model, the reply in `CtlReply`'s envelope, a
refusal with its code. One that acts for a user reaches its handler only with the
principal `vigil.ctl.authorize` proves (the same check as `ctl.serve_for_users`). The
AsyncAPI document of the bus is made from these subscribers (`vigil.bus_doc`).

The collector keeps `vigil.ctl.serve`: importing FastStream costs some 6 MB of memory,
a tenth of the collector's budget.
"""

import logging
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

from faststream import BaseMiddleware, StreamMessage
from faststream.nats import NatsBroker
from faststream.nats.annotations import NatsMessage
from faststream.nats.message import NatsMessage as NatsMessageType
from nats.aio.client import Client
from pydantic import ValidationError

from vigil import ctl
from vigil.access import Principal
from vigil.bus import Bus
from vigil.messages import ErrorCode
from vigil.operations import Operation, Rep, Req
from vigil.settings import VigilSettings
from vigil.subjects import ANY, Token
from vigil.tokens import Verifier

log = logging.getLogger(__name__)

DEFAULT_WORKERS = 8
_REQUEST = "request"  # the parameter of a responder that is the request
_GRACE_S = 5.0  # what requests already taken may still take when the service stops


class ServiceBroker(NatsBroker):
    """A FastStream broker on `bus`'s connection; `start()` once the bus is connected,
    `stop()` before the bus closes. Without a bus (the AsyncAPI document), only its
    subscribers' descriptions are of use."""

    def __init__(self, bus: Bus | None, settings: VigilSettings, *, description: str) -> None:
        super().__init__(
            settings.nats_servers,
            graceful_timeout=_GRACE_S,
            logger=log,
            log_level=logging.DEBUG,
            middlewares=[_RefuseUnparsed],
            description=description,
        )
        self._bus = bus
        self.vigil_settings = settings

    async def _connect(self) -> Client:
        if self._bus is None:
            raise RuntimeError("a ServiceBroker without a bus only describes")
        connection = self._bus.nc
        self.config.connect(connection)
        return connection

    async def start(self) -> None:
        """Subscribe every operation; once this returns, the NATS server has the
        subscriptions (a round trip), so a request sent right after "ready" has a responder."""
        await super().start()
        if self._bus is not None:
            await self._bus.nc.flush()

    async def stop(
        self,
        exc_type: type[BaseException] | None = None,
        exc_val: BaseException | None = None,
        exc_tb: TracebackType | None = None,
    ) -> None:
        """Stop the subscribers (those handling a request finish it, within the grace);
        the connection is the bus's, which drains and closes it."""
        await super(NatsBroker, self).stop(exc_type, exc_val, exc_tb)
        self._connection = None
        self.config.disconnect()


def answer(
    broker: ServiceBroker,
    operation: Operation[Req, Rep],
    handler: Callable[[Req], Awaitable[Rep]],
    *,
    max_workers: int = DEFAULT_WORKERS,
) -> None:
    """Serve `operation`, which acts for no user, with `handler`: a plain function from
    request to reply that raises `ctl.Refused`."""
    if operation.role is not None:
        raise ValueError(f"{operation.name} acts for a user: serve it with answer_for_users")

    async def handle(request: Req, message: NatsMessageType) -> Rep:
        return await handler(request)

    _subscribe(broker, operation, handle, max_workers)


def answer_for_users(
    broker: ServiceBroker,
    operation: Operation[Req, Rep],
    handler: Callable[[Req, Principal], Awaitable[Rep]],
    verifier: Verifier,
    *,
    max_workers: int = DEFAULT_WORKERS,
    host: Token = ANY,
) -> None:
    """Serve `operation`, which acts for a user: only a request whose token `verifier`
    accepts, of a principal holding the operation's role, reaches `handler`, with that
    principal (`ctl.authorize`); the others are refused. A routed operation
    (`Operation.route`) is served for `host`'s requests only."""
    if operation.role is None:
        raise ValueError(f"{operation.name} acts for no user: serve it with answer")

    async def handle(request: Req, message: NatsMessageType) -> Rep:
        principal = await ctl.authorize(operation, message.headers, verifier)
        return await handler(request, principal)

    _subscribe(broker, operation, handle, max_workers, host)


def answer_for_users_onward(
    broker: ServiceBroker,
    operation: Operation[Req, Rep],
    handler: Callable[[Req, Principal, str], Awaitable[Rep]],
    verifier: Verifier,
    *,
    max_workers: int = DEFAULT_WORKERS,
) -> None:
    """As `answer_for_users`, for a handler that asks another service to act for the
    same user: it gets the user's token too, to pass on (`ctl.call(..., token=)`), so
    that service verifies the user and checks their role and grants itself."""
    if operation.role is None:
        raise ValueError(f"{operation.name} acts for no user: serve it with answer")

    async def handle(request: Req, message: NatsMessageType) -> Rep:
        principal = await ctl.authorize(operation, message.headers, verifier)
        token = (message.headers or {}).get(ctl.TOKEN_HEADER, "")
        return await handler(request, principal, token)

    _subscribe(broker, operation, handle, max_workers, ANY)


def _subscribe(
    broker: ServiceBroker,
    operation: Operation[Req, Rep],
    handle: Callable[[Req, NatsMessageType], Awaitable[Rep]],
    max_workers: int,
    host: Token = ANY,
) -> None:
    async def respond(request: Any, message: NatsMessage) -> bytes:
        try:
            return ctl.answered(await handle(request, message))
        except Exception as exc:  # a bug must still answer, or the caller waits for nothing
            return _refusal(operation, exc)

    # The request's model is the handler's parameter: FastStream parses it (a request
    # that does not parse is refused by `_RefuseUnparsed`) and documents it.
    respond.__annotations__[_REQUEST] = operation.request
    respond.__name__ = respond.__qualname__ = operation.name
    who = f"a user of the {operation.role} role at least" if operation.role else "no user"
    subscriber = broker.subscriber(
        operation.subject(broker.vigil_settings.subjects, host),
        queue=operation.queue,
        max_workers=max_workers,
        title=f"ctl.{operation.service}.{operation.name}",
        description=(
            f"Request: {operation.request.__name__}, acting for {who}"
            f"{' (its token in the Vigil-Token header)' if operation.role else ''}. "
            f"Reply: a CtlReply, its data {operation.reply.__name__} or its error why not. "
            f"Callers wait {operation.timeout_s:g} s."
        ),
    )
    subscriber(respond)


def _refusal(operation: Operation[Any, Any], exc: Exception) -> bytes:
    return ctl.failure(operation, exc).model_dump_json().encode()


class _RefuseUnparsed(BaseMiddleware):
    """A request whose body is not its operation's model is refused INVALID_MESSAGE,
    naming what was wrong (FastStream parses it before the handler runs)."""

    async def consume_scope(
        self, call_next: Callable[[StreamMessage[Any]], Awaitable[Any]], msg: StreamMessage[Any]
    ) -> Any:
        try:
            return await call_next(msg)
        except ValidationError as exc:
            if not msg.reply_to:
                raise
            return ctl.refused(ErrorCode.INVALID_MESSAGE, ctl.first_problem(exc, within=_REQUEST))
