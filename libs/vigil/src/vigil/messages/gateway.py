"""Between services and gateways: who opened a socket (sessions), questions a service
puts to a client through the gateway that holds its socket, the list of sockets
every replica answers with, and the sample each replica publishes of itself."""

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from vigil.model import Message


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


class GatewaySampled(Message):
    """On `gateway.sampled.{replica}`, every `sample_interval_s`: a gateway replica's
    figures of itself, what the alerter's gateway rules read (and their `stale`
    condition: a replica that stops sampling). A replica stopping cleanly sends a last
    one with `leaving` set, so its absence is not taken for a death."""

    replica: str = Field(description="The replica's name (`VIGIL_GATEWAY_REPLICA`).")
    time: datetime
    interval_s: float = Field(description="Since the replica's previous sample.")
    sockets: int = Field(description="Open WebSockets.")
    max_sockets: int = Field(description="Its limit (`VIGIL_GATEWAY_MAX_CONNECTIONS`).")
    sockets_percent: float = Field(description="`sockets` against `max_sockets`, 0-100.")
    send_failures_per_s: float = Field(description="Failed sends to clients, over the interval.")
    leaving: bool = Field(default=False, description="The replica stops: its last sample.")
