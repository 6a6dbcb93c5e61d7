"""Every message Vigil sends: on the bus between services, and to and from clients.

Bus messages are JSON-encoded pydantic models; commands are named as orders, events in
the past tense. Client-protocol messages carry a `type` discriminator; what a client
sends is parsed with `parse_client_message`, which names what was wrong.
"""

from datetime import UTC, datetime
from enum import IntEnum, StrEnum
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError

from vigil.access import ClusterGrant, Role, Username
from vigil.model import Message
from vigil.names import HostName, SourceName


def utc_now() -> datetime:
    return datetime.now(UTC)


class ErrorCode(StrEnum):
    INVALID_MESSAGE = "INVALID_MESSAGE"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    RATE_LIMITED = "RATE_LIMITED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    LIMIT_REACHED = "LIMIT_REACHED"
    TIMEOUT = "TIMEOUT"
    UNAVAILABLE = "UNAVAILABLE"


# ==================================================================================
# Bus messages
# ==================================================================================


class CpuUsage(Message):
    percent: float = Field(description="All cores, 0-100.")
    per_core: list[float] = Field(description="One 0-100 figure per logical core.")


class LoadAverage(Message):
    one: float
    five: float
    fifteen: float


class MemoryUsage(Message):
    total: int = Field(description="Bytes.")
    available: int
    used: int
    percent: float


class SwapUsage(Message):
    total: int
    used: int
    percent: float


class FilesystemUsage(Message):
    mountpoint: str
    device: str
    fstype: str
    total: int
    used: int
    free: int
    percent: float


class DiskIoRates(Message):
    read_bytes_per_s: float
    write_bytes_per_s: float
    read_ops_per_s: float
    write_ops_per_s: float


class NetworkRates(Message):
    rx_bytes_per_s: float
    tx_bytes_per_s: float
    rx_packets_per_s: float
    tx_packets_per_s: float
    rx_bytes_total: int
    tx_bytes_total: int


class HostMetricsSampled(Message):
    """One sample of a host, on `metrics.host.{host}`. Rates are over the last interval."""

    host: HostName
    time: datetime
    interval_s: float
    cpu: CpuUsage
    load: LoadAverage
    memory: MemoryUsage
    swap: SwapUsage
    filesystems: list[FilesystemUsage]
    disk_io: DiskIoRates
    network: NetworkRates
    uptime_s: float


class AlertState(StrEnum):
    RAISED = "raised"
    RESOLVED = "resolved"


class AlertChanged(Message):
    """A threshold alert raised or resolved, on `alerts.{source}`."""

    id: str = Field(description="Stable per condition, e.g. 'host:web1:disk:/'.")
    state: AlertState
    source: SourceName = Field(description="What raised it: 'host', 'docker', 'k8s'.")
    host: HostName
    metric: str = Field(description="'cpu', 'memory' or 'disk:<mountpoint>'.")
    value: float
    threshold: float
    time: datetime
    message: str


# -- auth: requests on ctl.auth.* and their replies (see vigil.operations) -----------


class Login(Message):
    username: str = Field(max_length=128)
    password: str = Field(max_length=1024, repr=False)
    client: str = Field(default="", max_length=64, description="Client address, for slowdown.")


class TokensIssued(Message):
    access_token: str = Field(repr=False)
    refresh_token: str = Field(repr=False)
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires.")


class RefreshSession(Message):
    refresh_token: str = Field(max_length=512, repr=False)
    client: str = Field(default="", max_length=64)


class EndSession(Message):
    session_id: str = Field(max_length=64)


class GetSigningKeys(Message):
    """Ask for the public JWKS that gateways verify access tokens with."""


class JwkSet(Message):
    keys: list[dict[str, Any]]


class AccessClaims(Message):
    """The payload of Vigil's access JWTs: the auth service signs, gateways verify."""

    iss: str
    aud: str
    sub: str = Field(description="The user id.")
    name: str = Field(description="The username.")
    roles: list[Role]
    clusters: list[str]
    sid: str = Field(description="The session (refresh-token family) id.")
    jti: str
    iat: int
    nbf: int
    exp: int


class VerifyApiKey(Message):
    api_key: str = Field(max_length=512, repr=False)


class Actor(Message):
    """Who asks for an admin operation, for the audit log."""

    id: str
    name: str


class UserDraft(Message):
    """A new user, as an admin sends it (`POST /api/auth/users`)."""

    username: Username
    password: str = Field(min_length=8, max_length=1024, repr=False)
    roles: list[Role] = Field(min_length=1)
    clusters: list[ClusterGrant] = Field(default_factory=list)


class CreateUser(UserDraft):
    actor: Actor


class ListUsers(Message):
    actor: Actor


class DisableUser(Message):
    actor: Actor
    username: Username


class UserView(Message):
    id: str
    username: str
    roles: list[Role]
    clusters: list[str]
    disabled: bool
    created_at: datetime


class UserList(Message):
    users: list[UserView]


class ApiKeyDraft(Message):
    """A new API key, as an admin sends it (`POST /api/auth/keys`)."""

    name: str = Field(min_length=1, max_length=128)
    role: Role
    clusters: list[ClusterGrant] = Field(default_factory=list)
    expires_at: datetime | None = None


class CreateApiKey(ApiKeyDraft):
    actor: Actor


class ListApiKeys(Message):
    actor: Actor


class RevokeApiKey(Message):
    actor: Actor
    key_id: str = Field(max_length=64)


class ApiKeyView(Message):
    id: str
    name: str
    role: Role
    clusters: list[str]
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked: bool


class ApiKeyCreated(Message):
    key: ApiKeyView
    api_key: str = Field(repr=False, description="The secret itself: shown this once only.")


class ApiKeyList(Message):
    keys: list[ApiKeyView]


class Done(Message):
    """A command was carried out and has nothing to say."""


class RevocationKind(StrEnum):
    SESSION = "session"
    USER = "user"
    API_KEY = "api_key"


class CredentialsRevoked(Message):
    """On `auth.revoked`: every gateway closes the sockets this covers, with 4001."""

    kind: RevocationKind
    id: str = Field(description="The session id, user id or API key id.")
    reason: str
    time: datetime


class SessionStarted(Message):
    """On `gateway.sessions`: a principal opened a socket; with single sessions on,
    every gateway closes that principal's older sockets (4004)."""

    principal: str = Field(description="`Principal.token`.")
    connection_id: str
    gateway_id: str
    started_at: datetime


class AskClient(Message):
    """On `ask.{connection}` or `ask.user.{principal}`: a question a service puts to a
    client (seed 003's callback pattern), answered with `ClientAnswered`, or refused
    with TIMEOUT when the client does not answer in time."""

    kind: str = Field(max_length=64, description="What is asked, e.g. 'confirm_deploy'.")
    question: str = Field(max_length=2000, description="For a person to read.")
    data: dict[str, Any] = Field(default_factory=dict)
    timeout_s: float = Field(default=60.0, gt=0, le=3600)


class ClientAnswered(Message):
    connection_id: str
    data: dict[str, Any]


class ListConnections(Message):
    """On `ctl.gateway.connections`: every replica answers with its sockets."""


class ConnectionInfo(Message):
    id: str
    gateway_id: str
    principal_kind: str
    principal_id: str
    principal_name: str
    address: str | None
    since: datetime
    subscriptions: list[str]
    sent: int = Field(description="Frames sent so far.")
    dropped: int = Field(description="Stream frames dropped for being slow.")


class GatewayConnections(Message):
    gateway_id: str
    connections: list[ConnectionInfo]


class ConnectionChanged(Message):
    """On `gateway.connections`: a socket opened or closed (with its close code)."""

    event: Literal["opened", "closed"]
    connection: ConnectionInfo
    code: int | None = None
    time: datetime


class CtlFailure(Message):
    code: ErrorCode
    message: str
    retry_after_s: float | None = None


class CtlReply(Message):
    """The envelope of every ctl reply: `data` on success, `error` otherwise."""

    ok: bool
    data: dict[str, Any] | None = None
    error: CtlFailure | None = None


# ==================================================================================
# Client protocol: what the gateway sends
# ==================================================================================


class CloseCode(IntEnum):
    NORMAL = 1000
    GOING_AWAY = 1001
    NO_CREDENTIALS = 1008
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    RESTARTING = 1012
    TRY_LATER = 1013
    INVALID_CREDENTIALS = 4001
    HEARTBEAT_TIMEOUT = 4003
    REPLACED = 4004
    TOO_SLOW = 4008


def _omitted_when_none() -> Any:
    """An optional field that is left out of the JSON when unset."""
    return Field(default=None, exclude_if=lambda value: value is None)


class Connected(Message):
    type: Literal["connected"] = "connected"
    connection_id: str
    server_time: datetime
    heartbeat_interval_s: float


class Pong(Message):
    """The answer to a client's `ping`."""

    type: Literal["pong"] = "pong"
    time: datetime
    remaining: int | None = _omitted_when_none()


class ServerPing(Message):
    """The heartbeat: the client answers `{"type":"pong"}` within the pong timeout."""

    type: Literal["ping"] = "ping"
    time: datetime


class Error(Message):
    type: Literal["error"] = "error"
    code: ErrorCode
    message: str
    channel: str | None = _omitted_when_none()
    remaining: int | None = _omitted_when_none()
    retry_after_s: float | None = _omitted_when_none()


class Reauthenticated(Message):
    type: Literal["reauthenticated"] = "reauthenticated"
    expires_at: datetime | None
    remaining: int | None = _omitted_when_none()


class Subscribed(Message):
    type: Literal["subscribed"] = "subscribed"
    channel: str
    kind: str
    remaining: int | None = _omitted_when_none()


class Unsubscribed(Message):
    type: Literal["unsubscribed"] = "unsubscribed"
    channel: str
    remaining: int | None = _omitted_when_none()


class Update(Message):
    """A value on a channel: the bus message as it is, under the channel's key."""

    type: Literal["update"] = "update"
    channel: str
    data: dict[str, Any]
    cursor: int | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="JetStream sequence, on stream and journal channels.",
    )


class Gap(Message):
    """Lines or events of a stream channel dropped for a slow client: never a silent loss."""

    type: Literal["gap"] = "gap"
    channel: str
    dropped: int


class Ask(Message):
    """A question from a service; answer once with `answer` and the same `requestId`."""

    model_config = ConfigDict(frozen=True, extra="forbid", serialize_by_alias=True)

    type: Literal["ask"] = "ask"
    request_id: str = Field(serialization_alias="requestId")
    kind: str
    question: str
    data: dict[str, Any]
    timeout_s: float


class Reset(Message):
    """The cursor a client resumed from is older than what is kept: what it missed is
    gone, so it should refetch; delivery goes on from `first_cursor`."""

    type: Literal["reset"] = "reset"
    channel: str
    since: int
    first_cursor: int


class SystemMetricMeta(Message):
    unit: str
    host: str
    labels: dict[str, str] = Field(default_factory=dict)


class SystemMetricData(Message):
    time: datetime
    metric_type: str
    value: float
    source: str
    meta: SystemMetricMeta


class SystemMetric(Message):
    """Seed 001's `system_metric`, one figure each, on `/api/system/ws`."""

    type: Literal["system_metric"] = "system_metric"
    data: SystemMetricData


class AlertNotice(Message):
    """An alert on `/api/system/ws`."""

    type: Literal["alert"] = "alert"
    data: AlertChanged


# ==================================================================================
# Client protocol: what a client sends
# ==================================================================================


class Subscribe(Message):
    type: Literal["subscribe"]
    channel: str = Field(max_length=128)
    params: dict[str, str] = Field(default_factory=dict, max_length=8)
    since: int | None = Field(
        default=None,
        ge=0,
        description="Resume a stream or journal channel after this cursor (the last seen).",
    )


class Unsubscribe(Message):
    type: Literal["unsubscribe"]
    channel: str = Field(max_length=128)
    params: dict[str, str] = Field(default_factory=dict, max_length=8)


class Ping(Message):
    type: Literal["ping"]


class Reauth(Message):
    """A fresh access token for an open socket, sent before the current one expires."""

    type: Literal["reauth"]
    token: str = Field(max_length=8192, repr=False)


class ClientPong(Message):
    """The answer to the server's heartbeat `ping`."""

    type: Literal["pong"]


class Answer(Message):
    """The answer to an `ask`: each `requestId` is answered once, before it expires."""

    type: Literal["answer"]
    request_id: str = Field(alias="requestId", max_length=64)
    data: dict[str, Any] = Field(default_factory=dict)


ClientRequest = Subscribe | Unsubscribe | Ping | Reauth
"""What a client asks of the gateway: these count against its rate limit."""

ClientReply = ClientPong | Answer
"""What a client answers to the gateway: these do not count."""

ClientMessage = Annotated[ClientRequest | ClientReply, Field(discriminator="type")]
_client_message: TypeAdapter[ClientRequest | ClientReply] = TypeAdapter(ClientMessage)


class InvalidClientMessage(ValueError):
    """What a client sent is not a message of the protocol; `str()` says why."""


def parse_client_message(raw: str | bytes) -> ClientRequest | ClientReply:
    """Parse one client frame, or raise `InvalidClientMessage` naming what was wrong."""
    try:
        return _client_message.validate_json(raw)
    except ValidationError as exc:
        raise InvalidClientMessage(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_url=False)[:3]:
        where = ".".join(str(part) for part in error["loc"]) or "message"
        problems.append(f"{where}: {error['msg']}")
    return "; ".join(problems)
