"""Notifier settings, from `VIGIL_NOTIFIER_...` (shared ones from `VIGIL_...`)."""

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from vigil.probe import ProbeSettings


class NotifierSettings(ProbeSettings):
    model_config = SettingsConfigDict(env_prefix="VIGIL_NOTIFIER_")

    send_timeout_s: float = Field(
        default=10.0, gt=0, le=120, description="One attempt to reach a channel's service."
    )
    ack_wait_s: float = Field(
        default=30.0,
        gt=0,
        description="JetStream redelivers a transition whose replica did not answer in this "
        "long (it died): to another replica, which finishes what was left.",
    )
    retry_backoff_s: list[float] = Field(
        default=[1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0],
        min_length=1,
        description="The wait before the 1st, 2nd... retry of a failed channel (the last repeats).",
    )
    max_attempts: int = Field(
        default=20,
        ge=1,
        description="Attempts per transition and channel before a dead letter "
        "(with the default backoff: about an hour).",
    )
    max_in_flight: int = Field(
        default=64, ge=1, le=1024, description="Transitions handled at once by this replica."
    )
    max_pending: int = Field(
        default=10_000,
        ge=1,
        description="Transitions taken and not yet done (in hand, or waiting for a retry) "
        "across the replicas; past it, new ones wait. A channel failing for long holds "
        "its transitions here until each is done or dead-lettered.",
    )
    consumer: str = Field(
        default="notifiers",
        pattern=r"^[A-Za-z0-9_-]+$",
        description="The durable consumer on ALERTS that the replicas share.",
    )

    @property
    def lease_s(self) -> float:
        """How long a delivery in progress is this replica's: longer than any attempt, so
        a live replica is never overtaken; past it, another takes the delivery over."""
        return self.send_timeout_s * 2 + 5.0

    def backoff_s(self, attempt: int) -> float:
        """The wait after failed attempt `attempt` (1-based)."""
        return self.retry_backoff_s[min(attempt, len(self.retry_backoff_s)) - 1]

    @model_validator(mode="after")
    def _redelivered_after_the_send(self) -> "NotifierSettings":
        if self.ack_wait_s <= self.send_timeout_s:
            raise ValueError("ack_wait_s must exceed send_timeout_s")
        return self
