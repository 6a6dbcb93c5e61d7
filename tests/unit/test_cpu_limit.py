"""A container's CPU limit, read once from its inspect (`running_containers.cpu_limit`):
`--cpus` (NanoCpus) or a CFS quota over its period, None when unlimited; every stats
batch carries it (`ContainerStats.cpu_limit`)."""

from typing import Any

import pytest

from vigil_collector.docker.running_containers import RunningContainer, cpu_limit
from vigil_collector.docker.stats_batch import container_stats


@pytest.mark.parametrize(
    ("host_config", "cpus"),
    [
        ({"NanoCpus": 500_000_000, "CpuQuota": 0, "CpuPeriod": 0}, 0.5),  # --cpus 0.5
        ({"NanoCpus": 0, "CpuQuota": 150_000, "CpuPeriod": 100_000}, 1.5),  # --cpu-quota
        ({"CpuQuota": 50_000}, 0.5),  # the engine's default period, 100 ms
        ({"NanoCpus": 0, "CpuQuota": -1, "CpuPeriod": 0}, None),  # unlimited
        ({}, None),
    ],
)
def test_the_cpu_limit_in_cpus(host_config: dict[str, Any], cpus: float | None) -> None:
    assert cpu_limit(host_config) == cpus


def test_each_stats_of_a_limited_container_carries_its_limit() -> None:
    container = RunningContainer(
        id="a" * 64, name="web", image="web:1", pid=1, host_network=False, cpu_limit=0.5
    )
    figures: dict[str, Any] = {
        "cpu_percent": 50.0,
        "cpu_ns": 0,
        "memory": 1,
        "limit": 2,
        "rx": 0,
        "tx": 0,
        "rx_per_s": 0.0,
        "tx_per_s": 0.0,
        "block_read": 0,
        "block_write": 0,
        "pids": 1,
    }
    assert container_stats(container, **figures).cpu_limit == 0.5
    unlimited = RunningContainer(id="b" * 64, name="db", image="db:1", pid=2, host_network=False)
    stats = container_stats(unlimited, **figures)
    assert stats.cpu_limit is None
    assert "cpu_limit" not in stats.model_dump_json()  # omitted, as older collectors sent
