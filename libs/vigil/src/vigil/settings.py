"""The settings base every service extends.

Each service subclasses `VigilSettings` with its own env prefix
(`VIGIL_GATEWAY_...`); the fields shared by all services are read from the same
`VIGIL_...` variables whatever the prefix, so one environment configures the stack.
"""

from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from vigil.access import Role
from vigil.subjects import Subjects


def _shared(name: str) -> AliasChoices:
    return AliasChoices(name, f"VIGIL_{name.upper()}")


def exec_enabled_field() -> Any:
    """`VIGIL_EXEC_ENABLED`, read by the gateway and the deployer alike: interactive
    shells in containers (`exec`) are off unless it is set, on both."""
    return Field(
        default=False,
        validation_alias=_shared("exec_enabled"),
        description="Interactive shells in containers (exec), for operators granted the "
        "host: off unless set (VIGIL_EXEC_ENABLED, shared by the gateway and the deployer).",
    )


def exec_idle_field() -> Any:
    """How long a shell may pass with no byte either way before it is ended (each side
    has its own, the gateway's and the deployer's)."""
    return Field(
        default=900.0,
        gt=0,
        le=86_400,
        description="A shell with no byte either way for this long is ended.",
    )


def exec_window_field(description: str) -> Any:
    """The bytes of a shell's stream one side may have sent and not yet had granted back
    (`vigil.shell_stream`): what a shell may hold at the other side."""
    return Field(default=65_536, ge=1024, le=1 << 20, description=description)


class ExternalIssuer(BaseModel):
    """A trusted identity provider whose access tokens Vigil accepts.

    Its claims map onto a principal: the roles claim (a dotted path such as
    `realm_access.roles`) through `role_map`, and optionally a claim that lists the
    clusters granted.
    """

    issuer: str
    jwks_url: str
    audience: str
    algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256"])
    roles_claim: str = "realm_access.roles"
    role_map: dict[str, Role] = Field(default_factory=dict)
    clusters_claim: str | None = None
    username_claim: str = "preferred_username"


class VigilSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VIGIL_", extra="ignore", frozen=True)

    environment: Literal["development", "production"] = Field(
        default="development", validation_alias=_shared("environment")
    )
    nats_url: str = Field(
        default="nats://127.0.0.1:4222",
        validation_alias=_shared("nats_url"),
        description="A NATS server, or several (a cluster) separated by commas.",
    )
    nats_creds: Path | None = Field(
        default=None,
        validation_alias=_shared("nats_creds"),
        description="This service's NATS credentials (a `.creds` file); required in production.",
    )
    nats_ca: Path | None = Field(
        default=None,
        validation_alias=_shared("nats_ca"),
        description="The CA that signed the NATS server's certificate (for tls:// servers).",
    )
    subject_prefix: str = Field(default="vigil", validation_alias=_shared("subject_prefix"))
    nats_connect_timeout_s: float = Field(
        default=2.0, gt=0, validation_alias=_shared("nats_connect_timeout_s")
    )
    nats_ping_interval_s: int = Field(
        default=1,
        ge=1,
        validation_alias=_shared("nats_ping_interval_s"),
        description="How often each connection pings NATS (nats-py's default is 120 s).",
    )
    nats_max_outstanding_pings: int = Field(
        default=3,
        ge=1,
        validation_alias=_shared("nats_max_outstanding_pings"),
        description="Pings unanswered before the connection counts as lost and is made "
        "again: a hung server is noticed within (this + 1) x the ping interval.",
    )
    stream_replicas: int = Field(
        default=1,
        ge=1,
        le=5,
        validation_alias=_shared("stream_replicas"),
        description="JetStream replicas of every stream and bucket (3 on a 3-node cluster).",
    )
    stream_seed_tag: str | None = Field(
        default=None,
        validation_alias=_shared("stream_seed_tag"),
        description="The provisioner's: the server tag of the NATS node that ran alone before "
        "the cluster (its streams are adopted there, then replicated; `vigil.provisioning`).",
    )
    logs_keep_max_age_s: float = Field(
        default=7 * 86400,
        gt=0,
        validation_alias=_shared("logs_keep_max_age_s"),
        description="The provisioner's: how long retained containers' lines are kept "
        "(LOGS_KEPT's age limit).",
    )
    logs_keep_max_bytes: int = Field(
        default=1 << 30,
        ge=1 << 20,
        validation_alias=_shared("logs_keep_max_bytes"),
        description="The provisioner's: LOGS_KEPT's size on disk, at most (the oldest "
        "lines go first).",
    )
    token_issuer: str = Field(default="vigil", validation_alias=_shared("token_issuer"))
    token_audience: str = Field(default="vigil", validation_alias=_shared("token_audience"))
    external_issuers: list[ExternalIssuer] = Field(
        default_factory=list,
        validation_alias=AliasChoices(
            "external_issuers", "VIGIL_EXTERNAL_ISSUERS", "VIGIL_GATEWAY_EXTERNAL_ISSUERS"
        ),
        description="JSON list of trusted external token issuers (gateway and auth).",
    )

    @property
    def nats_servers(self) -> list[str]:
        return [url.strip() for url in self.nats_url.split(",") if url.strip()]

    @property
    def subjects(self) -> Subjects:
        return Subjects(self.subject_prefix)

    @model_validator(mode="after")
    def _no_placeholder_secrets_in_production(self) -> "VigilSettings":
        if self.environment == "production":
            if self.nats_creds is None:
                raise ValueError("VIGIL_NATS_CREDS must name this service's NATS credentials")
            for name, value in self:
                if isinstance(value, SecretStr) and value.get_secret_value() in {"", "changeme"}:
                    raise ValueError(f"{name} must be set to a real secret in production")
        Subjects(self.subject_prefix)  # fails early on a bad prefix
        return self
