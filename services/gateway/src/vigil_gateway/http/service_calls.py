"""REST routes that are one request to a service (auth, the deployer, the history, the
notifier, the alerter): the call with the caller's token, a refusal said as HTTP, and a
request made of path parameters (a 422 naming what is wrong)."""

from typing import Any

from fastapi import Request
from pydantic import ValidationError

from vigil import ctl
from vigil.errors import BusUnavailable, NoResponder
from vigil.messages import ErrorCode
from vigil.operations import Operation, Rep, Req
from vigil_gateway.http.http_auth import refusal
from vigil_gateway.replica.gateway import Gateway

_SERVICES = {
    "auth": "the auth service",
    "deploy": "the deployer",
    "history": "the history service",
    "notify": "the notifier",
    "rules": "the alerter",
    "alerts": "the alerter",
}


async def call_service(
    request: Request, operation: Operation[Req, Rep], message: Req, token: str | None = None
) -> Rep:
    """`operation`'s reply; its refusal as the matching HTTP status, 503 without NATS."""
    gateway: Gateway = request.app.state.gateway
    try:
        return await ctl.call(gateway.bus, operation, message, token=token)
    except ctl.Refused as exc:
        raise refusal(exc.code, exc.message, exc.retry_after_s) from None
    except NoResponder:
        service = _SERVICES.get(operation.service, operation.service)
        if operation.route is not None:  # nobody serves the host (or cluster) it names
            where = operation.route(message)
            raise refusal(ErrorCode.NOT_FOUND, f"{service} of {where!r} is not running") from None
        raise refusal(ErrorCode.UNAVAILABLE, f"{service} is unavailable") from None
    except (BusUnavailable, RuntimeError):
        service = _SERVICES.get(operation.service, operation.service)
        raise refusal(ErrorCode.UNAVAILABLE, f"{service} is unavailable") from None


def from_path(model: type[Req], values: dict[str, Any]) -> Req:
    """A request of path (or query) parameters, those that are None left out."""
    try:
        return model.model_validate({k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in error["loc"])
        raise refusal(ErrorCode.INVALID_MESSAGE, f"{where}: {error['msg']}") from None
