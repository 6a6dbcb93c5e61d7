"""Alerter settings, from `VIGIL_ALERTER_...` (shared ones from `VIGIL_...`)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from vigil.probe import ProbeSettings


class AlerterSettings(ProbeSettings):
    model_config = SettingsConfigDict(env_prefix="VIGIL_ALERTER_")

    lease_s: float = Field(
        default=15.0,
        ge=3,
        le=600,
        description="A replica's hold on a source (a host, a cluster), renewed every third "
        "of it; a replica that dies leaves its sources to another after this.",
    )
    tick_s: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="How often status and stale conditions are looked at again (time alone "
        "resolves them) and the rules re-read when their bucket changed.",
    )
    log_lease_s: float = Field(
        default=30.0,
        ge=3,
        le=300,
        description="The lease on the logs of a container a log rule reads, renewed every "
        "third of it while the rule targets the container.",
    )
    default_rules: bool = Field(
        default=True,
        description="Seed the default host rules (CPU, memory, disk over 90 % for 30 s) into "
        "ALERT_RULES, once: on the first start of any replica, never again after.",
    )
