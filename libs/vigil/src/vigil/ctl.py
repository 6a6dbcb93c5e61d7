"""Request/reply over NATS for the operations in `vigil.operations`.

`call` sends a request and returns the typed reply, or raises `Refused` (the service
said no, with a code) or `BusUnavailable` (nobody answered in time). `serve` answers
an operation in a queue group: it parses the request, runs the handler and wraps the
result, so a handler is a plain function from request to reply that raises `Refused`.

An operation that acts for a user (`Operation.role`) carries the user's token in the
`Vigil-Token` header: `serve_for_users` verifies it, checks the role and hands the
handler the `Principal` it proves, whose grants the handler checks. The service that
performs the operation decides; the subject a request arrived on proves nothing.

Auth and the deployer answer through FastStream subscribers instead (`vigil.broker`),
which check tokens with the same `authorize` and refuse with the same `failure`; the
collector keeps `serve` here (FastStream's import would cost it ~6 MB of its budget).
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import nats.errors
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from pydantic import ValidationError

from vigil.access import Principal
from vigil.bus import Bus
from vigil.errors import BusUnavailable, NoResponder, VigilError
from vigil.messages import CtlFailure, CtlReply, ErrorCode
from vigil.model import Message
from vigil.operations import Operation, Rep, Req
from vigil.tokens import InvalidToken, KeysUnavailable, Verifier

R = TypeVar("R", bound=Message)

log = logging.getLogger(__name__)

TOKEN_HEADER = "Vigil-Token"
_MAX_TOKEN_CHARS = 16_384


class Refused(VigilError):
    """A service declined a request; `code` says why in the protocol's terms."""

    def __init__(self, code: ErrorCode, message: str, retry_after_s: float | None = None) -> None:
        self.code = code
        self.message = message
        self.retry_after_s = retry_after_s
        super().__init__(f"{code}: {message}")


class NotMine(VigilError):
    """Raised by a handler to stay silent: another replica (e.g. the collector of
    another host) answers this request."""


async def call(
    bus: Bus,
    operation: Operation[Req, Rep],
    message: Req,
    timeout_s: float | None = None,
    *,
    token: str | None = None,
) -> Rep:
    """Send a request of `operation` to its service and return the typed reply, waiting
    the operation's `timeout_s` unless told otherwise; one that acts for a user carries
    their `token` (a Vigil access token)."""
    if operation.role is not None and not token:
        raise ValueError(f"{operation.name} acts for a user: pass their token")
    headers = {TOKEN_HEADER: token} if token else None
    subject = operation.subject_of(bus.subjects, message)
    wait_s = operation.timeout_s if timeout_s is None else timeout_s
    return await request(bus, subject, message, operation.reply, wait_s, headers=headers)


async def request(
    bus: Bus,
    subject: str,
    message: Message,
    reply_type: type[R],
    timeout_s: float,
    *,
    headers: dict[str, str] | None = None,
) -> R:
    """Send `message` on `subject` and return the reply in the envelope as `reply_type`."""
    try:
        msg = await bus.nc.request(
            subject, message.model_dump_json().encode(), timeout=timeout_s, headers=headers
        )
    except nats.errors.NoRespondersError as exc:
        raise NoResponder(f"call {subject}", "nobody answers it") from exc
    except (nats.errors.Error, TimeoutError, RuntimeError) as exc:
        raise BusUnavailable(f"call {subject}", str(exc) or type(exc).__name__) from exc
    reply = CtlReply.model_validate_json(msg.data)
    if not reply.ok or reply.data is None:
        failure = reply.error or CtlFailure(code=ErrorCode.UNAVAILABLE, message="empty reply")
        raise Refused(failure.code, failure.message, failure.retry_after_s)
    return reply_type.model_validate(reply.data)


def answered(data: Message) -> bytes:
    """The envelope of a successful reply."""
    return CtlReply(ok=True, data=data.model_dump(mode="json")).model_dump_json().encode()


def refused(code: ErrorCode, message: str, retry_after_s: float | None = None) -> bytes:
    """The envelope of a refusal."""
    return _failure(code, message, retry_after_s).model_dump_json().encode()


async def serve(
    bus: Bus,
    operation: Operation[Req, Rep],
    handler: Callable[[Req], Awaitable[Rep]],
    *,
    concurrency: int = 8,
    queue: str | None = None,
) -> Subscription:
    """Answer `operation`, which acts for no user, in its queue group until the
    subscription is drained.

    `queue` overrides the operation's queue group (the collectors of different hosts
    each need the request; a handler that raises `NotMine` stays silent). Up to
    `concurrency` requests are handled at once (a slow one, such as a password hash,
    does not hold up the rest); past that, requests wait in the subscription's bounded
    pending buffer.
    """
    if operation.role is not None:
        raise ValueError(f"{operation.name} acts for a user: serve it with serve_for_users")

    async def answer(msg: Msg) -> Rep:
        return await handler(operation.request.model_validate_json(msg.data))

    return await _serve(bus, operation, answer, concurrency, queue)


async def serve_for_users(
    bus: Bus,
    operation: Operation[Req, Rep],
    handler: Callable[[Req, Principal], Awaitable[Rep]],
    verifier: Verifier,
    *,
    mine: Callable[[Req], bool] | None = None,
    concurrency: int = 8,
    queue: str | None = None,
) -> Subscription:
    """Answer `operation`, which acts for a user, as `serve` does: only requests whose
    token `verifier` accepts and whose principal holds the operation's role reach
    `handler`, with that principal; the others are refused (INVALID_CREDENTIALS,
    FORBIDDEN, or UNAVAILABLE while the keys cannot be fetched). A request `mine` says
    another replica answers is left alone, unverified."""
    if operation.role is None:
        raise ValueError(f"{operation.name} acts for no user: serve it with serve")

    async def answer(msg: Msg) -> Rep:
        request = operation.request.model_validate_json(msg.data)
        if mine is not None and not mine(request):
            raise NotMine()
        return await handler(request, await authorize(operation, msg.headers, verifier))

    return await _serve(bus, operation, answer, concurrency, queue)


async def authorize(
    operation: Operation[Any, Any], headers: Mapping[str, str] | None, verifier: Verifier
) -> Principal:
    """The principal whose token a request of `operation` (which acts for a user) carries
    in its headers, if `verifier` accepts the token and the principal holds the
    operation's role; else `Refused` (INVALID_CREDENTIALS, FORBIDDEN, or UNAVAILABLE while
    the keys cannot be fetched). Every transport that serves such operations calls it."""
    needed = operation.role
    if needed is None:
        raise ValueError(f"{operation.name} acts for no user")
    token = (headers or {}).get(TOKEN_HEADER, "")
    if not token or len(token) > _MAX_TOKEN_CHARS:
        raise Refused(ErrorCode.INVALID_CREDENTIALS, f"{operation.name} needs a user's token")
    try:
        principal = await verifier.verify(token)
    except InvalidToken as exc:
        raise Refused(ErrorCode.INVALID_CREDENTIALS, exc.reason) from None
    except KeysUnavailable as exc:
        raise Refused(ErrorCode.UNAVAILABLE, exc.reason) from None
    if not principal.has_role(needed):
        reason = f"{operation.name} needs the {needed} role; {principal.name} is {principal.role}"
        log.warning("refused %s (%s): %s", operation.name, principal.key, reason)
        raise Refused(ErrorCode.FORBIDDEN, reason)
    return principal


def failure(operation: Operation[Any, Any], exc: Exception) -> CtlReply:
    """The refusal that answers a request of `operation` whose handling raised `exc`: a
    request that does not parse, a `Refused`, or a bug (logged; the caller must still
    hear, or it waits for nothing)."""
    if isinstance(exc, ValidationError):
        return _failure(ErrorCode.INVALID_MESSAGE, first_problem(exc))
    if isinstance(exc, Refused):
        return _failure(exc.code, exc.message, exc.retry_after_s)
    log.error("%s failed", operation.name, exc_info=exc)
    return _failure(ErrorCode.UNAVAILABLE, f"{operation.name} failed inside the service")


async def _serve(
    bus: Bus,
    operation: Operation[Req, Rep],
    answerer: Callable[[Msg], Awaitable[Rep]],
    concurrency: int,
    queue: str | None,
) -> Subscription:
    slots = asyncio.Semaphore(concurrency)
    running: set[asyncio.Task[None]] = set()

    async def dispatch(msg: Msg) -> None:
        await slots.acquire()
        task = asyncio.create_task(answer(msg))
        running.add(task)
        task.add_done_callback(running.discard)
        task.add_done_callback(lambda _: slots.release())

    async def answer(msg: Msg) -> None:
        try:
            reply = CtlReply(ok=True, data=(await answerer(msg)).model_dump(mode="json"))
        except NotMine:
            return
        except Exception as exc:  # a bug must still answer, or the caller waits for nothing
            reply = failure(operation, exc)
        if msg.reply:
            await msg.respond(reply.model_dump_json().encode())

    subscription: Subscription = await bus.nc.subscribe(
        operation.subject(bus.subjects), queue=queue or operation.queue, cb=dispatch
    )
    return subscription


def _failure(code: ErrorCode, message: str, retry_after_s: float | None = None) -> CtlReply:
    return CtlReply(
        ok=False, error=CtlFailure(code=code, message=message, retry_after_s=retry_after_s)
    )


def first_problem(exc: ValidationError, *, within: str | None = None) -> str:
    """What is wrong with a request, where: its first error's place and message; the
    place inside `within`, the parameter a request was validated as, if that is where."""
    error = exc.errors(include_url=False)[0]
    loc = error["loc"]
    if within is not None and loc[:1] == (within,):
        loc = loc[1:]
    where = ".".join(str(part) for part in loc) or "request"
    return f"{where}: {error['msg']}"
