"""Collector settings, from `VIGIL_COLLECTOR_...` (shared ones from `VIGIL_...`)."""

import socket

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from vigil.names import HostName
from vigil.settings import VigilSettings


def default_host_id() -> str:
    """The machine's short hostname, made a valid host id (dots would split subjects)."""
    short = socket.gethostname().split(".")[0]
    cleaned = "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "-" for c in short)
    return cleaned.strip("-_")[:63] or "localhost"


class CollectorSettings(VigilSettings):
    model_config = SettingsConfigDict(env_prefix="VIGIL_COLLECTOR_")

    host: HostName = Field(default_factory=default_host_id)
    interval_s: float = Field(default=2.0, ge=0.1, le=3600)
    cpu_threshold_percent: float = Field(default=90.0, ge=0, le=100)
    memory_threshold_percent: float = Field(default=90.0, ge=0, le=100)
    disk_threshold_percent: float = Field(default=90.0, ge=0, le=100)
    alert_hold_s: float = Field(default=30.0, ge=0)

    @field_validator("interval_s")
    @classmethod
    def _round(cls, value: float) -> float:
        return round(value, 3)
