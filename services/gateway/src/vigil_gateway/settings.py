"""Gateway settings, from `VIGIL_GATEWAY_...` (shared ones from `VIGIL_...`)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from vigil.settings import VigilSettings


class GatewaySettings(VigilSettings):
    model_config = SettingsConfigDict(env_prefix="VIGIL_GATEWAY_")

    bind: str = Field(default="127.0.0.1", description="Address to listen on.")
    port: int = Field(default=8000, ge=0, le=65535)
    outbox_limit: int = Field(
        default=256, ge=1, description="Queued stream frames per connection (seed 000)."
    )
    heartbeat_interval_s: float = Field(default=30.0, gt=0)
    max_message_bytes: int = Field(default=65_536, ge=256)
