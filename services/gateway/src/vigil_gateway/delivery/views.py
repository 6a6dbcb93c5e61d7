"""How a bus message becomes the frames a client receives, per channel.

A feed renders each message once for all its clients, so rendering is on the
per-message path, never per client. Most channels send the message as it is, in an
`update`; the `system` channel speaks seed 001's shapes and `docker_stats` seed 000's;
`k8s.metrics` with a `namespace` keeps that namespace's pods.
"""

import functools
from collections.abc import Callable
from dataclasses import dataclass

from vigil.channels import CHANNELS, ChannelRef
from vigil.messages import (
    AlertChanged,
    AlertNotice,
    ContainerStatusChanged,
    ContainerStatusData,
    ContainerStatusNotice,
    DockerStats,
    DockerStatsData,
    DockerStatsSampled,
    HostMetricsSampled,
    K8sMetricsSampled,
    LogBatch,
    PodLogBatch,
    SystemMetric,
    SystemMetricData,
    SystemMetricMeta,
    Update,
)
from vigil.model import Message
from vigil_gateway.filters.logs import LineFilter, filter_of


@dataclass(frozen=True)
class Delivery:
    subject: str
    message: Message
    cursor: int | None  # the JetStream sequence, for stream channels


Renderer = Callable[[ChannelRef, Delivery], tuple[str, ...]]


def render_update(channel: ChannelRef, delivery: Delivery) -> tuple[str, ...]:
    update = Update(
        channel=channel.key,
        data=delivery.message.model_dump(mode="json"),
        cursor=delivery.cursor,
    )
    return (update.model_dump_json(),)


def render_system(channel: ChannelRef, delivery: Delivery) -> tuple[str, ...]:
    message = delivery.message
    if isinstance(message, HostMetricsSampled):
        return tuple(metric.model_dump_json() for metric in system_metrics(message))
    if isinstance(message, AlertChanged):
        return (AlertNotice(data=message).model_dump_json(),)
    if isinstance(message, ContainerStatusChanged):
        notice = ContainerStatusNotice(data=ContainerStatusData.of(message))
        return (notice.model_dump_json(),)
    raise TypeError(f"the system channel does not show {type(message).__name__}")


def system_metrics(sample: HostMetricsSampled) -> list[SystemMetric]:
    """One seed-001 `system_metric` per figure of a host sample."""
    figures: list[tuple[str, float, str, dict[str, str]]] = [
        ("cpu", sample.cpu.percent, "percent", {}),
        *(
            ("cpu_core", value, "percent", {"core": str(core)})
            for core, value in enumerate(sample.cpu.per_core)
        ),
        ("load_1m", sample.load.one, "load", {}),
        ("load_5m", sample.load.five, "load", {}),
        ("load_15m", sample.load.fifteen, "load", {}),
        ("memory", sample.memory.percent, "percent", {}),
        ("memory_used", sample.memory.used, "bytes", {}),
        ("swap", sample.swap.percent, "percent", {}),
        *(
            ("disk", fs.percent, "percent", {"mountpoint": fs.mountpoint})
            for fs in sample.filesystems
        ),
        ("disk_read", sample.disk_io.read_bytes_per_s, "bytes_per_second", {}),
        ("disk_write", sample.disk_io.write_bytes_per_s, "bytes_per_second", {}),
        ("network_rx", sample.network.rx_bytes_per_s, "bytes_per_second", {}),
        ("network_tx", sample.network.tx_bytes_per_s, "bytes_per_second", {}),
        ("uptime", sample.uptime_s, "seconds", {}),
    ]
    return [
        SystemMetric(
            data=SystemMetricData(
                time=sample.time,
                metric_type=metric_type,
                value=value,
                source="host",
                meta=SystemMetricMeta(unit=unit, host=sample.host, labels=labels),
            )
        )
        for metric_type, value, unit, labels in figures
    ]


def render_docker_stats(channel: ChannelRef, delivery: Delivery) -> tuple[str, ...]:
    """Seed 000's `docker_stats`: one message per host batch."""
    batch = delivery.message
    if not isinstance(batch, DockerStatsSampled):
        raise TypeError(f"docker_stats does not show {type(batch).__name__}")
    data = DockerStatsData(host=batch.host, containers=batch.containers)
    return (DockerStats(timestamp=batch.time, data=data).model_dump_json(),)


def render_k8s_metrics(channel: ChannelRef, delivery: Delivery) -> tuple[str, ...]:
    """A cluster's batch; with a `namespace` parameter, only that namespace's pods."""
    namespace = dict(channel.params).get("namespace")
    batch = delivery.message
    if namespace is not None and isinstance(batch, K8sMetricsSampled):
        pods = [pod for pod in batch.pods if pod.namespace == namespace]
        delivery = Delivery(delivery.subject, batch.model_copy(update={"pods": pods}), None)
    return render_update(channel, delivery)


_RENDERERS: dict[str, Renderer] = {
    CHANNELS["system"].name: render_system,
    CHANNELS["docker_stats"].name: render_docker_stats,
    CHANNELS["k8s.metrics"].name: render_k8s_metrics,
}


def render_filtered(keep: LineFilter, channel: ChannelRef, delivery: Delivery) -> tuple[str, ...]:
    """A log batch with only the lines the channel's filter keeps (none: no frame)."""
    batch = delivery.message
    if not isinstance(batch, LogBatch | PodLogBatch):
        raise TypeError(f"a log filter does not apply to {type(batch).__name__}")
    lines = [line for line in batch.lines if keep.keeps(line.text)]
    if not lines:
        return ()
    kept = batch.model_copy(update={"lines": lines})
    return render_update(channel, Delivery(delivery.subject, kept, delivery.cursor))


def renderer_for(channel: ChannelRef) -> Renderer:
    keep = filter_of(channel)
    if keep is not None and not channel.spec.selects:  # (a merged view filters itself)
        return functools.partial(render_filtered, keep)
    return _RENDERERS.get(channel.spec.name, render_update)
