"""Credentials on HTTP routes: dependencies that yield the principal, or the token its
ctl requests carry, or refuse.

The same credentials as the WebSocket handshake. Refusals carry a code and a message
under `detail`: 401 (missing or invalid, with `WWW-Authenticate`), 403 (role), 503
(cannot be checked now).
"""

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status

from vigil.access import Principal, Role
from vigil.messages import ErrorCode
from vigil_gateway.access.credentials import read_credentials
from vigil_gateway.access.permissions import check_role
from vigil_gateway.errors import (
    AuthUnavailable,
    ChannelRefused,
    Forbidden,
    InvalidCredentials,
    MissingCredentials,
)
from vigil_gateway.replica.gateway import Gateway

HTTP_STATUS = {
    ErrorCode.INVALID_MESSAGE: status.HTTP_422_UNPROCESSABLE_CONTENT,
    ErrorCode.INVALID_CREDENTIALS: status.HTTP_401_UNAUTHORIZED,
    ErrorCode.RATE_LIMITED: status.HTTP_429_TOO_MANY_REQUESTS,
    ErrorCode.LIMIT_REACHED: status.HTTP_429_TOO_MANY_REQUESTS,
    ErrorCode.FORBIDDEN: status.HTTP_403_FORBIDDEN,
    ErrorCode.NOT_FOUND: status.HTTP_404_NOT_FOUND,
    ErrorCode.CONFLICT: status.HTTP_409_CONFLICT,
    ErrorCode.UNAVAILABLE: status.HTTP_503_SERVICE_UNAVAILABLE,
}


def refusal(code: ErrorCode, message: str, retry_after_s: float | None = None) -> HTTPException:
    headers: dict[str, str] = {}
    if code is ErrorCode.INVALID_CREDENTIALS:
        headers["WWW-Authenticate"] = "Bearer"
    if retry_after_s is not None:
        headers["Retry-After"] = str(max(1, round(retry_after_s)))
    detail: dict[str, Any] = {"code": code, "message": message}
    return HTTPException(HTTP_STATUS[code], detail=detail, headers=headers or None)


def refused(exc: ChannelRefused, retry_after_s: float | None = None) -> HTTPException:
    """A channel refused (`delivery.channel_admission`), said over HTTP."""
    return refusal(exc.code, exc.reason, retry_after_s)


def check_cluster_grant(
    request: Request,
    principal: Principal,
    cluster: str,
    action: str | None = None,
    kind: str = "cluster",
) -> None:
    """Refuse 403, audited (as `action`, by default the route), unless `principal`'s
    grants cover `cluster` (or the Docker host it names with `kind` "host": grants name
    hosts as they name clusters, and acting on a host needs its grant)."""
    if not principal.may_see_cluster(cluster):
        reason = f"{principal.name} has no grant for {kind} {cluster!r}"
        gateway: Gateway = request.app.state.gateway
        done = action or f"{request.method} {request.url.path}"
        gateway.audit.refused(done, principal, reason, target=cluster)
        raise refusal(ErrorCode.FORBIDDEN, reason)


async def authenticated(request: Request) -> Principal:
    gateway: Gateway = request.app.state.gateway
    try:
        return await gateway.authenticate(read_credentials(request))
    except (MissingCredentials, InvalidCredentials) as exc:
        reason = exc.reason if isinstance(exc, InvalidCredentials) else str(exc)
        action = f"{request.method} {request.url.path}"
        gateway.audit.refused(action, None, reason, address=_address(request))
        raise refusal(ErrorCode.INVALID_CREDENTIALS, reason) from None
    except AuthUnavailable as exc:
        raise refusal(ErrorCode.UNAVAILABLE, exc.reason) from None


async def bus_token(
    request: Request, principal: Annotated[Principal, Depends(authenticated)]
) -> str:
    """The token that the ctl requests a route makes for its (authenticated) caller
    carry: the services it calls verify it themselves."""
    gateway: Gateway = request.app.state.gateway
    try:
        return await gateway.identity.bus_token(read_credentials(request))
    except (MissingCredentials, InvalidCredentials) as exc:
        reason = exc.reason if isinstance(exc, InvalidCredentials) else str(exc)
        raise refusal(ErrorCode.INVALID_CREDENTIALS, reason) from None
    except AuthUnavailable as exc:
        raise refusal(ErrorCode.UNAVAILABLE, exc.reason) from None


BusToken = Annotated[str, Depends(bus_token)]


class RoleRequired:
    """A dependency: the principal, if it holds at least `role` (which routes need
    which role can be read from the app, as the tests of every route do)."""

    def __init__(self, role: Role) -> None:
        self.role = role

    async def __call__(self, request: Request) -> Principal:
        principal = await authenticated(request)
        action = f"{request.method} {request.url.path}"
        try:
            check_role(principal, self.role, action)
        except Forbidden as exc:
            gateway: Gateway = request.app.state.gateway
            gateway.audit.refused(action, principal, exc.reason, address=_address(request))
            raise refusal(ErrorCode.FORBIDDEN, exc.reason) from None
        return principal


def _address(request: Request) -> str | None:
    return request.client.host if request.client else None
