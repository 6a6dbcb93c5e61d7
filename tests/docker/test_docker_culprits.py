"""A host's CPU or memory alert names its busiest containers (`host.culprits`), with a
real engine: a container spinning a CPU is the first culprit of a CPU alert, and said in
the alert's message; a memory alert names the largest, largest first."""

from tests.docker_engine import Containers
from tests.docker_support import docker_collector, heard, next_that
from tests.support import NatsServer, bus_client, run_collector
from vigil.messages import AlertChanged, AlertState

HOST = "testhost"


async def test_a_cpu_alert_names_the_spinning_container_and_a_memory_alert_the_largest(
    nats_server: NatsServer, prefix: str, containers: Containers
) -> None:
    _, busy = containers.run("busy", "sh", "-c", "while :; do :; done")
    settings = docker_collector(
        nats_server,
        prefix,
        cpu_threshold_percent=0.0,  # both cross at the first host sample
        memory_threshold_percent=0.0,
        disk_threshold_percent=100.0,
        alert_hold_s=0.0,
        interval_s=3.0,  # by then the engine's stats have a CPU figure for it
    )
    async with (
        bus_client(nats_server, prefix) as bus,
        heard(bus, bus.subjects.alerts("host"), AlertChanged) as alerts,
        run_collector(settings),
    ):
        raised: dict[str, AlertChanged] = {}
        while len(raised) < 2:  # raised at the same host sample, in either order
            alert = await next_that(
                alerts, lambda a: a.metric in ("cpu", "memory"), "the CPU and memory alerts", 30
            )
            raised[alert.metric] = alert
    cpu, memory = raised["cpu"], raised["memory"]

    assert cpu.state is AlertState.RAISED
    assert cpu.culprits is not None
    assert 1 <= len(cpu.culprits) <= 3
    first = cpu.culprits[0]
    assert first.name == busy
    assert first.cpu_percent > 10  # a spinning shell, whatever else shares the machine
    assert [c.cpu_percent for c in cpu.culprits] == sorted(
        (c.cpu_percent for c in cpu.culprits), reverse=True
    )
    assert f"busiest: {busy} " in cpu.message
    assert memory.culprits is not None
    sizes = [c.memory_bytes for c in memory.culprits]
    assert sizes == sorted(sizes, reverse=True)
    assert " MiB" in memory.message
