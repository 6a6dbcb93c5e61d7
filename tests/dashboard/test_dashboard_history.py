"""The dashboard's charts with their history, in headless Chromium against the real
gateway, auth and history service: an hour of a host's and its containers' samples
written (as the collector publishes them) and rolled up before the page opens.

- the host's and a container's charts show the last hour on their first paint (the
  chart's own count of the points it drew, and its first point's time);
- the range picker asks the gateway for the range it shows; a page's charts share one
  crosshair, and a drag across one zooms to that stretch;
- the container table sorts by the range's peak and mean CPU, lists a container seen
  in the range and gone since, and that container's page draws its history."""

import itertools
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.browser import chromium, web_dist
from tests.dashboard.test_dashboard import WAIT_MS, sign_in
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
from tests.support import NatsServer, bus_client, host_sample, serve_gateway
from vigil.messages import HostMetricsSampled
from vigil_auth.app import AuthService
from vigil_gateway.settings import GatewaySettings

pytestmark = pytest.mark.timeout(150)

HOUR = 3600
EVERY_S = 10
WEB, DB, GONE = "0123456789ab", "d" * 12, "e" * 12


def host_at(at: float, cpu: float) -> HostMetricsSampled:
    return host_sample(cpu=cpu, memory=40.0, host=HOST).model_copy(
        update={"time": datetime.fromtimestamp(at, UTC)}
    )


def containers_at(i: int, gone_by: float = 0.0, at: float = 0.0) -> list[Container]:
    """web: 10 % with one 90 % peak (the 100th sample); db: 30 % throughout; gone: 50 %,
    until `gone_by`."""
    web = Container("web", WEB, 90.0 if i == 100 else 10.0, 100 << 20)
    db = Container("db", DB, 30.0, 200 << 20)
    gone = Container("gone", GONE, 50.0, 50 << 20)
    return [web, db] if at >= gone_by else [web, db, gone]


@pytest.fixture
async def an_hour_kept(
    nats_server: NatsServer, prefix: str, auth_service: AuthService
) -> AsyncIterator[float]:
    """The last hour and ten minutes of h1 and its containers (so the hour is full however
    long the setup takes), every 10 s, rolled up, then a sample now (the live
    snapshot); the history service running. Yields when `gone` was removed."""
    now = time.time()
    first = now - HOUR - 600
    times = [first + EVERY_S * i for i in range((HOUR + 600) // EVERY_S)]
    gone_by = now - HOUR / 2
    async with bus_client(nats_server, prefix) as bus:
        nats_server.provision(prefix)
        await write_samples(bus, [host_at(t, 20.0 + i % 30) for i, t in enumerate(times)])
        await write_samples(
            bus, [docker_sample(t, containers_at(i, gone_by, t)) for i, t in enumerate(times)]
        )
        async with run_history(history_settings_for(nats_server, prefix)):
            done = (int(times[-1]) // 60) * 60
            await rolled_up_to(bus, TIERS[1], done, kind="docker")
            await rolled_up_to(bus, TIERS[1], done, kind="host")
            await write_samples(bus, [host_at(time.time(), 25.0)])
            await write_samples(bus, [docker_sample(time.time(), containers_at(0))])
            yield gone_by


@pytest.fixture
async def dashboard(gateway_settings: GatewaySettings) -> AsyncIterator[tuple[Page, str]]:
    """A page of Chromium, and the address of the gateway serving the dashboard."""
    async with (
        serve_gateway(gateway_settings.model_copy(update={"web_dir": web_dist()})) as address,
        chromium() as browser,
    ):
        page = await browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(WAIT_MS)
        yield page, address


async def first_paint(page: Page, title: str, within: str = "") -> tuple[int, float, int]:
    """A chart's first paint with data: its points and first point's time; and its
    points now."""
    figure = page.locator(f"{within} [data-testid=chart][data-title='{title}']".strip()).first
    await expect(figure).to_have_attribute("data-first-points", re.compile(r"\d+"))
    points = int(await figure.get_attribute("data-first-points") or 0)
    start = float(await figure.get_attribute("data-first-time") or 0)
    now_points = int(await figure.get_attribute("data-points") or 0)
    return points, start, now_points


async def test_the_host_and_container_charts_show_the_last_hour_on_first_paint(
    an_hour_kept: float, dashboard: tuple[Page, str], tmp_path: Path
) -> None:
    page, address = dashboard
    async with page.expect_response(
        lambda r: f"/api/history/hosts/{HOST}?since=1h" in r.url
    ) as got:
        await sign_in(page, address)
    history = await (await got.value).json()
    kept = an_hour_covered(history)
    card = f"[data-testid=host-{HOST}]"
    points, start, _ = await first_paint(page, "CPU and memory %", card)
    assert points >= kept, f"the first paint drew {points} points, not the hour's {kept}"
    assert start == datetime.fromisoformat(history["entries"][0]["times"][0]).timestamp()
    for title in ("disk I/O", "network"):
        assert (await first_paint(page, title, card))[0] >= kept
    await page.screenshot(path=str(tmp_path / "host-history.png"), full_page=True)

    url = f"/api/history/docker/{HOST}/containers/{WEB}?since=1h"
    async with page.expect_response(lambda r: url in r.url) as got:
        await page.goto(f"http://{address}/#/containers/{HOST}/{WEB}")
    history = await (await got.value).json()
    kept = an_hour_covered(history)
    points, start, _ = await first_paint(page, "CPU %")
    assert points >= kept
    assert start == datetime.fromisoformat(history["entries"][0]["times"][0]).timestamp()
    assert (await first_paint(page, "memory"))[0] >= kept
    await page.screenshot(path=str(tmp_path / "container-history.png"), full_page=True)


def an_hour_covered(history: dict[str, Any]) -> int:
    """The answer's points, checked to cover its hour (from its start, a point every
    step, none missing); how many."""
    (entry,) = history["entries"]
    step = history["step_s"]
    times = [datetime.fromisoformat(t).timestamp() for t in entry["times"]]
    assert times[0] < datetime.fromisoformat(history["start"]).timestamp() + step
    assert len(times) >= HOUR // step
    assert all(b - a == step for a, b in itertools.pairwise(times))
    return len(times)


async def test_the_range_picker_asks_for_the_range_it_shows(
    an_hour_kept: float, dashboard: tuple[Page, str]
) -> None:
    page, address = dashboard
    await sign_in(page, address)
    await first_paint(page, "CPU and memory %")
    async with page.expect_response(
        lambda r: f"/api/history/hosts/{HOST}?since=15m" in r.url and r.ok
    ):
        await page.get_by_test_id("range-15m").click()
    figure = page.locator("[data-testid=chart][data-title='CPU and memory %']").first
    since = time.time() - 15 * 60
    await page.wait_for_function(
        "([f, since]) => parseFloat(f.dataset.start) >= since - 60",
        arg=[await figure.element_handle(), since],
    )
    quarter = int(await figure.get_attribute("data-points") or 0)
    assert quarter > 15 * 60 // EVERY_S - 5  # the quarter hour, at its finer step

    async with page.expect_response(
        lambda r: f"/api/history/hosts/{HOST}?since=6h" in r.url and r.ok
    ):
        await page.get_by_test_id("range-6h").click()
    await expect(page.get_by_test_id("range-picker")).to_have_attribute(
        "data-range", f"since:{6 * HOUR}"
    )

    # One crosshair: over the first chart, the second one's cursor shows too.
    charts = page.locator(f"[data-testid=host-{HOST}] [data-testid=chart] .u-over")
    box = await charts.first.bounding_box()
    assert box is not None
    await page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    await expect(page.locator(".u-cursor-x:not(.u-off)")).to_have_count(3)

    # A drag across a chart: that stretch becomes the range, asked by start and end.
    async with page.expect_response(
        lambda r: f"/api/history/hosts/{HOST}?start=" in r.url and "&end=" in r.url and r.ok
    ):
        await page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + 20)
        await page.mouse.down()
        await page.mouse.move(box["x"] + box["width"] * 0.7, box["y"] + 20, steps=5)
        await page.mouse.up()
    await expect(page.get_by_test_id("range-picker")).to_have_attribute(
        "data-range", re.compile(r"^between:")
    )
    start, end = (
        float(n)
        for n in (
            await page.get_by_test_id("range-picker").get_attribute("data-range") or ""
        ).split(":")[1:]
    )
    assert 0.15 * 6 * HOUR < end - start < 0.25 * 6 * HOUR  # a fifth of the 6 h shown


async def test_the_table_sorts_by_the_ranges_peak_and_mean_and_keeps_a_gone_container(
    an_hour_kept: float, dashboard: tuple[Page, str], tmp_path: Path
) -> None:
    page, address = dashboard
    await sign_in(page, address)
    await page.get_by_test_id("nav-containers").click()
    rows = page.get_by_test_id("container-row")
    await expect(rows).to_have_count(2)  # live: web and db
    async with page.expect_response(
        lambda r: f"/api/history/docker/{HOST}/containers?since=1h" in r.url and r.ok
    ):
        await page.get_by_test_id("table-range").select_option("1h")
    await expect(rows).to_have_count(3)  # and gone, seen in the range

    async def order() -> list[str]:
        names: list[str] = await rows.evaluate_all("rows => rows.map((r) => r.dataset.name)")
        return names

    await page.get_by_test_id("sort-cpu-peak").click()
    await expect(rows.first).to_have_attribute("data-name", "web")
    assert await order() == ["web", "gone", "db"]
    await page.get_by_test_id("sort-cpu-mean").click()
    await expect(rows.first).to_have_attribute("data-name", "gone")
    assert await order() == ["gone", "db", "web"]
    await page.get_by_test_id("sort-memory-peak").click()
    await expect(rows.first).to_have_attribute("data-name", "db")
    await page.screenshot(path=str(tmp_path / "table-by-peak.png"), full_page=True)

    url = f"/api/history/docker/{HOST}/containers/{GONE}?since=1h"
    async with page.expect_response(lambda r: url in r.url) as got:
        await page.locator("[data-testid=container-row][data-name=gone]").click()
    history = await (await got.value).json()
    (entry,) = history["entries"]
    start = datetime.fromisoformat(history["start"]).timestamp()
    assert len(entry["times"]) >= (an_hour_kept - start) // history["step_s"]  # until removed
    points, _, _ = await first_paint(page, "CPU %")
    assert points == len(entry["times"])
    await expect(page.get_by_test_id("status-badge").first).to_have_text("gone · history")
