"""What a query names: a container by its name or id (a recreated container's history
continues under its name), and input that cannot be answered gets a clear refusal."""

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.history_support import (
    HOST,
    TIERS,
    Container,
    docker_sample,
    history_settings_for,
    query,
    rolled_up_to,
    run_history,
    write_samples,
)
from tests.support import NatsServer, bus_client
from vigil.messages import CtlReply, ErrorCode, HistoryKind, HistorySeries
from vigil.operations import History

OLD, NEW = "0123456789ab", "ba9876543210"


async def test_a_recreated_container_continues_under_its_name(
    nats_server: NatsServer, prefix: str
) -> None:
    start = (int(time.time()) // 60 - 20) * 60
    samples = []
    for i in range(300):  # 10 minutes; "web" is recreated (another id) half-way
        web = (
            Container("web", OLD, 10.0, 1000, rx=10**9 + 1000 * i)
            if i < 150
            else Container("web", NEW, 20.0, 2000, rx=1000 * (i - 150))  # counters from 0
        )
        samples.append(docker_sample(start + 2 * i, [web, Container("db", "d" * 12, 1.0, 5)]))
    settings = history_settings_for(nats_server, prefix)
    async with bus_client(nats_server, prefix) as bus:
        await write_samples(bus, samples)
        async with run_history(settings):
            await rolled_up_to(bus, TIERS[1], start + 600)
            answers = [
                await query(
                    bus,
                    kind=HistoryKind.CONTAINER,
                    host=HOST,
                    container=container,
                    start=samples[0].time,
                    end=samples[-1].time,
                    step_s=60,
                )
                for container in ("web", NEW, NEW[:12], OLD)
            ]
    for answer in answers:
        (entry,) = answer.entries
        assert (entry.key, entry.id) == ("web", NEW)
        assert entry.samples == [30] * 10  # both containers' samples, one series
        assert entry.series["cpu_percent"].mean == [10.0] * 5 + [20.0] * 5
        rates = entry.series["network_rx"]
        assert rates.max == [500.0] * 10  # 1000 bytes per 2 s: no drop to a negative rate
        assert rates.min == [500.0] * 10  # nor a spike counted from the old counter
    (db,) = [e for e in answers[0].entries if e.key == "db"] or [None]
    assert db is None  # a container query answers that container only


def bad(**fields: object) -> dict[str, object]:
    """A query's JSON, as any client on the bus could send it."""
    defaults: dict[str, object] = {
        "kind": "container",
        "host": HOST,
        "container": "web",
        "start": datetime.now(UTC) - timedelta(hours=1),
    }
    return {
        name: value.isoformat() if isinstance(value, datetime) else value
        for name, value in (defaults | fields).items()
        if value is not None
    }


@pytest.mark.parametrize(
    ("request_", "says"),
    [
        (bad(container="web.>"), "container: String should match pattern"),
        (bad(container="*"), "container: String should match pattern"),
        (bad(host="h1.*"), "host:"),
        (bad(container=None), "a container query needs container"),
        (bad(kind="pod", container=None, cluster="c1"), "a pod query needs namespace, pod"),
        (bad(kind="volume"), "kind:"),
        (bad(end=datetime.now(UTC) - timedelta(hours=2)), "end must be after start"),
        (bad(start="yesterday"), "start:"),
        (bad(start=datetime.now(UTC) - timedelta(days=30), step_s=1), "a step of at least 1300 s"),
        (bad(step_s=0), "step_s:"),
        (bad(start=datetime.now(UTC) - timedelta(hours=2), step_s=15), "ask a multiple of 10 s"),
        (bad(start=datetime(2020, 1, 1, tzinfo=UTC)), "longer than 400 days"),
    ],
)
async def test_a_bad_query_gets_a_clear_error_and_the_service_answers_on(
    nats_server: NatsServer, prefix: str, request_: dict[str, object], says: str
) -> None:
    async with bus_client(nats_server, prefix) as bus:
        async with run_history(history_settings_for(nats_server, prefix)):
            subject = History.QUERY.subject(bus.subjects)
            answer = await bus.nc.request(subject, json.dumps(request_).encode(), timeout=10)
            reply = CtlReply.model_validate_json(answer.data)
            assert not reply.ok
            assert reply.error is not None
            assert reply.error.code is ErrorCode.INVALID_MESSAGE
            assert says in reply.error.message
            good = await query(
                bus,
                kind=HistoryKind.HOST,
                host=HOST,
                start=datetime.now(UTC) - timedelta(minutes=5),
            )
            assert isinstance(good, HistorySeries)
            assert good.entries == []


async def test_a_started_service_reads_the_recent_roll_ups_ahead_and_a_chart_reads_none(
    nats_server: NatsServer, prefix: str
) -> None:
    start = (int(time.time()) // 60 - 20) * 60
    samples = [docker_sample(start + 2 * i, [Container("web", OLD, 5.0, 1000)]) for i in range(300)]
    settings = history_settings_for(nats_server, prefix)
    async with bus_client(nats_server, prefix) as bus:
        await write_samples(bus, samples)
        async with run_history(settings):
            await rolled_up_to(bus, TIERS[0], start + 600)
        async with run_history(settings.model_copy(update={"roll": False})) as service:
            await asyncio.wait_for(service.warmed.wait(), 15)
            assert service.query is not None
            read_ahead = service.query.cache.read_windows
            chart = await query(
                bus,
                kind=HistoryKind.CONTAINER,
                host=HOST,
                container="web",
                start=samples[0].time,
                end=samples[-1].time,
                step_s=TIERS[0].step_s,
            )
            assert service.query.cache.read_windows == read_ahead  # none read for the chart
    assert read_ahead == 60  # ten minutes of 10-s roll-ups
    assert sum(chart.entries[0].samples) == len(samples)
