"""Gateway settings, from `VIGIL_GATEWAY_...` (shared ones from `VIGIL_...`)."""

from pathlib import Path
from typing import Literal

from pydantic import Field, IPvAnyNetwork, field_validator
from pydantic_settings import SettingsConfigDict

from vigil.names import NameKind, validate_name
from vigil.settings import VigilSettings, exec_enabled_field, exec_idle_field, exec_window_field


class GatewaySettings(VigilSettings):
    model_config = SettingsConfigDict(env_prefix="VIGIL_GATEWAY_")

    bind: str = Field(default="127.0.0.1", description="Address to listen on.")
    port: int = Field(default=8000, ge=0, le=65535)
    outbox_limit: int = Field(
        default=256, ge=1, description="Queued stream frames per connection (seed 000)."
    )
    send_buffer_bytes: int = Field(
        default=65_536,
        ge=0,
        description=(
            "The kernel's send buffer per connection (Linux doubles it), so a client that"
            " stops reading is met by the outbox's policy soon, not after megabytes;"
            " 0 leaves the kernel's autotuning."
        ),
    )
    heartbeat_interval_s: float = Field(default=30.0, gt=0, description="Server pings.")
    pong_timeout_s: float = Field(default=10.0, gt=0, description="A ping unanswered: a miss.")
    max_missed_pongs: int = Field(default=3, ge=1, description="Then the socket closes, 4003.")
    rate_limit: Literal["bucket", "window"] = Field(
        default="bucket",
        description=(
            "`bucket`: a burst then a steady rate, subscriptions apart from other requests;"
            " `window`: seed 003's `rate_limit_messages` per `rate_limit_window_s`."
        ),
    )
    rate_limit_burst: int = Field(default=60, ge=1, description="Requests at once (bucket).")
    rate_limit_per_s: float = Field(default=2.0, gt=0, description="Then requests a second.")
    rate_limit_subscribe_burst: int = Field(
        default=300, ge=1, description="Subscribes and unsubscribes at once (bucket)."
    )
    rate_limit_subscribe_per_s: float = Field(
        default=10.0, gt=0, description="Then subscribes and unsubscribes a second."
    )
    rate_limit_messages: int = Field(default=10, ge=1, description="Requests per window (window).")
    rate_limit_window_s: float = Field(default=60.0, gt=0, le=3600)
    share_rate_limit: bool = Field(
        default=True, description="Per user across every gateway (else per connection)."
    )
    single_session_per_user: bool = Field(
        default=False, description="A new socket of a user closes the older ones (4004)."
    )
    max_connections: int = Field(default=10_000, ge=1, description="Per gateway; then 1013.")
    max_connections_per_user: int = Field(default=100, ge=1, description="Then 1008.")
    max_subscriptions: int = Field(default=100, ge=1, description="Per socket.")
    max_filtered_views: int = Field(
        default=4,
        ge=1,
        description=(
            "Distinct filtered log views (grep, regex, level) a user or API key holds at once"
            " on a gateway, across sockets, SSE streams and polls: each costs work per line."
        ),
    )
    max_handshakes_per_s: float = Field(default=500.0, gt=0, description="Then 1013.")
    max_replays: int = Field(
        default=32,
        ge=1,
        description=(
            "Sockets reading a stream's history (a resume, a journal from its start) at once,"
            " each with a JetStream consumer of its own; more wait their turn."
        ),
    )
    max_message_bytes: int = Field(default=65_536, ge=256, description="Inbound; then 1009.")
    exec_enabled: bool = exec_enabled_field()
    exec_idle_s: float = exec_idle_field()
    exec_max_shells: int = Field(
        default=200, ge=1, description="Shells open through this gateway at once, at most."
    )
    exec_window_bytes: int = exec_window_field(
        "A shell's output the deployer may send before this gateway grants more "
        "(what one shell may hold here, beyond its socket's send buffer)."
    )
    request_head_timeout_s: float = Field(
        default=5.0,
        gt=0,
        description=(
            "A request's head (its line and headers; a WebSocket handshake's too) must have"
            " come by then, from the connection or its first byte; else 408 and closed."
        ),
    )
    max_request_head_bytes: int = Field(
        default=32_768,
        ge=8192,
        description="A request's head (line and headers): then 431 (a line over 8 KiB: 414).",
    )
    max_pending_request_heads: int = Field(
        default=1000,
        ge=1,
        description="Requests whose head has not all come, at once; then the oldest is closed.",
    )
    send_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description=(
            "An HTTP answer (a poll's page, an SSE stream) the client stops taking: once the"
            " connection's buffer is full, the client has this long to read, or it is cut."
        ),
    )
    max_polls_per_user: int = Field(
        default=8,
        ge=1,
        description=(
            "Polls a user or API key has in progress at once on a gateway, from the request"
            " until its answer is sent; then 429."
        ),
    )
    max_poll_bytes: int = Field(
        default=1024 * 1024,
        ge=65_536,
        description=(
            "A poll's page of stream or journal messages stops once it holds this many bytes"
            " (one message at least); its cursor says where the next page starts."
        ),
    )
    max_body_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        description="An HTTP request body, on every route, before authentication; then 413.",
    )
    body_timeout_s: float = Field(
        default=30.0, gt=0, description="An HTTP request body must have come by then; else 408."
    )
    replica: str | None = Field(
        default=None,
        description=(
            "This replica's name in its samples of itself (`gateway.sampled.{replica}`), which"
            " gateway alert rules match; none: `gw-` and 8 hex digits, new at each start."
        ),
    )
    sample_interval_s: float = Field(
        default=5.0, gt=0, le=300, description="How often the replica publishes a sample of itself."
    )
    permessage_deflate: bool = Field(
        default=False,
        description="Negotiate WebSocket compression; per client it costs CPU and memory.",
    )
    allowed_origins: list[str] = Field(
        default_factory=list,
        description=(
            "Web origins (`https://dash.example.com`) whose pages may open sockets, beside "
            "pages of the gateway's own host; `*` allows any. Clients that send no Origin "
            "(CLIs, scripts) are not browsers and are not checked."
        ),
    )
    trusted_proxies: list[IPvAnyNetwork] = Field(
        default_factory=list,
        description=(
            "Addresses or networks (`10.0.0.5`, `10.0.0.0/24`) of the proxies whose "
            "X-Forwarded-For and X-Forwarded-Proto are believed; from anyone else they are "
            "ignored, so a client cannot choose the address the login guard and the audit "
            "see. Empty: no one."
        ),
    )
    drain_window_s: float = Field(
        default=10.0, ge=0, description="On SIGTERM, sockets close with 1012 over this long."
    )
    jwks_refresh_min_interval_s: float = Field(
        default=5.0, ge=0, description="An unknown `kid` refreshes a JWKS at most this often."
    )
    api_key_cache_s: float = Field(
        default=30.0,
        ge=0,
        description="How long a verified API key is kept; never past the key's own expiry.",
    )
    log_lease_s: float = Field(
        default=15.0, gt=0, le=300, description="Log leases held for watchers; renewed at 1/3."
    )
    log_tail: int = Field(
        default=100, ge=0, le=10_000, description="Lines a new follower sends first."
    )
    merge_window_s: float = Field(
        default=1.0,
        gt=0,
        le=30,
        description="A merged log view holds a line this long at most, for sources to catch up.",
    )
    stale_after_intervals: float = Field(
        default=3.0,
        gt=1,
        description="A sampled state with no new value for this many of its intervals is stale.",
    )
    stale_min_s: float = Field(
        default=3.0, ge=0, description="And for at least this long (short intervals flap)."
    )
    web_dir: Path | None = Field(
        default=None,
        description="The built web dashboard (web/dist), served at `/`; none: no dashboard.",
    )

    @field_validator("replica")
    @classmethod
    def _replica(cls, name: str | None) -> str | None:
        return None if name is None else validate_name(NameKind.HOST, name)

    @field_validator("web_dir")
    @classmethod
    def _built(cls, folder: Path | None) -> Path | None:
        if folder is not None and not (folder / "index.html").is_file():
            raise ValueError(f"{folder} holds no built dashboard (index.html): run `make web`")
        return folder
