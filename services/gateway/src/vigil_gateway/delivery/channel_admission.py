"""One channel admission, for every transport: what a client names becomes the channel
to join, or a `ChannelRefused` that carries the code to answer with.

resolve (the channel's name and parameters: `NOT_FOUND`, `INVALID_MESSAGE`) -> the role
and cluster grant (`FORBIDDEN`, audited; first, so a refusal tells nothing of what
exists) -> the channel's watcher (a container's name prefix made its id, an unknown
deploy, a log filter that cannot be used). Each transport says a refusal its own way:
an `error` frame on `/ws`, a close on a seed endpoint, an HTTP status elsewhere. (A
socket's own admission, at its handshake, is `session.admission`.)
"""

from collections.abc import Mapping

from vigil.access import Principal
from vigil.audit_trail import AuditTrail
from vigil.channels import ChannelRef, resolve_channel
from vigil.errors import InvalidName, UnknownChannel
from vigil.messages import ErrorCode
from vigil_gateway.access.permissions import SeesCluster, check_channel
from vigil_gateway.delivery.hub import Hub
from vigil_gateway.errors import ChannelRefused, Forbidden


def name_refused(
    exc: UnknownChannel | InvalidName, unknown: ErrorCode = ErrorCode.NOT_FOUND
) -> ChannelRefused:
    """A channel that could not be named: `unknown` for a name no channel has,
    `INVALID_MESSAGE` for a parameter that is not a valid name."""
    code = unknown if isinstance(exc, UnknownChannel) else ErrorCode.INVALID_MESSAGE
    return ChannelRefused(code, str(exc))


def resolve(
    name: str, params: Mapping[str, str], *, unknown: ErrorCode = ErrorCode.NOT_FOUND
) -> ChannelRef:
    """The channel `name` with `params`, or `ChannelRefused` (`name_refused`)."""
    try:
        return resolve_channel(name, params)
    except (UnknownChannel, InvalidName) as exc:
        raise name_refused(exc, unknown) from None


def check(
    principal: Principal,
    channel: ChannelRef,
    *,
    action: str,
    audit: AuditTrail,
    address: str | None = None,
) -> None:
    """`ChannelRefused` (FORBIDDEN, recorded in `audit` as `action`) if the principal's
    role or cluster grant does not allow `channel`."""
    try:
        check_channel(principal, channel)
    except Forbidden as exc:
        audit.refused(action, principal, exc.reason, target=channel.key, address=address)
        raise ChannelRefused(ErrorCode.FORBIDDEN, exc.reason) from None


async def admit(
    hub: Hub,
    principal: Principal,
    channel: ChannelRef,
    *,
    action: str,
    audit: AuditTrail,
    address: str | None = None,
    sees_cluster: SeesCluster | None = None,
) -> ChannelRef:
    """The channel to join for what `principal` asked (`check`, then the channel's
    watcher, with `sees_cluster` or else the principal's grant), or `ChannelRefused`."""
    check(principal, channel, action=action, audit=audit, address=address)
    return await hub.admit(channel, sees_cluster or principal.may_see_cluster)
