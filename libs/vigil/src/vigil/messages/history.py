"""The history service's query (`ctl.history.query`) and its answer: the series of a
host, a container, every container of a host, a pod or a node over a time range, at a
step, from the roll-up tiers the service keeps (`services/history`)."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Self

from pydantic import AwareDatetime, Field, StringConstraints, model_validator

from vigil.messages.common import omitted_when_none, utc_now
from vigil.model import Message
from vigil.names import ClusterName, HostName, NamespaceName, PodName

MAX_RANGE_DAYS = 400
"""No range is longer (the coarsest default tier keeps 90 days)."""


SeriesName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


class HistoryKind(StrEnum):
    HOST = "host"
    CONTAINER = "container"
    CONTAINERS = "containers"
    """Every container of a host (a table sorted by the range's peak or mean)."""
    POD = "pod"
    NODE = "node"


class QueryHistory(Message):
    """On `ctl.history.query` (asked by the gateway, which checks the user's role and
    cluster grant first: a pod's or node's query names its cluster for that).

    - `host`: `host`; `container`: `host` and `container` (its id or its name: a
      container recreated under the same name continues the same series);
      `containers`: `host`; `pod`: `cluster`, `namespace`, `pod`; `node`: `cluster`, `node`.
    - `[start, end)`, rounded out to whole steps; `end` defaults to now.
    - `step_s`: the width of each point; by default the finest the history keeps for
      the range's start (at most the service's `max_points` per series).
    """

    kind: HistoryKind
    host: HostName | None = omitted_when_none()
    container: str | None = omitted_when_none(
        "A container's id (12 or 64 hex) or name.",
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
    )
    cluster: ClusterName | None = omitted_when_none()
    namespace: NamespaceName | None = omitted_when_none()
    pod: PodName | None = omitted_when_none()
    node: str | None = omitted_when_none(
        "A node's name.", min_length=1, max_length=253, pattern=r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$"
    )
    start: AwareDatetime
    end: AwareDatetime | None = omitted_when_none()
    step_s: int | None = omitted_when_none(
        "Seconds per point: a multiple of a tier's step to be served from that tier.",
        ge=1,
        le=MAX_RANGE_DAYS * 86400,
    )
    series: list[SeriesName] | None = omitted_when_none(
        "Only these series (a chart's): the answer is that much smaller. Default: all.",
        min_length=1,
        max_length=16,
    )

    @model_validator(mode="after")
    def _names_what_its_kind_needs(self) -> Self:
        needed = {
            HistoryKind.HOST: ("host",),
            HistoryKind.CONTAINER: ("host", "container"),
            HistoryKind.CONTAINERS: ("host",),
            HistoryKind.POD: ("cluster", "namespace", "pod"),
            HistoryKind.NODE: ("cluster", "node"),
        }[self.kind]
        missing = [name for name in needed if getattr(self, name) is None]
        if missing:
            raise ValueError(f"a {self.kind} query needs {', '.join(missing)}")
        if self.end is not None and self.end <= self.start:
            raise ValueError("end must be after start")
        if ((self.end or utc_now()) - self.start).days >= MAX_RANGE_DAYS:
            raise ValueError(f"the range is longer than {MAX_RANGE_DAYS} days")
        return self


class SeriesStats(Message):
    """One series' points: per step, the least, greatest and mean value and the last
    one (counters as rates per second); None where the step has no value."""

    min: list[float | None]
    max: list[float | None]
    mean: list[float | None]
    last: list[float | None]


class HistoryEntry(Message):
    """One host, container, pod or node: its points, the times they start at."""

    key: str = Field(description="The host, the container's name, `namespace/pod`, the node.")
    id: str | None = omitted_when_none("A container's id at the last point (it may change).")
    times: list[datetime] = Field(description="Each point's start; steps without data left out.")
    samples: list[int] = Field(description="Raw samples behind each point.")
    series: dict[str, SeriesStats]


class TierSpan(Message):
    """Which tier answered which part of the range: the parts meet, none overlaps."""

    tier: str = Field(description="`raw`, or a roll-up tier (`s60`: 60 s steps).")
    start: datetime
    end: datetime


class HistorySeries(Message):
    """The answer to `QueryHistory`."""

    kind: HistoryKind
    source: str = Field(description="The host, or the cluster.")
    start: datetime
    end: datetime
    step_s: int
    tiers: list[TierSpan]
    entries: list[HistoryEntry]
    newest: datetime | None = omitted_when_none(
        "The time of the newest raw sample in the answer: a live value of that time or"
        " older is already in it."
    )
