"""The dashboard under load, in headless Chromium: 100 containers and a fast log.

Runs the real stack in this process (nats-server, auth, the gateway serving the built
dashboard, the collector on the real Docker engine) and measures, in the page, over
`--seconds` each:

- the container table with `--containers` synthetic containers (a stats batch of
  them every second, published on the bus as the collector would, plus the real ones);
- the log viewer of a real container printing `--lines-per-s` lines a second, until
  the viewer holds thousands of lines.

For each: frames drawn per second (requestAnimationFrame), the longest frame, long
tasks (> 50 ms, the browser's own count of main-thread jank), and the page's JS heap.
A smooth page draws ~60 frames a second with no long tasks.

    make web && uv run --all-packages python bench/dashboard.py [--seconds 10]
"""

import argparse
import asyncio
import sys
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playwright.async_api import Page

from tests.browser import chromium, web_dist
from tests.conftest import collector_settings_for
from tests.docker_engine import Containers, busybox_image
from tests.support import (
    NatsServer,
    auth_settings_for,
    bus_client,
    run_auth,
    run_collector,
    serve_gateway,
)
from vigil.busauth.permissions import ServiceRole
from vigil.messages import ContainerStats, DockerStatsSampled
from vigil_gateway.settings import GatewaySettings

PASSWORD = "bench-password"
MEASURE = """async (seconds) => {
  const longTasks = [];
  const observer = new PerformanceObserver((list) => longTasks.push(...list.getEntries()));
  observer.observe({ type: "longtask", buffered: false });
  let frames = 0, longest = 0, last = performance.now();
  const end = last + seconds * 1000;
  await new Promise((done) => {
    const tick = (now) => {
      frames += 1; longest = Math.max(longest, now - last); last = now;
      if (now < end) requestAnimationFrame(tick); else done();
    };
    requestAnimationFrame(tick);
  });
  observer.disconnect();
  return { fps: frames / seconds, longestFrameMs: longest, longTasks: longTasks.length,
           longTaskMs: longTasks.reduce((sum, t) => sum + t.duration, 0),
           heapMb: (performance.memory?.usedJSHeapSize ?? 0) / 1e6 };
}"""


def synthetic(count: int, tick: int) -> DockerStatsSampled:
    containers = [
        ContainerStats(
            id=f"{n:012x}",
            name=f"synthetic-{n:03d}",
            cpu_percent=(n * 7 + tick * 13) % 100 / 1.0,
            memory_usage=(n + tick) % 50 * 2**20,
            memory_limit=2**30,
            network_rx=tick * 1000,
            network_tx=tick * 500,
            image="bench/synthetic:1",
            state="running",
            memory_percent=(n + tick) % 50 / 10,
            network_rx_per_s=1000.0,
            network_tx_per_s=500.0,
            block_read=0,
            block_write=0,
            pids=1,
        )
        for n in range(count)
    ]
    return DockerStatsSampled(
        host="benchhost", time=datetime.now(UTC), interval_s=1.0, containers=containers
    )


async def feed_stats(nats: NatsServer, prefix: str, count: int) -> None:
    async with bus_client(nats, prefix) as bus:
        for tick in range(10_000):
            await bus.publish(bus.subjects.docker_metrics("benchhost"), synthetic(count, tick))
            await asyncio.sleep(1.0)


def show(what: str, figures: dict[str, Any]) -> None:
    print(
        f"{what:<40} {figures['fps']:5.1f} frames/s"
        f"  longest frame {figures['longestFrameMs']:6.1f} ms"
        f"  long tasks {figures['longTasks']:3d} ({figures['longTaskMs']:6.1f} ms)"
        f"  heap {figures['heapMb']:6.1f} MB"
    )


async def measure(page: Page, seconds: float) -> dict[str, Any]:
    figures: dict[str, Any] = await page.evaluate(MEASURE, seconds)
    return figures


async def main(args: argparse.Namespace) -> None:
    prefix = "bench" + uuid.uuid4().hex[:8]
    image = busybox_image()
    made = Containers(prefix, image)
    pause_us = int(1e6 / args.lines_per_s)
    talk = f"i=0; while true; do echo line $i level=info; i=$((i+1)); usleep {pause_us}; done"
    _, talker = made.run("talker", "sh", "-c", talk)
    with tempfile.TemporaryDirectory() as store:
        nats = NatsServer(store_dir=Path(store))
        nats.start()
        try:
            auth = auth_settings_for(nats, prefix, admin_password=PASSWORD)
            collector = collector_settings_for(nats, prefix, docker="on", docker_interval_s=1.0)
            gateway = GatewaySettings(
                **nats.service(ServiceRole.GATEWAY, prefix),
                web_dir=web_dist(),
                log_tail=0,
            )
            async with (
                run_auth(auth),
                run_collector(collector),
                serve_gateway(gateway) as address,
                chromium() as browser,
            ):
                feeder = asyncio.create_task(feed_stats(nats, prefix, args.containers))
                page = await browser.new_page(viewport={"width": 1400, "height": 900})
                await page.goto(f"http://{address}/")
                await page.fill("input[name=username]", "admin")
                await page.fill("input[name=password]", PASSWORD)
                await page.click("button[type=submit]")
                await page.get_by_test_id("nav-containers").click()
                await page.wait_for_function(
                    "n => document.querySelectorAll('[data-testid=container-row]').length > 20",
                    arg=args.containers,
                )
                show(
                    f"container table, {args.containers} containers",
                    await measure(page, args.seconds),
                )
                await page.get_by_test_id("filter-name").fill(talker)
                await page.locator(f"[data-testid=container-row][data-name={talker}]").click()
                show(f"log viewer, {args.lines_per_s} lines/s", await measure(page, args.seconds))
                count = await page.get_by_test_id("logs-count").text_content()
                print(f"log viewer held {count} after {args.seconds:g} s")
                feeder.cancel()
                await asyncio.gather(feeder, return_exceptions=True)
        finally:
            nats.stop()
            made.remove_all()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--containers", type=int, default=100)
    parser.add_argument("--lines-per-s", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=10.0)
    asyncio.run(main(parser.parse_args()))
