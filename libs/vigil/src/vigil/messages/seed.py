"""The frames in the seeds' shapes, for the clients written against them: seed 000's
`docker_stats` (the `docker_stats` channel, `/ws/docker/stats`) and seed 001's
`system_metric`, `container_status` and alerts (the `system` channel,
`/api/system/ws`). The gateway's views make them from the bus messages."""

from datetime import datetime
from typing import Literal

from pydantic import Field

from vigil.messages.common import omitted_when_none
from vigil.messages.docker import ContainerStats, ContainerStatusChanged
from vigil.messages.host import AlertChanged
from vigil.model import Message


class SystemMetricMeta(Message):
    unit: str
    host: str
    labels: dict[str, str] = Field(default_factory=dict)


class SystemMetricData(Message):
    time: datetime
    metric_type: str
    value: float
    source: str
    meta: SystemMetricMeta


class SystemMetric(Message):
    """Seed 001's `system_metric`, one figure each, on `/api/system/ws`."""

    type: Literal["system_metric"] = "system_metric"
    data: SystemMetricData


class AlertNotice(Message):
    """An alert on `/api/system/ws`."""

    type: Literal["alert"] = "alert"
    data: AlertChanged


class DockerStatsData(Message):
    host: str
    containers: list[ContainerStats]


class DockerStats(Message):
    """Seed 000's `docker_stats`, one per host batch, on `/ws/docker/stats`."""

    type: Literal["docker_stats"] = "docker_stats"
    timestamp: datetime
    data: DockerStatsData
    key: str | None = omitted_when_none()
    seq: int | None = omitted_when_none()


class ContainerStatusData(Message):
    container: str = Field(description="The container's name, as seed 001 shows it.")
    status: str
    time: datetime
    id: str
    host: str
    image: str
    event: str
    exit_code: int | None = omitted_when_none()
    health: str | None = omitted_when_none()

    @classmethod
    def of(cls, change: ContainerStatusChanged) -> "ContainerStatusData":
        return cls(
            container=change.name,
            status=change.status,
            time=change.time,
            id=change.id,
            host=change.host,
            image=change.image,
            event=change.event,
            exit_code=change.exit_code,
            health=change.health,
        )


class ContainerStatusNotice(Message):
    """Seed 001's `container_status` (`container`, `status`, `time`, and more), on
    `/api/system/ws`."""

    type: Literal["container_status"] = "container_status"
    data: ContainerStatusData
