"""The alerter's `culprits`: which host alerts name containers, which containers, and when a stats
batch is too old to say anything of now."""

from datetime import timedelta

from vigil.messages import (
    AlertChanged,
    AlertSource,
    AlertState,
    ContainerStats,
    DockerStatsSampled,
    ProcessUsage,
    utc_now,
)
from vigil_alerter.culprits import with_culprits
from vigil_notifier.delivery import body_of


def container(name: str, cpu: float, memory_mib: int) -> ContainerStats:
    return ContainerStats(
        id=f"{name:0<12}"[:12],
        name=name,
        cpu_percent=cpu,
        memory_usage=memory_mib << 20,
        memory_limit=1 << 30,
        network_rx=0,
        network_tx=0,
        image="busybox",
        state="running",
        memory_percent=0.0,
        network_rx_per_s=0.0,
        network_tx_per_s=0.0,
        block_read=0,
        block_write=0,
        pids=1,
    )


def batch(age_s: float = 0.0) -> DockerStatsSampled:
    return DockerStatsSampled(
        host="h1",
        time=utc_now() - timedelta(seconds=age_s),
        interval_s=2.0,
        containers=[
            container("a", 5.0, 900),
            container("b", 95.0, 10),
            container("c", 40.0, 300),
            container("d", 60.0, 20),
        ],
    )


def alert(metric: str, state: AlertState = AlertState.RAISED) -> AlertChanged:
    return AlertChanged(
        id="rule:defa017000000001:host:h1",
        state=state,
        source=AlertSource.RULE,
        host="h1",
        metric=metric,
        value=99.0,
        threshold=90.0,
        time=utc_now(),
        message=f"host CPU: {metric} of h1 is 99, over 90",
    )


def test_a_cpu_alert_names_the_three_busiest_by_cpu_and_says_so() -> None:
    named = with_culprits(alert("cpu_percent"), batch())
    assert [c.name for c in named.culprits or []] == ["b", "d", "c"]
    assert (
        named.message == "host CPU: cpu_percent of h1 is 99, over 90; busiest: b 95%, d 60%, c 40%"
    )


def test_a_memory_alert_names_the_largest() -> None:
    named = with_culprits(alert("memory_percent"), batch())
    assert [c.name for c in named.culprits or []] == ["a", "c", "d"]
    assert named.message.endswith("busiest: a 900 MiB, c 300 MiB, d 20 MiB")


def test_no_one_is_named_for_a_disk_a_resolution_an_old_batch_or_none() -> None:
    for unchanged, stats in [
        (alert("disk_percent"), batch()),
        (alert("cpu_percent", AlertState.RESOLVED), batch()),
        (alert("cpu_percent"), batch(age_s=7.0)),  # older than three 2 s intervals
        (alert("cpu_percent"), None),
    ]:
        assert with_culprits(unchanged, stats) == unchanged


def test_processes_the_collector_saw_are_named_beside_the_containers() -> None:
    processes = [
        ProcessUsage(pid=7, name="java", cpu_percent=180.0, memory_bytes=2 << 30),
        ProcessUsage(pid=9, name="cron", cpu_percent=0.0, memory_bytes=4 << 20),
    ]
    named = with_culprits(alert("cpu_percent"), batch(), processes)
    assert [(c.kind, c.name, c.id) for c in named.culprits or []] == [
        ("container", "b", "b00000000000"),
        ("container", "d", "d00000000000"),
        ("container", "c", "c00000000000"),
        ("process", "java", "7"),
        ("process", "cron", "9"),
    ]
    assert named.message.endswith("c 40%, java (pid 7) 180%, cron (pid 9) 0%")
    # without Docker, the processes alone; a disk alert names none
    alone = with_culprits(alert("memory_percent"), None, processes)
    assert [c.name for c in alone.culprits or []] == ["java", "cron"]
    assert with_culprits(alert("disk_percent"), batch(), processes).culprits is None
    body = body_of(named)
    assert "Busiest containers then:\n- b (b00000000000)" in body
    assert "Busiest processes then:\n- java (pid 7): CPU 180.0 %, memory 2048.0 MiB" in body
