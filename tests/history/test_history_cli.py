"""`vigil history` as a real process, and the Python client's `api.history`, against a
real gateway, auth and history service: a container's charts, the host's containers
sorted by their peak, and clear errors for what cannot be asked."""

import json
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from tests.cli_support import vigil
from tests.client_support import client_for
from tests.history_support import (
    HOST,
    TIERS,
    Container,
    docker_sample,
    history_settings_for,
    rolled_up_to,
    run_history,
    write_samples,
)
from tests.support import NatsServer, bus_client
from vigil.messages import HistorySeries
from vigil_cli.sparkline import BLOCKS

WEB, DB = "0123456789ab", "d" * 12


@pytest.fixture
async def kept(nats_server: NatsServer, prefix: str) -> AsyncIterator[None]:
    """Ten minutes of two containers, rolled up, and one live batch now (the gateway
    knows the host from it); the history service running."""
    start = (int(time.time()) // 60 - 20) * 60

    def web(i: int) -> Container:  # busy in the second five minutes
        return Container("web", WEB, 10.0 if i < 150 else 30.0, 1000)

    samples = [
        docker_sample(start + 2 * i, [web(i), Container("db", DB, 1.0, 5 << 20)])
        for i in range(300)
    ]
    async with bus_client(nats_server, prefix) as bus:
        nats_server.provision(prefix)
        await write_samples(bus, samples)
        async with run_history(history_settings_for(nats_server, prefix)):
            await rolled_up_to(bus, TIERS[1], start + 600)
            await write_samples(bus, [docker_sample(time.time(), [web(0)])])
            yield


async def test_charts_of_a_container_and_the_containers_sorted_by_their_peak(
    kept: None, logged_in: dict[str, str]
) -> None:
    range_ = ("--since", "30m", "--step", "60")
    charts = await vigil(logged_in, "history", "web", *range_)
    assert charts.code == 0, charts.stderr
    lines = charts.stdout.splitlines()
    assert lines[0].startswith(f"container {HOST}: ")
    assert lines[0].endswith("a point per 60 s")
    assert lines[1] == f"web ({WEB})"
    cpu = next(line for line in lines if line.strip().startswith("cpu_percent"))
    least, mean, greatest, last = cpu.split()[-4:]
    # 150 samples at 10 %, 150 at 30 %, and the live one at 10 %
    assert (least, mean, greatest, last) == ("10.0%", "20.0%", "30.0%", "10.0%")
    chart = cpu.split(maxsplit=1)[1].rsplit(maxsplit=4)[0]
    # five minutes at 10 %, five at 30 %, nothing for ten, the live sample at 10 %
    assert chart.split() == [BLOCKS[2] * 5 + BLOCKS[-1] * 5, BLOCKS[2]]

    table = await vigil(logged_in, "history", "--containers", "--since", "30m")  # step chosen
    assert table.code == 0, table.stderr
    title, header, *rows = table.stdout.splitlines()
    assert title.endswith("sorted by peak cpu_percent")
    assert header.split()[:3] == ["NAME", "CPU", "PEAK"]
    assert [row.split()[:2] for row in rows] == [["web", "30.0%"], ["db", "1.0%"]]
    by_memory = await vigil(logged_in, "history", "--containers", "--sort", "memory")
    assert [row.split()[0] for row in by_memory.stdout.splitlines()[2:]] == ["db", "web"]

    as_json = await vigil(logged_in, "history", WEB, "--json", *range_)
    answer = HistorySeries.model_validate(json.loads(as_json.stdout))
    assert [entry.key for entry in answer.entries] == ["web"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("web", "--since", "1h", "--start", "2h"), "not both"),
        (("web", "--end", "1h"), "--end needs --start"),
        (("web", "--step", "0"), "--step must be 1 or more"),
        (("node/node-a",), "node/node-a needs --cluster"),
        (("pod/shop", "--cluster", "c1"), "a pod is pod/NAMESPACE/NAME"),
        (("web", "--containers"), "leave out the target"),
        (("web", "--host", "h1.*"), "host:"),
        (("web", "--since", "30d", "--step", "1"), "ask a step of at least"),
    ],
)
async def test_what_cannot_be_asked_is_said_clearly(
    kept: None, logged_in: dict[str, str], args: tuple[str, ...], says: str
) -> None:
    result = await vigil(logged_in, "history", *args)
    assert result.code != 0
    assert says in result.stderr, result.stderr


async def test_the_python_client_reads_a_containers_history(
    kept: None, gateway: str, admin_token: str
) -> None:
    async with client_for(gateway, admin_token) as client:
        answer = await client.api.history(
            "container", host=HOST, container="web", since=timedelta(minutes=30), step_s=60
        )
        with pytest.raises(ValueError, match="a pod's history needs namespace"):
            await client.api.history("pod", cluster="c1", pod="web-1")
    (entry,) = answer.entries
    assert entry.series["cpu_percent"].max[-1] == 10.0  # the live sample, in the raw tier
    assert max(v for v in entry.series["cpu_percent"].max if v is not None) == 30.0
