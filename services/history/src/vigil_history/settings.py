"""History settings, from `VIGIL_HISTORY_...` (shared ones from `VIGIL_...`)."""

import uuid
from typing import Self

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import SettingsConfigDict

from vigil.messages.history import MAX_RANGE_DAYS
from vigil.probe import ProbeSettings

RAW_STREAM_AGE_S = 2 * 3600
"""What the HISTORY_RAW stream keeps (`vigil.streams`): the raw window must fit in it."""


class Tier(BaseModel):
    """A roll-up tier: one point per `step_s`, kept `retention_s`."""

    model_config = {"frozen": True}

    step_s: int = Field(ge=1, le=86400)
    retention_s: int = Field(ge=60)

    @property
    def name(self) -> str:
        """Its subject token: the step is in the name, so a changed step never mixes."""
        return f"s{self.step_s}"


def _default_tiers() -> list[Tier]:
    # the hourly tier answers long ranges from few messages (7 days of a host's
    # containers: 168 instead of 1,008) and keeps a year of hours
    return [
        Tier(step_s=60, retention_s=7 * 86400),
        Tier(step_s=600, retention_s=90 * 86400),
        Tier(step_s=3600, retention_s=MAX_RANGE_DAYS * 86400),
    ]


class HistorySettings(ProbeSettings):
    model_config = SettingsConfigDict(env_prefix="VIGIL_HISTORY_")

    raw_window_s: int = Field(
        default=3600,
        ge=60,
        le=RAW_STREAM_AGE_S - 600,
        description="Queries are answered from raw samples this far back (the stream keeps "
        "2 h, so the first tier can still be rolled up after an outage).",
    )
    tiers: list[Tier] = Field(
        default_factory=_default_tiers,
        min_length=1,
        max_length=6,
        description="JSON list of roll-up tiers, finest first: each `step_s` a multiple of "
        "the one before, each `retention_s` longer.",
    )
    roll: bool = Field(
        default=True,
        description="This replica rolls up; false: it answers queries only.",
    )
    grace_s: float = Field(
        default=5.0, ge=0, le=300, description="A raw window is rolled up this long after it ends."
    )
    claim_ttl_s: float = Field(
        default=30.0,
        ge=1,
        le=300,
        description="A replica's claim on a window lapses after this (it died): another "
        "replica then rolls the window up (HISTORY remembers published ids 10 min).",
    )
    interval_s: float = Field(
        default=5.0, gt=0, le=300, description="How often each replica looks for windows to do."
    )
    max_windows_per_pass: int = Field(
        default=2000, ge=1, description="Windows one pass may roll up (catching up after a stop)."
    )
    max_points: int = Field(
        default=2000, ge=10, le=100_000, description="Points per series a query may ask for."
    )
    max_frames: int = Field(
        default=20_000,
        ge=100,
        description="Roll-up messages one query may read: past it, it is asked a coarser step.",
    )
    max_entries: int = Field(
        default=1000, ge=1, description="Containers (pods, nodes) one answer may carry."
    )
    frame_cache_bytes: int = Field(
        default=64 * 2**20,
        ge=0,
        description="Roll-ups kept in memory for the next query (a frame below its tier's "
        "watermark never changes); 0: none.",
    )
    recent_s: int = Field(
        default=300,
        ge=0,
        le=3600,
        description="Raw samples this recent kept parsed (per source, behind its newest): the "
        "newest part of every query and the next roll-up read them from memory; 0: none.",
    )
    recent_entries: int = Field(
        default=200_000,
        ge=0,
        description="At most this many entries (a container in a sample) kept so, the least "
        "recently read sources dropped first (a host's 100 containers for 300 s: 15,000).",
    )
    warm_s: int = Field(
        default=86_400,
        ge=0,
        le=7 * 86_400,
        description="At start, the finest tier's last this many seconds of every source "
        "read into the frames kept (in the background): the first chart asked reads none.",
    )
    search_max_lines: int = Field(
        default=500_000,
        ge=1000,
        description="Log lines one page of a search may read (then it answers with a cursor).",
    )
    search_max_s: float = Field(
        default=1.0,
        gt=0,
        le=10,
        description="Seconds one page of a search may take (then it answers with a cursor).",
    )
    replica: str = Field(
        default_factory=lambda: uuid.uuid4().hex[:12],
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="This replica's name in its claims.",
    )

    @model_validator(mode="after")
    def _tiers_nest(self) -> Self:
        for finer, coarser in zip(self.tiers, self.tiers[1:], strict=False):
            if coarser.step_s % finer.step_s or coarser.step_s <= finer.step_s:
                raise ValueError(
                    f"tier step {coarser.step_s} s is not a larger multiple of {finer.step_s} s"
                )
            if coarser.retention_s <= finer.retention_s:
                raise ValueError("each tier must keep its points longer than the finer one")
        return self
