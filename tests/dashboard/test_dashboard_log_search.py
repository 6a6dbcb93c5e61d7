"""A container's log search asking the server, in headless Chromium against the real
stack (the collector on the local engine, the history service, the gateway serving the
built dashboard): lines the page no longer holds are found in the kept logs, newest
first, and the page's own filter still filters only what it holds."""

import re

import pytest
from playwright.async_api import expect

from tests.browser import chromium, screenshot, sign_in, web_dist
from tests.conftest import ADMIN_PASSWORD
from tests.deploy_support import TEST_HOST
from tests.docker_engine import Containers
from tests.docker_support import DockerStack
from tests.history_support import history_settings_for, run_history
from tests.support import NatsServer

pytestmark = pytest.mark.timeout(150)

WAIT_MS = 30_000  # generous: CI shares two cores with the whole stack
NEEDLES = (
    'i=0; while true; do i=$((i+1)); echo "hay $i";'
    ' [ $((i % 10)) = 0 ] && echo "needle $i"; sleep 0.05; done'
)


async def test_a_containers_search_asks_the_kept_logs_not_only_the_page(
    docker_stack: DockerStack, nats_server: NatsServer, prefix: str, containers: Containers
) -> None:
    short, _ = containers.run("needles", "sh", "-c", NEEDLES)
    async with (
        run_history(history_settings_for(nats_server, prefix)),
        docker_stack.up(web_dir=web_dist(), log_tail=5) as address,
        chromium() as browser,
    ):
        page = await browser.new_page(viewport={"width": 1400, "height": 900})
        await sign_in(page, address, "admin", ADMIN_PASSWORD)
        container_page = f"http://{address}/#/containers/{TEST_HOST}/{short}"
        await page.goto(container_page)
        # Followed for a while: the needles are kept as they come.
        await page.get_by_test_id("logs-search").fill("needle")
        needles = page.get_by_test_id("log-line")
        await expect(needles.nth(4)).to_be_visible(timeout=WAIT_MS)
        first = (await needles.first.text_content() or "").rsplit(" ", 1)[1]

        # Opened again, the page holds only the last few lines and what came since.
        await page.goto(f"http://{address}/#/")
        await page.goto(container_page)
        await expect(page.get_by_test_id("log-line").first).to_be_visible(timeout=WAIT_MS)
        await page.get_by_test_id("logs-search").fill("NEEDLE")
        on_page = await page.get_by_test_id("log-line").count()
        await page.get_by_test_id("logs-server-search").click()
        hits = page.get_by_test_id("server-hit")
        await expect(hits.filter(has_text=re.compile(rf"needle {first}$"))).to_have_count(
            1, timeout=WAIT_MS
        )
        found = await hits.all_text_contents()
        numbers = [int(text.rsplit(" ", 1)[1]) for text in found]
        assert numbers == sorted(numbers, reverse=True)  # newest first
        assert len(numbers) > on_page  # what the page no longer holds
        assert all(n % 10 == 0 for n in numbers)
        await expect(page.get_by_test_id("server-search-count")).to_contain_text("“NEEDLE” kept")

        # A hit clicked opens the lines around it: the hay before and after it, in order.
        middle = numbers[len(numbers) // 2]  # a hit kept before it and one after: 10 lines each
        await hits.filter(has_text=re.compile(rf"needle {middle}$")).click()
        around = page.get_by_test_id("around-line")
        await expect(around).to_have_count(21, timeout=WAIT_MS)
        said = [re.search(r"(hay|needle) \d+$", t) for t in await around.all_text_contents()]
        lines = [found.group(0) if found else None for found in said]
        hay = [f"hay {n}" for n in range(middle - 9, middle + 11)]
        assert lines == [*hay[:10], f"needle {middle}", *hay[10:]], lines
        await expect(page.locator(".server-around .hit")).to_have_text(f"needle {middle}")
        await screenshot(page, "log-search")

        # A search that finds nothing says so.
        await page.get_by_test_id("logs-search").fill("no such line at all")
        await page.get_by_test_id("logs-server-search").click()
        await expect(page.get_by_test_id("server-search-count")).to_contain_text(
            "0 lines with “no such line at all” kept", timeout=WAIT_MS
        )
