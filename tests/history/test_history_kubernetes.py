"""Pods and nodes have history too, under their cluster (which the query names, for the
gateway's grant check)."""

import time
from datetime import UTC, datetime

from tests.history_support import TIERS, history_settings_for, query, run_history
from tests.support import NatsServer, bus_client, until
from vigil.messages import HistoryKind, K8sMetricsSampled, NodeUsage, PodUsage
from vigil.streams import HISTORY_MARKS


def k8s_sample(at: float, n: int) -> K8sMetricsSampled:
    return K8sMetricsSampled(
        cluster="c1",
        time=datetime.fromtimestamp(at, UTC),
        interval_s=10.0,
        metrics_available=True,
        pods=[
            PodUsage(
                id="shop/web-1",
                namespace="shop",
                name="web-1",
                cpu_millicores=100.5 + n,
                memory_bytes=2**20 * (n + 1),
                containers=[],
            )
        ],
        nodes=[NodeUsage(id="node-a", cpu_millicores=1000.0 + n, memory_bytes=2**30)],
    )


async def test_a_pods_and_a_nodes_history_under_their_cluster(
    nats_server: NatsServer, prefix: str
) -> None:
    start = (int(time.time()) // 60 - 20) * 60
    samples = [k8s_sample(start + 10 * n, n) for n in range(60)]  # 10 minutes, every 10 s
    settings = history_settings_for(nats_server, prefix)
    async with bus_client(nats_server, prefix) as bus:
        for sample in samples:
            await bus.publish(bus.subjects.k8s_metrics("c1"), sample)
        async with run_history(settings):
            marks = await bus.kv(HISTORY_MARKS)

            async def rolled_up() -> bool | None:
                try:
                    entry = await marks.get(f"{TIERS[1].name}.k8s.c1")
                except Exception:
                    return None
                return (entry.value is not None and int(entry.value) >= start + 600) or None

            await until(rolled_up, "the cluster's history rolled up")
            pod = await query(
                bus,
                kind=HistoryKind.POD,
                cluster="c1",
                namespace="shop",
                pod="web-1",
                start=samples[0].time,
                end=samples[-1].time,
                step_s=60,
            )
            node = await query(
                bus,
                kind=HistoryKind.NODE,
                cluster="c1",
                node="node-a",
                start=samples[0].time,
                end=samples[-1].time,
                step_s=60,
            )
    ((pod_entry,), (node_entry,)) = (pod.entries, node.entries)
    assert (pod.source, pod_entry.key, node_entry.key) == ("c1", "shop/web-1", "node-a")
    assert pod_entry.samples == node_entry.samples == [6] * 10
    cpu = pod_entry.series["cpu_millicores"]
    assert cpu.min == [100.5 + 6 * m for m in range(10)]
    assert cpu.max == [100.5 + 6 * m + 5 for m in range(10)]
    assert node_entry.series["cpu_millicores"].mean == [1000 + 6 * m + 2.5 for m in range(10)]
    assert node_entry.series["memory_bytes"].last == [float(2**30)] * 10
