"""The client protocol: what the gateway sends (`type`-tagged frames) and what a
client sends, parsed with `parse_client_message`, which names what was wrong."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, ConfigDict, Field, TypeAdapter, ValidationError

from vigil.messages.common import ErrorCode, omitted_when_none
from vigil.messages.history import HistorySeries
from vigil.messages.seed import AlertNotice, SystemMetric
from vigil.model import Message

MAX_HISTORY_FIRST_S = 86_400
"""The most a subscription asks first (a day); longer ranges: `GET /api/history/...`."""


class Connected(Message):
    type: Literal["connected"] = "connected"
    connection_id: str
    server_time: datetime
    heartbeat_interval_s: float


class Pong(Message):
    """The answer to a client's `ping`."""

    type: Literal["pong"] = "pong"
    time: datetime
    remaining: int | None = omitted_when_none()


class ServerPing(Message):
    """The heartbeat: the client answers `{"type":"pong"}` within the pong timeout."""

    type: Literal["ping"] = "ping"
    time: datetime


class Error(Message):
    type: Literal["error"] = "error"
    code: ErrorCode
    message: str
    channel: str | None = omitted_when_none()
    remaining: int | None = omitted_when_none()
    retry_after_s: float | None = omitted_when_none()


class Reauthenticated(Message):
    type: Literal["reauthenticated"] = "reauthenticated"
    expires_at: datetime | None
    remaining: int | None = omitted_when_none()


class Subscribed(Message):
    type: Literal["subscribed"] = "subscribed"
    channel: str
    kind: str
    remaining: int | None = omitted_when_none()


class Unsubscribed(Message):
    type: Literal["unsubscribed"] = "unsubscribed"
    channel: str
    remaining: int | None = omitted_when_none()


class Update(Message):
    """A value on a channel: the bus message as it is, under the channel's key."""

    type: Literal["update"] = "update"
    channel: str
    data: dict[str, Any]
    cursor: int | None = omitted_when_none("JetStream sequence, on stream and journal channels.")
    key: str | None = omitted_when_none(
        "To delta subscribers: which state of the channel (one per host...)."
    )
    seq: int | None = omitted_when_none(
        "To delta subscribers: the version of that state the `delta`s build on."
    )


class Delta(Message):
    """To a subscriber that asked for deltas: what changed in one state of a channel
    (`key`) since the version before `seq`; apply it to the `data` of that state (see
    `vigil.deltas`). A `seq` that is not the last one plus one means something was
    missed: subscribe again for a snapshot. Empty parts are left out."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", populate_by_name=True, serialize_by_alias=True
    )

    type: Literal["delta"] = "delta"
    channel: str
    key: str
    seq: int
    set_: dict[str, Any] | None = omitted_when_none(
        "Top-level fields of `data` with their new values (as a whole).", alias="set"
    )
    unset: list[str] | None = omitted_when_none()
    items: str | None = omitted_when_none(
        "The list in `data` whose items (keyed by `id`) are patched one by one."
    )
    changed: dict[str, dict[str, Any]] | None = omitted_when_none(
        "By item id: the fields of that item that changed."
    )
    added: list[dict[str, Any]] | None = omitted_when_none(
        "Whole items: new ones go last; one with a known id replaces it in place."
    )
    removed: list[str] | None = omitted_when_none()
    order: list[str] | None = omitted_when_none(
        "Every item id in its new order, only when items moved."
    )
    timestamp: datetime | None = omitted_when_none(
        "Where the snapshot frame has it (seed 000's `docker_stats`): the new one."
    )


class HistoryFirst(Message):
    """To a subscriber that asked for `history_s`: the channel's figures over those last
    seconds, from the history the history service keeps, before the channel's snapshot.
    A live update whose time is `data.newest` or older is already in it."""

    type: Literal["history"] = "history"
    channel: str
    data: HistorySeries


class Gap(Message):
    """Lines or events of a stream channel dropped for a slow client: never a silent loss."""

    type: Literal["gap"] = "gap"
    channel: str
    dropped: int


class Ask(Message):
    """A question from a service; answer once with `answer` and the same `requestId`."""

    model_config = ConfigDict(frozen=True, extra="forbid", serialize_by_alias=True)

    type: Literal["ask"] = "ask"
    request_id: str = Field(
        serialization_alias="requestId",
        validation_alias=AliasChoices("requestId", "request_id"),  # clients parse it back
    )
    kind: str
    question: str
    data: dict[str, Any]
    timeout_s: float


class Reset(Message):
    """The stream no longer holds what follows `since`: the cursor a client resumed
    from is older than what is kept, or what it was still catching up on aged out or
    was purged meanwhile. What it missed is gone, so it should refetch; delivery goes
    on from `first_cursor`."""

    type: Literal["reset"] = "reset"
    channel: str
    since: int
    first_cursor: int


class Stale(Message):
    """A sampled state of the channel (`key`, as in `delta`) has had no new value for 3
    of its intervals (the gateway's `stale_after_intervals`): its source stopped (a
    collector killed, a host down). Its newest value is not live until `fresh`."""

    type: Literal["stale"] = "stale"
    channel: str
    key: str = Field(
        description="Which state: its subject without the prefix (`metrics.host.web1`)."
    )
    age_s: float = Field(description="How old its newest value is, in seconds.")
    interval_s: float = Field(description="How often its values came.")
    reason: str | None = omitted_when_none(
        "Where it was marked at once: why (the Docker engine does not answer, the "
        "message bus is unavailable...)."
    )


class Fresh(Message):
    """A state marked `stale` has a new value again; the value follows (at the
    subscriber's `interval_s`, when it asked for one)."""

    type: Literal["fresh"] = "fresh"
    channel: str
    key: str


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
    interval_s: float | None = Field(
        default=None,
        gt=0,
        le=3600,
        description="State channels: at most one update per this many seconds, the newest.",
    )
    delta: bool = Field(
        default=False,
        description="State channels: a snapshot, then only what changed (`delta` frames).",
    )
    history_s: int | None = Field(
        default=None,
        ge=1,
        le=MAX_HISTORY_FIRST_S,
        description=(
            "Metrics channels of one host: its last this many seconds first (a `history`"
            " frame), then the snapshot and live updates."
        ),
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


SERVER_FRAMES: tuple[type[Message], ...] = (
    Connected,
    Subscribed,
    Unsubscribed,
    Update,
    Delta,
    HistoryFirst,
    Gap,
    Reset,
    Stale,
    Fresh,
    Pong,
    ServerPing,
    Reauthenticated,
    Ask,
    Error,
    SystemMetric,
    AlertNotice,
)
"""Every frame the gateway sends, each tagged by its `type`."""

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
