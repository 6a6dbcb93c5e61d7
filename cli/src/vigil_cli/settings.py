"""What `vigil up` reads from the environment (`VIGIL_...`)."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

LOCALHOST = "127.0.0.1"
"""Where `vigil up` serves: this machine only."""
DEFAULT_GATEWAY_PORT = 8000


class UpSettings(BaseSettings):
    """Settings of `vigil up`; the services read their own from the same environment."""

    model_config = SettingsConfigDict(
        env_prefix="VIGIL_", extra="ignore", frozen=True, env_ignore_empty=True
    )

    nats_url: str | None = None
    """Use this NATS server instead of starting one."""
    nats_port: int = Field(default=4222, ge=1, le=65535)
    """The port of the NATS server that `vigil up` starts (on 127.0.0.1)."""
    gateway_port: int = Field(default=DEFAULT_GATEWAY_PORT, ge=1, le=65535)
    data_dir: Path = Path(".vigil")
    """Where the started NATS server keeps its JetStream data (under `nats/`), and the auth
    service the secret that encrypts its signing keys (`auth/signing-key-secret`)."""


class RemoteSettings(BaseSettings):
    """Settings of the commands that talk to a gateway (`login`, `top`, `logs`...)."""

    model_config = SettingsConfigDict(
        env_prefix="VIGIL_", extra="ignore", frozen=True, env_ignore_empty=True
    )

    url: str | None = None
    """The gateway (`http://host:port`); else the one `vigil login` saved; else the one
    `vigil up` serves on this machine (see `gateway_port`, `data_dir`)."""
    gateway_port: int | None = Field(default=None, ge=1, le=65535)
    """The port `vigil up` (`make up`) serves the gateway on: the same setting."""
    data_dir: Path = Path(".vigil")
    """Where `vigil up` keeps its data, and records the gateway it serves."""
    config: Path | None = None
    """The config file; default `$XDG_CONFIG_HOME/vigil/config.json`."""
    config_home: Path | None = Field(default=None, validation_alias="XDG_CONFIG_HOME")
    rate_limit_wait_s: float = Field(default=60.0, ge=0)
    """How long a command waits out the gateway's rate limit (saying so) before it
    gives up; 0: never wait."""
