"""What every stats reader makes, whichever way it measured: a container's figures as
`ContainerStats` (rounded as `docker stats` shows them), a cycle as `DockerStatsSampled`."""

from vigil.messages import ContainerStats, DockerStatsSampled, utc_now
from vigil_collector.docker.running_containers import RunningContainer


def container_stats(
    container: RunningContainer,
    *,
    cpu_percent: float,
    cpu_ns: int,
    memory: int,
    limit: int,
    rx: int,
    tx: int,
    rx_per_s: float,
    tx_per_s: float,
    block_read: int,
    block_write: int,
    pids: int,
) -> ContainerStats:
    return ContainerStats(
        id=container.short_id,
        name=container.name,
        cpu_percent=round(cpu_percent, 2),
        memory_usage=memory,
        memory_limit=limit,
        network_rx=rx,
        network_tx=tx,
        image=container.image,
        state="running",
        memory_percent=round(memory / limit * 100.0, 2) if limit else 0.0,
        network_rx_per_s=round(rx_per_s, 1),
        network_tx_per_s=round(tx_per_s, 1),
        block_read=block_read,
        block_write=block_write,
        pids=pids,
        cpu_seconds=round(cpu_ns / 1e9, 3),
        cpu_limit=container.cpu_limit,
        host_network=True if container.host_network else None,
    )


def stats_batch(
    host: str, interval_s: float, containers: list[ContainerStats]
) -> DockerStatsSampled:
    containers.sort(key=lambda c: c.name)
    return DockerStatsSampled(
        host=host, time=utc_now(), interval_s=round(interval_s, 3), containers=containers
    )
