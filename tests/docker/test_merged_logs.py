"""Merged logs: one time-ordered stream from every container a selector picks.

The reorder window on its own (property-based: whatever the arrival order, lines come
out in time order or marked late, and none is lost), then end to end with real
containers printing numbered lines at different rates, one joining and one leaving
mid-stream, and a client resuming from its cursor."""

import asyncio
import itertools
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection, connect

from tests.docker_engine import Containers, docker
from tests.docker_support import DockerStack, announce_container
from tests.support import (
    NatsServer,
    bus_client,
    receive,
    receive_until,
    send,
    serve_gateway,
)
from vigil.bus import Bus
from vigil.messages import LogBatch, LogLine
from vigil.streams import LATEST, LOGS
from vigil_gateway.merged.reorder import ReorderWindow
from vigil_gateway.settings import GatewaySettings

T0 = datetime(2026, 11, 23, tzinfo=UTC)


@settings(max_examples=200)
@given(
    st.lists(st.lists(st.integers(1, 50), max_size=30), min_size=1, max_size=5),
    st.randoms(use_true_random=False),
    st.floats(0.05, 2.0),
)
def test_the_window_releases_every_line_in_time_order_or_marked_late(
    gaps_per_source: list[list[int]], shuffle: random.Random, window_s: float
) -> None:
    window: ReorderWindow[tuple[str, int]] = ReorderWindow(window_s)
    arrivals = []  # (source, line time, number): each source in its own order
    for index, gaps in enumerate(gaps_per_source):
        source = f"s{index}"
        window.add_source(source)
        times = itertools.accumulate(gaps)
        arrivals += [[(source, T0 + timedelta(milliseconds=t), n) for n, t in enumerate(times)]]
    now, released = 0.0, []
    while any(arrivals):
        queue = shuffle.choice([q for q in arrivals if q])  # interleave sources at random
        source, when, number = queue.pop(0)
        now += shuffle.uniform(0, window_s)
        window.put(source, when, (source, number), now)
        released += window.release(now)
    released += window.release(now + window_s)  # the window passes
    assert len(window) == 0
    lines = [(r.line, r.late) for r in released]
    assert sorted(line for line, _ in lines) == sorted(
        (f"s{i}", n) for i, gaps in enumerate(gaps_per_source) for n in range(len(gaps))
    )  # nothing lost, nothing twice
    on_time = [line for line, late in lines if not late]
    stamps = {
        (f"s{i}", n): t
        for i, gaps in enumerate(gaps_per_source)
        for n, t in enumerate(itertools.accumulate(gaps))
    }
    assert [stamps[line] for line in on_time] == sorted(stamps[line] for line in on_time)
    for source in {s for s, _ in on_time}:  # each source's lines keep their order
        numbers = [n for s, n in on_time if s == source]
        assert numbers == sorted(numbers)


def test_a_quiet_source_holds_lines_for_the_window_only() -> None:
    window: ReorderWindow[str] = ReorderWindow(1.0)
    window.add_source("busy")
    window.add_source("quiet")
    window.put("busy", T0, "b1", now=10.0)
    assert window.release(10.5) == []  # the quiet source may still send something older
    assert [r.line for r in window.release(11.0)] == ["b1"]
    window.put("quiet", T0 - timedelta(seconds=1), "q0", now=11.2)  # too late for its place
    (late,) = window.release(11.2)
    assert (late.line, late.late) == ("q0", True)
    window.put("quiet", T0 + timedelta(seconds=2), "q1", now=11.3)
    window.put("busy", T0 + timedelta(seconds=3), "b2", now=11.4)
    assert [r.line for r in window.release(11.4)] == ["q1"]  # both passed it: at once


COUNTER = 'i=0; while true; do i=$((i+1)); echo "{name} $i"; sleep {pause}; done'


def run_counter(containers: Containers, name: str, pause: float) -> str:
    short, _ = containers.run(name, "sh", "-c", COUNTER.format(name=name, pause=pause))
    return short


async def merged_lines(ws: ClientConnection, seconds: float) -> list[dict[str, Any]]:
    """The updates' lines (with each update's cursor) for `seconds`."""
    lines: list[dict[str, Any]] = []
    deadline = asyncio.get_running_loop().time() + seconds
    while (left := deadline - asyncio.get_running_loop().time()) > 0:
        try:
            message = await receive(ws, timeout=left)
        except TimeoutError:
            break
        if message["type"] == "update":
            lines += [line | {"cursor": message["cursor"]} for line in message["data"]["lines"]]
    return lines


def counted(lines: list[dict[str, Any]], source: str) -> list[int]:
    return [
        int(line["text"].split()[1])
        for line in lines
        if not line.get("marker") and line["text"].startswith(source + " ")
    ]


async def test_containers_merge_in_time_order_join_and_leave_and_resume(
    docker_stack: DockerStack,
    containers: Containers,
) -> None:
    fast = run_counter(containers, "fast", 0.02)
    medium = run_counter(containers, "medium", 0.1)
    slow = run_counter(containers, "slow", 0.3)
    selector = {"label": f"vigil.test={containers.label}"}
    # (A lease asked for before the collector has the engine is asked for again soon.)
    async with (
        docker_stack.up(merge_window_s=0.5, log_lease_s=1.5) as address,
        docker_stack.socket(address, max_size=None) as ws,
    ):
        await receive(ws)
        await send(ws, {"type": "subscribe", "channel": "logs.merged", "params": selector})
        subscribed = await receive_until(ws, lambda m: m["type"] in {"subscribed", "error"})
        assert subscribed["type"] == "subscribed", subscribed
        first = await merged_lines(ws, 4)
        joining = run_counter(containers, "late", 0.1)  # starts while the view is open
        docker("stop", "-t", "1", slow)
        second = await merged_lines(ws, 5)

        # A client that lost its socket resumes from its last cursor, on a new one.
        cursor = second[-1]["cursor"]
        async with docker_stack.socket(address, max_size=None) as again:
            await receive(again)
            resume = {"type": "subscribe", "channel": "logs.merged", "params": selector}
            await send(again, resume | {"since": cursor})
            resumed = await merged_lines(again, 3)
        third = await merged_lines(ws, 0.5)

    lines = first + second
    on_time = [line["time"] for line in lines if not line.get("late")]
    assert on_time == sorted(on_time), "merged lines out of time order"
    assert {line["container"] for line in lines} >= {fast, medium, slow, joining}
    for source in ("fast", "medium", "slow"):
        numbers = counted(lines, source)
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), source
        assert len(numbers) >= 5, source
    markers = {(line["container"], line["marker"]) for line in lines if line.get("marker")}
    assert (joining, "joined") in markers
    assert (slow, "left") in markers
    assert counted(second, "late"), "the container that joined should be in the view"

    seen_after = [line for line in second + third if line["cursor"] > cursor]
    for source in ("fast", "medium"):  # what the first socket saw after the cursor
        expected = counted(seen_after, source)
        got = counted(resumed, source)
        assert got[: len(expected)] == expected[: len(got)], source
        assert got, source


async def write_lines(
    bus: Bus, host: str, container: str, lag_s: float, stop: asyncio.Event
) -> int:
    """A line every 50 ms in batches every 100 ms, stamped `lag_s` behind the clock, as a
    collector of an engine whose clock lags would publish them; how many were written."""
    written = 0
    while not stop.is_set():
        lines = []
        for _ in range(2):
            stamp = datetime.now(UTC) - timedelta(seconds=lag_s)
            lines.append(LogLine(time=stamp, stream="stdout", text=f"{container} {written}"))
            written += 1
        await bus.publish(
            bus.subjects.docker_logs(host, container),
            LogBatch(host=host, container=container, lines=lines),
        )
        await asyncio.sleep(0.1)
    return written


async def test_a_source_whose_clock_lags_beyond_the_window_is_marked_late_not_dropped(
    nats_server: NatsServer,
    prefix: str,
    gateway_settings: GatewaySettings,
    admin_token: str,
) -> None:
    # A Docker engine stamps lines with its own clock, which a test cannot set back: the
    # two containers here are announced and write on the bus as their collector would.
    host, punctual, lagging = "clockhost", "aaaaaaaaaaaa", "bbbbbbbbbbbb"
    settings = gateway_settings.model_copy(update={"merge_window_s": 0.5})
    stop = asyncio.Event()
    async with (
        bus_client(nats_server, prefix) as bus,
        serve_gateway(settings) as address,
        connect(f"ws://{address}/ws?token={admin_token}", max_size=None) as ws,
    ):
        for spec in (LATEST, LOGS):
            await bus.js.add_stream(spec.config(bus.subjects))
        for container in (punctual, lagging):
            await announce_container(
                bus, host, container, f"clock-{container}", {"vigil.test": prefix}
            )
        await receive(ws)
        selector = {"label": f"vigil.test={prefix}"}
        await send(ws, {"type": "subscribe", "channel": "logs.merged", "params": selector})
        subscribed = await receive_until(ws, lambda m: m["type"] in {"subscribed", "error"})
        assert subscribed["type"] == "subscribed", subscribed
        writing = asyncio.create_task(write_lines(bus, host, punctual, 0, stop))
        await asyncio.sleep(1)  # the view has released lines of the punctual source
        lagging_writing = asyncio.create_task(write_lines(bus, host, lagging, 3.0, stop))
        lines = await merged_lines(ws, 3)
        stop.set()
        written = await lagging_writing
        await writing
        lines += await merged_lines(ws, 1.5)  # what the window still held

    def of(container: str) -> list[dict[str, Any]]:
        return [line for line in lines if line["container"] == container and not line.get("marker")]

    late = of(lagging)
    numbers = [int(line["text"].split()[1]) for line in late]
    assert numbers == list(range(written)), "every lagging line comes, in its order"
    assert all(line.get("late") for line in late), "3 s behind a 0.5 s window: late"
    on_time = [line["time"] for line in of(punctual)]
    assert len(on_time) > 40
    assert not any(line.get("late") for line in of(punctual))
    assert on_time == sorted(on_time)


async def test_polling_a_merged_view_pages_every_line_in_time_order(
    docker_stack: DockerStack,
    containers: Containers,
    admin_token: str,
) -> None:
    run_counter(containers, "fast", 0.02)
    run_counter(containers, "slow", 0.2)
    params = {"label": f"vigil.test={containers.label}"}
    url = "/api/poll/channels/logs.merged"
    async with (
        docker_stack.up(merge_window_s=0.5, log_lease_s=1.5) as address,
        httpx.AsyncClient(
            base_url=f"http://{address}", headers={"Authorization": f"Bearer {admin_token}"}
        ) as http,
    ):
        first = await http.get(url, params=params)  # no line: where to start from
        assert first.status_code == 200, first.text
        assert first.json()["messages"] == []
        cursor, lines, pages = first.json()["next_cursor"], [], 0
        # each poll holds the sources' leases, so polling alone keeps the lines coming
        while len(counted(lines, "slow")) < 15:
            await asyncio.sleep(0.3)
            page = (await http.get(url, params=params | {"since": cursor, "limit": 40})).json()
            for message in page["messages"]:
                assert message["cursor"] == page["next_cursor"]
                lines += message["data"]["lines"]
            assert page["next_cursor"] >= cursor
            cursor, pages = page["next_cursor"], pages + 1
            assert pages < 100, "the lines should keep coming"
        bad = await http.get(url, params={"label": "a b"})
    times = [line["time"] for line in lines]
    assert times == sorted(times), "polled lines out of time order"
    for source in ("fast", "slow"):
        numbers = counted(lines, source)
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), source
    assert len(counted(lines, "fast")) > 40  # more than one page's worth: paged, not cut
    assert bad.status_code == 422
